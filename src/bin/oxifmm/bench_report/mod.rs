//! `oxifmm bench-report`: operator times as a bar chart, the accuracy / memory / runtime table
//! over N, precision and distribution, and precomputation, tree and Morton timings, as
//! markdown.

mod measure;
mod svg;

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use oxifmm::fs::write_atomic;
use oxifmm::points::{Distribution, charges, generate};
use oxifmm::{CacheMode, Fmm, Helmholtz, Laplace, Yukawa};

use crate::cli::{Fail, Ui, init_threads};
use measure::{bench_case, bench_precompute, cpu_model, mib};
use oxifmm::Precision;
use svg::operators_svg;

/// The Yukawa screening constant of the report's table (the 1M-point target problem).
const YUKAWA_KAPPA: f64 = 20.0;
/// The Helmholtz wavenumber of the report's table (about 1.7 wavelengths across the unit cube).
const HELMHOLTZ_K: f64 = 10.0;

/// The kernels of the parameter table.
#[derive(Clone, Copy, Debug)]
enum Bench {
    Laplace,
    Yukawa,
    Helmholtz,
}

impl Bench {
    fn label(self) -> String {
        match self {
            Bench::Laplace => "Laplace".into(),
            Bench::Yukawa => format!("Yukawa kappa={YUKAWA_KAPPA}"),
            Bench::Helmholtz => format!("Helmholtz k={HELMHOLTZ_K}"),
        }
    }
}

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Directory for report.md and operators.svg (created if missing).
    #[arg(long, default_value = "bench-report")]
    pub out_dir: PathBuf,
    /// Small problem sizes (seconds instead of minutes), for a smoke test.
    #[arg(long)]
    pub quick: bool,
    /// Worker threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Sampled targets for the relative L2 error against the direct sum.
    #[arg(long)]
    pub samples: Option<usize>,
}

