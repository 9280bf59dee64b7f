//! Measures the table behind `eps` (`oxifmm::plan_for_eps`) and writes it to
//! `src/fmm/eps_table.rs`: for every shipped kernel, dimension, precision, order and M2L
//! tolerance step, the smallest and largest relative L2 error of the potential over uniform,
//! sphere and clustered points (`oxifmm::measured_error`).
//!
//! ```text
//! cargo run --release --example eps_table [-- N]     # N = 20000 points per set by default
//! cargo run --release --example eps_table -- check   # the delivered errors per eps (README)
//! cargo run --release --example eps_table -- N helmholtz f32   # some cases: rows to stdout
//! ```
//!
//! 150 points per leaf; default operator parameters but for the M2L tolerance, which takes
//! `oxifmm::TOLERANCE_STEPS` times its default (one step where the M2L is the FFT, which
//! has no tolerance); Yukawa at kappa = 20 and Helmholtz at k = 10
//! in the unit cube; the error on 2000 evenly spaced targets. The orders of a case stop once
//! the error no longer falls (the precision's floor). Operators are cached in a temporary
//! directory, one per case, removed after it (the per-level operators of Yukawa and Helmholtz
//! at p = 9, 10 take about a gigabyte per point set and tolerance). About 45 minutes on two
//! cores.

use std::io::Write as _;

use oxifmm::points::Distribution;
use oxifmm::{
    Accuracy, AnyKernel, CacheMode, FmmConfig, Helmholtz, M2l, OperatorParams, Precision,
    TOLERANCE_STEPS, Yukawa, measured_error,
};

