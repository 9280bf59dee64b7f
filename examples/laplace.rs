//! The main job: an FMM over N points, with its report and its error against the direct sum.
//!
//! ```text
//! cargo run --release --example laplace -- [--n 1000000] [--dist uniform|sphere|clusters]
//!     [--order 6] [--precision f64|f32] [--leaf 150] [--gradients] [--threads T] [--dim 3|2]
//!     [--samples 1000] [--no-cache]
//! ```

use std::time::Instant;

use oxifmm::points::{Distribution, charges, generate, positive_charges};
use oxifmm::{CacheMode, Fmm, Kernel, Laplace, M2l, Real};
use rayon::prelude::*;

struct Args {
    n: usize,
    dist: Distribution,
    order: usize,
    precision: String,
    leaf: usize,
    gradients: bool,
    threads: Option<usize>,
    dim: usize,
    samples: usize,
    cache: CacheMode,
    m2l_tol: Option<f64>,
    pinv_tol: Option<f64>,
    alpha_inner: Option<f64>,
    alpha_outer: Option<f64>,
    positive: bool,
    m2l: M2l,
}

fn parse() -> Result<Args, String> {
    let mut a = Args {
        n: 1_000_000,
        dist: Distribution::Uniform,
        order: 6,
        precision: "f64".into(),
        leaf: 150,
        gradients: false,
        threads: None,
        dim: 3,
        samples: 1000,
        cache: CacheMode::Default,
        m2l_tol: None,
        pinv_tol: None,
        alpha_inner: None,
        alpha_outer: None,
        positive: false,
        m2l: M2l::Auto,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match flag.as_str() {
            "--n" => a.n = val("--n")?.parse().map_err(|e| format!("--n: {e}"))?,
            "--dist" => a.dist = val("--dist")?.parse()?,
            "--order" => {
                a.order = val("--order")?
                    .parse()
                    .map_err(|e| format!("--order: {e}"))?
            }
            "--precision" => a.precision = val("--precision")?,
            "--leaf" => a.leaf = val("--leaf")?.parse().map_err(|e| format!("--leaf: {e}"))?,
            "--threads" => {
                a.threads = Some(
                    val("--threads")?
                        .parse()
                        .map_err(|e| format!("--threads: {e}"))?,
                )
            }
            "--dim" => a.dim = val("--dim")?.parse().map_err(|e| format!("--dim: {e}"))?,
            "--samples" => {
                a.samples = val("--samples")?
                    .parse()
                    .map_err(|e| format!("--samples: {e}"))?
            }
            "--m2l-tol" => {
                a.m2l_tol = Some(
                    val("--m2l-tol")?
                        .parse()
                        .map_err(|e| format!("--m2l-tol: {e}"))?,
                )
            }
            "--pinv-tol" => {
                a.pinv_tol = Some(
                    val("--pinv-tol")?
                        .parse()
                        .map_err(|e| format!("--pinv-tol: {e}"))?,
                )
            }
            "--alpha-inner" => {
                a.alpha_inner = Some(
                    val("--alpha-inner")?
                        .parse()
                        .map_err(|e| format!("--alpha-inner: {e}"))?,
                )
            }
            "--alpha-outer" => {
                a.alpha_outer = Some(
                    val("--alpha-outer")?
                        .parse()
                        .map_err(|e| format!("--alpha-outer: {e}"))?,
                )
            }
            "--gradients" => a.gradients = true,
            "--positive" => a.positive = true,
            "--m2l" => {
                a.m2l = match val("--m2l")?.as_str() {
                    "svd" => M2l::Svd,
                    "fft" => M2l::Fft,
                    "auto" => M2l::Auto,
                    other => {
                        return Err(format!("--m2l: unknown backend `{other}` (svd, fft, auto)"));
                    }
                }
            }
            "--no-cache" => a.cache = CacheMode::Off,
            "--help" | "-h" => {
                println!(
                    "{}",
                    include_str!("laplace.rs")
                        .lines()
                        .skip(2)
                        .take(6)
                        .collect::<Vec<_>>()
                        .join("\n")
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument `{other}` (try --help)")),
        }
    }
    Ok(a)
}

fn run<const P: usize, const D: usize, T: Real>(a: &Args) -> Result<(), Box<dyn std::error::Error>>
where
    Laplace: Kernel<D, Value<T> = T> + Kernel<D, Value<f64> = f64>,
    oxifmm::Expansion<P, D>: oxifmm::SupportedOrder,
{
    let points = generate::<T, D>(a.dist, a.n, 42);
    let q = if a.positive {
        // Charges in [0, 1] instead of [-1, 1].
        positive_charges::<T>(a.n, 7)
    } else {
        charges::<T>(a.n, 7)
    };
    println!(
        "oxifmm: Laplace {D}D, N = {}, {:?}, order {P}, {}, leaf {}, gradients {}, threads {}",
        a.n,
        a.dist,
        T::PRECISION.name(),
        a.leaf,
        a.gradients,
        a.threads.unwrap_or_else(rayon::current_num_threads)
    );
    let t0 = Instant::now();
    let mut b = Fmm::<Laplace, P, D, T>::builder()
        .sources(&points)
        .max_points_per_leaf(a.leaf)
        .gradients(a.gradients)
        .cache(a.cache.clone())
        .m2l(a.m2l);
    if let Some(t) = a.threads {
        b = b.threads(t);
    }
    let mut prm = oxifmm::OperatorParams::defaults(P, T::EPSILON.to_f64());
    if let Some(t) = a.m2l_tol {
        prm.m2l_tolerance = t;
    }
    if let Some(t) = a.pinv_tol {
        prm.pinv_tolerance = t;
    }
    if let Some(x) = a.alpha_inner {
        prm.alpha_inner = x;
    }
    if let Some(x) = a.alpha_outer {
        prm.alpha_outer = x;
    }
    b = b.operator_params(prm);
    let fmm = b.build()?;
    let build = t0.elapsed();
    println!(
        "\n-- build: {:.3} s\n{}",
        build.as_secs_f64(),
        fmm.build_report()
    );
    let t0 = Instant::now();
    let out = fmm.evaluate(&q)?;
    let eval = t0.elapsed();
    println!("\n-- {}", fmm.last_report().unwrap());
    println!(
        "throughput: {:.2} M points/s (evaluate {:.3} s)",
        a.n as f64 / eval.as_secs_f64() / 1e6,
        eval.as_secs_f64()
    );

    if let Some(hwm) = peak_rss_mib() {
        println!("peak resident memory (VmHWM): {hwm:.0} MiB");
    }

    // Error against the direct sum on sampled targets (f64 reference).
    let m = a.samples.min(a.n);
    let stride = (a.n / m).max(1);
    let idx: Vec<usize> = (0..m).map(|i| i * stride).collect();
    let src64: [Vec<f64>; D] =
        std::array::from_fn(|k| points.iter().map(|p| p[k].to_f64()).collect());
    let q64: Vec<f64> = q.iter().map(|x| x.to_f64()).collect();
    let n_out = if a.gradients { 1 + D } else { 1 };
    let t0 = Instant::now();
    let exact: Vec<Vec<f64>> = idx
        .par_iter()
        .map(|&i| {
            let t: [Vec<f64>; D] = std::array::from_fn(|k| vec![points[i][k].to_f64()]);
            let mut o = vec![0.0; n_out];
            <Laplace as Kernel<D>>::p2p::<f64>(
                &Laplace,
                std::array::from_fn(|k| src64[k].as_slice()),
                &q64,
                std::array::from_fn(|k| t[k].as_slice()),
                &mut o,
                a.gradients,
            );
            o
        })
        .collect();
    let (mut num, mut den, mut gnum, mut gden) = (0.0, 0.0, 0.0, 0.0);
    for (j, &i) in idx.iter().enumerate() {
        let e = &exact[j];
        num += (out.potentials[i].to_f64() - e[0]).powi(2);
        den += e[0] * e[0];
        if a.gradients {
            for k in 0..D {
                gnum += (out.gradients[i][k].to_f64() - e[1 + k]).powi(2);
                gden += e[1 + k] * e[1 + k];
            }
        }
    }
    println!(
        "relative L2 error vs direct sum on {m} targets: potential {:.3e}{} (direct: {:.2} s)",
        (num / den).sqrt(),
        if a.gradients {
            format!(", gradient {:.3e}", (gnum / gden).sqrt())
        } else {
            String::new()
        },
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Peak resident set size of this process, from /proc (Linux only).
fn peak_rss_mib() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn main() {
    // Library warnings (an unusable operator cache, say) go through the `log` facade.
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn"))
        .format_target(false)
        .init();
    let a = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    // The run-time order and dimension become const generics once, here, over the library's
    // one list of supported orders.
    let (dim, order) = (a.dim, a.order);
    let r = match a.precision.as_str() {
        "f64" => oxifmm::with_order!(dim, order, |P, D| run::<P, D, f64>(&a)),
        "f32" => oxifmm::with_order!(dim, order, |P, D| run::<P, D, f32>(&a)),
        p => Some(Err(
            format!("unsupported --precision {p} (f64 or f32)").into()
        )),
    }
    .unwrap_or_else(|| {
        Err(format!(
            "unsupported --dim {dim} / --order {order} (supported: {})",
            oxifmm::order::SUPPORTED_ORDERS
        )
        .into())
    });
    if let Err(e) = r {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