pub fn cmd_bench(a: &BenchArgs, ui: &Ui) -> Result<(), Fail> {
    use std::fmt::Write as _;
    use std::io::Write as _;
    init_threads(a.threads)?;
    std::fs::create_dir_all(&a.out_dir)
        .map_err(|e| Fail::Output(format!("cannot create {}: {e}", a.out_dir.display())))?;
    let report_path = a.out_dir.join("report.md");
    let svg_path = a.out_dir.join("operators.svg");
    // A fresh operator cache, removed at the end, also on failure.
    let cache_tmp = tempfile::Builder::new()
        .prefix("oxifmm-bench-cache-")
        .tempdir()
        .map_err(|e| Fail::Output(format!("cannot create a temporary cache directory: {e}")))?;
    let cache_dir = cache_tmp.path().to_path_buf();
    let cache = CacheMode::Dir(cache_dir.clone());
    let started = Instant::now();
    let (sizes, chart_n, tree_n, samples) = if a.quick {
        (
            vec![10_000, 50_000],
            50_000,
            100_000,
            a.samples.unwrap_or(200),
        )
    } else {
        (
            vec![100_000, 1_000_000],
            200_000,
            1_000_000,
            a.samples.unwrap_or(1000),
        )
    };
    let threads = rayon::current_num_threads();
    let mut md = String::new();
    let _ = writeln!(md, "# oxifmm benchmark report\n");
    let _ = writeln!(
        md,
        "3D: Laplace, Yukawa (kappa {YUKAWA_KAPPA}), Helmholtz (k {HELMHOLTZ_K}). Machine: {}, {} rayon threads. Command: `{}`.{}\n",
        cpu_model(),
        threads,
        std::env::args().collect::<Vec<_>>().join(" "),
        if a.quick {
            " **Quick mode: small sizes.**"
        } else {
            ""
        }
    );

    // (c) first: operator precomputation into a fresh cache directory, which (a) and (b)
    // then load from.
    let pb = ui.spinner("precomputing operators (p=6 f64, p=4 f32)");
    let (c6, l6) = bench_precompute::<6, f64>(&cache_dir)?;
    let (c4, l4) = bench_precompute::<4, f32>(&cache_dir)?;
    pb.set_message(format!(
        "tree construction and Morton encoding, N = {tree_n}"
    ));
    let mut tree_rows = Vec::new();
    for (name, dist) in [
        ("uniform", Distribution::Uniform),
        ("sphere", Distribution::Sphere),
    ] {
        let pts = generate::<f64, 3>(dist, tree_n, 42);
        let domain = oxifmm::Domain::from_points(&[&pts])?;
        let mut codes = Vec::new();
        let enc = oxifmm::bench_support::best_secs(3, || {
            codes = oxifmm::geometry::morton::encode_points(&domain, &pts)
        });
        std::hint::black_box(&codes);
        let mut leaves = 0;
        let opts = oxifmm::TreeOptions::adaptive(150, 16);
        let mut err = None;
        let tree = oxifmm::bench_support::best_secs(3, || {
            match oxifmm::LinearTree::build(&pts, None, &opts) {
                Ok(t) => leaves = t.leaves().len(),
                Err(e) => err = Some(e),
            }
        });
        if let Some(e) = err {
            return Err(e.into());
        }
        tree_rows.push((name, enc, tree, leaves));
    }
    pb.finish_and_clear();

    // (a) operator times for one benchmark problem.
    let pb = ui.spinner(format!("operator times: N = {chart_n} uniform, p = 6, f64"));
    // The first evaluation after build touches fresh memory; time the second.
    let chart = {
        let pts = generate::<f64, 3>(Distribution::Uniform, chart_n, 42);
        let q = charges::<f64>(chart_n, 43);
        let fmm = Fmm::<Laplace, 6, 3, f64>::builder()
            .sources(&pts)
            .max_points_per_leaf(150)
            .cache(cache.clone())
            .build()?;
        fmm.evaluate(&q)?;
        fmm.evaluate(&q)?;
        fmm.last_report().unwrap_or_default()
    };
    pb.finish_and_clear();
    let title =
        format!("oxifmm operator times: N = {chart_n} uniform, p = 6, f64, {threads} threads");
    operators_svg(&svg_path, &title, &chart.operators)?;
    let _ = writeln!(
        md,
        "## (a) Operator times\n\n{chart_n} uniform points, order 6, f64, leaf 150, {threads} \
         threads; second evaluation, wall {:.3} s (sort in/out {:.3} s). Times are CPU time \
         summed over threads.\n\n![operator times](operators.svg)\n\n| operator | ms (cpu) | share |\n|---|---:|---:|",
        chart.wall.as_secs_f64(),
        chart.sort.as_secs_f64()
    );
    let total: f64 = chart.operators.iter().map(|o| o.1.as_secs_f64()).sum();
    for (name, d) in &chart.operators {
        let _ = writeln!(
            md,
            "| {name} | {:.1} | {:.1} % |",
            d.as_secs_f64() * 1e3,
            100.0 * d.as_secs_f64() / total.max(1e-12)
        );
    }

    // (b) parameter table: Laplace on both distributions, the other kernels on uniform points.
    let settings: Vec<(Bench, usize, Distribution, Precision)> = sizes
        .iter()
        .flat_map(|&n| {
            let laplace = [Distribution::Uniform, Distribution::Sphere]
                .into_iter()
                .flat_map(move |d| {
                    [Precision::F64, Precision::F32].map(|p| (Bench::Laplace, n, d, p))
                });
            let others = [Bench::Yukawa, Bench::Helmholtz]
                .into_iter()
                .flat_map(move |k| {
                    [Precision::F64, Precision::F32].map(|p| (k, n, Distribution::Uniform, p))
                });
            laplace.chain(others)
        })
        .collect();
    let pb = ui.bar(settings.len() as u64);
    let mut rows = Vec::new();
    let yukawa = Yukawa::new(YUKAWA_KAPPA)?;
    let helmholtz = Helmholtz::new(HELMHOLTZ_K)?;
    for &(kernel, n, dist, prec) in &settings {
        let label = kernel.label();
        pb.set_message(format!("{label} N = {n} {dist:?} {prec:?}"));
        let row = match (kernel, prec) {
            (Bench::Laplace, Precision::F64) => {
                bench_case::<6, f64, _>(&Laplace, &label, n, dist, 150, samples, &cache)?
            }
            (Bench::Laplace, Precision::F32) => {
                bench_case::<4, f32, _>(&Laplace, &label, n, dist, 150, samples, &cache)?
            }
            (Bench::Yukawa, Precision::F64) => {
                bench_case::<7, f64, _>(&yukawa, &label, n, dist, 150, samples, &cache)?
            }
            (Bench::Yukawa, Precision::F32) => {
                bench_case::<4, f32, _>(&yukawa, &label, n, dist, 150, samples, &cache)?
            }
            (Bench::Helmholtz, Precision::F64) => {
                bench_case::<7, f64, _>(&helmholtz, &label, n, dist, 150, samples, &cache)?
            }
            (Bench::Helmholtz, Precision::F32) => {
                bench_case::<4, f32, _>(&helmholtz, &label, n, dist, 150, samples, &cache)?
            }
        };
        rows.push(row);
        pb.inc(1);
    }
    pb.finish_and_clear();
    let _ = writeln!(
        md,
        "\n## (b) Accuracy, memory and runtime\n\nRelative L2 error of the potential against the \
         direct sum (f64) at {samples} evenly spaced targets; charges uniform in [-1, 1]. Peak \
         RSS is the growth of the process's VmHWM over its resident size at the start of the \
         setting (reset with `/proc/self/clear_refs`): points, charges, FMM and results; \
         \"FMM MiB\" is what `build_report()` counts (tree, lists, operators, workspace). \
         Build includes loading operators from the cache (Yukawa and Helmholtz have operators \
         per level: a first build computes them, the timed second one loads them). Helmholtz \
         charges are complex, real and imaginary parts in [-1, 1].\n\n\
         | kernel | N | distribution | precision | order | leaf | build (s) | evaluate (s) | rel. L2 error | peak RSS growth (MiB) | FMM (MiB) | M2L share | P2P share |\n\
         |---|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for r in &rows {
        let tot: f64 = r
            .ops
            .iter()
            .map(|o| o.1.as_secs_f64())
            .sum::<f64>()
            .max(1e-12);
        let share = |name: &str| {
            r.ops
                .iter()
                .find(|o| o.0 == name)
                .map_or(0.0, |o| 100.0 * o.1.as_secs_f64() / tot)
        };
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {:.3} | {:.3} | {:.2e} | {} | {:.1} | {:.0} % | {:.0} % |",
            r.kernel,
            r.n,
            r.dist,
            r.precision,
            r.order,
            r.leaf,
            r.build,
            r.eval,
            r.error,
            r.peak_rss
                .map_or("n/a".to_string(), |b| format!("{:.0}", mib(b))),
            mib(r.fmm_bytes as u64),
            share("M2L"),
            share("P2P"),
        );
    }

    let _ = writeln!(
        md,
        "\n## (c) Precomputation, tree construction, Morton encoding\n\n\
         Operators (Laplace 3D) computed into an empty cache directory and saved, then loaded \
         again (memory-mapped, checksummed):\n\n\
         | setting | compute + save (s) | load (s) |\n|---|---:|---:|\n\
         | p = 6, f64 | {c6:.3} | {l6:.4} |\n| p = 4, f32 | {c4:.3} | {l4:.4} |\n\n\
         Tree construction (adaptive, 150 points per leaf, 2:1 balanced, sources = targets) \
         and Morton encoding of {tree_n} points, f64, best of 3:\n\n\
         | distribution | Morton encode (ms) | M points/s | tree build (ms) | leaves |\n|---|---:|---:|---:|---:|"
    );
    for (name, enc, tree, leaves) in &tree_rows {
        let _ = writeln!(
            md,
            "| {name} | {:.2} | {:.1} | {:.1} | {leaves} |",
            enc * 1e3,
            tree_n as f64 / enc / 1e6,
            tree * 1e3
        );
    }
    let _ = writeln!(
        md,
        "\nTotal bench-report time: {:.1} s.",
        started.elapsed().as_secs_f64()
    );
    write_atomic(
        &report_path,
        |e| Fail::Output(format!("cannot write {}: {e}", report_path.display())),
        |file, _| {
            file.write_all(md.as_bytes())
                .map_err(|e| Fail::Output(format!("cannot write {}: {e}", report_path.display())))
        },
    )?;
    ui.say(&md);
    ui.say(format!(
        "wrote {} and {}",
        report_path.display(),
        svg_path.display()
    ));
    Ok(())
}