/// Prints, as a Markdown table, the plan and the delivered error on each point set for the
/// `eps` values the README lists (the measurement of `tests/eps.rs`).
fn check() -> Result<(), oxifmm::Error> {
    let dists = [
        Distribution::Uniform,
        Distribution::Sphere,
        Distribution::Clusters,
    ];
    println!("| case | eps | order | M2L tolerance | uniform | sphere | clusters |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let decades = |a: i32, b: i32| (a..=b).map(|k| 10f64.powi(-k)).collect::<Vec<_>>();
    let yukawa = AnyKernel::Yukawa(Yukawa::new(20.0)?);
    let helmholtz = AnyKernel::Helmholtz(Helmholtz::new(10.0)?);
    let cases = [
        (AnyKernel::Laplace, 3, Precision::F64, decades(3, 10)),
        (AnyKernel::Laplace, 2, Precision::F64, decades(3, 10)),
        (AnyKernel::Laplace, 3, Precision::F32, decades(2, 5)),
        (AnyKernel::Laplace, 2, Precision::F32, decades(2, 5)),
        (yukawa, 3, Precision::F64, decades(3, 8)),
        (helmholtz, 3, Precision::F64, decades(3, 8)),
        (yukawa, 3, Precision::F32, decades(2, 4)),
        (helmholtz, 3, Precision::F32, decades(2, 4)),
    ];
    for (kernel, dim, precision, epss) in cases {
        let cache = tempfile::tempdir().map_err(|e| oxifmm::Error::Io {
            path: std::env::temp_dir(),
            source: e,
        })?;
        for eps in epss {
            let case = format!("{} {dim}D {}", kernel.name(), precision.name());
            let plan = match oxifmm::plan_for_eps(&kernel, dim, precision, eps) {
                Ok(plan) => plan,
                Err(_) => {
                    println!("| {case} | {eps:.0e} | refused: below the floor | | | | |");
                    continue;
                }
            };
            let config = FmmConfig {
                kernel,
                accuracy: Accuracy::Eps(eps),
                precision: Some(precision),
                cache: CacheMode::Dir(cache.path().to_path_buf()),
                ..FmmConfig::default()
            };
            let mut cells = String::new();
            for dist in dists {
                let e = measured_error(&config, dim, dist, 20_000, 2000)?;
                let mark = if e > eps || e < eps / 10.0 { " *" } else { "" };
                cells.push_str(&format!(" {e:.1e}{mark} |"));
            }
            println!(
                "| {case} | {eps:.0e} | {} | {:.0e} |{cells}",
                plan.order, plan.params.m2l_tolerance
            );
        }
    }
    Ok(())
}

fn main() -> Result<(), oxifmm::Error> {
    env_logger::init();
    if std::env::args().nth(1).as_deref() == Some("check") {
        return check();
    }
    let n: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse().expect("N: a number of points"))
        .unwrap_or(20_000);
    let yukawa = AnyKernel::Yukawa(Yukawa::new(20.0)?);
    let helmholtz = AnyKernel::Helmholtz(Helmholtz::new(10.0)?);
    // (kernel, dim, precision, highest order tried)
    let cases = [
        (AnyKernel::Laplace, 3, Precision::F64, 11),
        (AnyKernel::Laplace, 3, Precision::F32, 8),
        (AnyKernel::Laplace, 2, Precision::F64, 12),
        (AnyKernel::Laplace, 2, Precision::F32, 8),
        (yukawa, 3, Precision::F64, 10),
        (yukawa, 3, Precision::F32, 8),
        (helmholtz, 3, Precision::F64, 10),
        (helmholtz, 3, Precision::F32, 8),
    ];
    let dists = [
        Distribution::Uniform,
        Distribution::Sphere,
        Distribution::Clusters,
    ];
    // Words after N keep the cases whose label (`helmholtz 3D f32`) holds them all.
    let filters: Vec<String> = std::env::args().skip(2).collect();
    let mut rows = String::new();
    for (kernel, dim, precision, max_order) in cases {
        let label = format!("{} {dim}D {}", kernel.name(), precision.name());
        if !filters.iter().all(|f| label.contains(f.as_str())) {
            continue;
        }
        let cache = tempfile::tempdir().map_err(|e| oxifmm::Error::Io {
            path: std::env::temp_dir(),
            source: e,
        })?;
        let mut best = f64::INFINITY;
        let mut stalled = 0;
        for order in 2..=max_order {
            let defaults = OperatorParams::defaults(order, precision.epsilon());
            let mut base_worst = f64::INFINITY;
            let fft = M2l::Auto.resolve(dim, order, precision, kernel.is_complex()) == M2l::Fft;
            let steps = if fft {
                &TOLERANCE_STEPS[..1]
            } else {
                &TOLERANCE_STEPS[..]
            };
            for &step in steps {
                let params = OperatorParams {
                    m2l_tolerance: step * defaults.m2l_tolerance,
                    ..defaults
                };
                let config = FmmConfig {
                    kernel,
                    accuracy: Accuracy::Order(order),
                    precision: Some(precision),
                    operator_params: Some(params),
                    cache: CacheMode::Dir(cache.path().to_path_buf()),
                    ..FmmConfig::default()
                };
                let (mut lo, mut hi) = (f64::INFINITY, 0.0f64);
                for dist in dists {
                    let e = measured_error(&config, dim, dist, n, 2000)?;
                    (lo, hi) = (lo.min(e), hi.max(e));
                }
                eprintln!(
                    "{} {dim}D {} p = {order}, m2l tolerance {:.1e}: {lo:.2e} .. {hi:.2e}",
                    kernel.name(),
                    precision.name(),
                    params.m2l_tolerance
                );
                std::io::stderr().flush().ok();
                rows.push_str(&format!(
                    "    EpsRow {{ kernel: {:?}, dim: {dim}, precision: Precision::{:?}, order: {order}, \
                     m2l_tolerance: {:.1e}, min_error: {lo:.2e}, max_error: {hi:.2e} }},\n",
                    kernel.name(),
                    precision,
                    params.m2l_tolerance
                ));
                if step == TOLERANCE_STEPS[0] {
                    base_worst = hi;
                }
            }
            // Past the precision's floor more order buys nothing.
            if base_worst > 0.5 * best {
                stalled += 1;
                if stalled == 2 {
                    break;
                }
            } else {
                stalled = 0;
            }
            best = best.min(base_worst);
        }
    }
    if !filters.is_empty() {
        print!("{rows}");
        return Ok(());
    }
    let text = format!(
        "// Generated by `cargo run --release --example eps_table -- {n}`; do not edit by hand.\n\
         // Smallest and largest relative L2 error of the potential over uniform, sphere and\n\
         // clustered points, {n} points each, 150 per leaf, Yukawa kappa = 20, Helmholtz k = 10,\n\
         // unit cube; per order the M2L tolerance at 1, 3 and 10 times its default.\n\
         pub(crate) const EPS_TABLE: &[EpsRow] = &[\n{rows}];\n"
    );
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/fmm/eps_table.rs");
    oxifmm::fs::write_atomic(
        &path,
        |e| oxifmm::Error::Io {
            path: path.clone(),
            source: e,
        },
        |f, _| {
            f.write_all(text.as_bytes()).map_err(|e| oxifmm::Error::Io {
                path: path.clone(),
                source: e,
            })
        },
    )?;
    println!("wrote {}", path.display());
    Ok(())
}
