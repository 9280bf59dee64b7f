//! The Helmholtz kernel `exp(i k r) / (4 pi r)` through the FMM, complex charges: build
//! (per-level operators, from the cache on the second run), evaluate, and the error on 1000
//! sampled targets against the direct sum.
//!
//! ```text
//! cargo run --release --example helmholtz [-- N K ORDER [IM_K [M2L]]]  # default 1000000 10 7 0 auto
//! ```
//!
//! Orders 4 to 10 are compiled in; charges have real and imaginary parts uniform in [-1, 1],
//! points are uniform in the unit cube (about `K / 2 pi` wavelengths across). `M2L` is the
//! backend: `auto` (the default), `svd` or `fft`. The build warns when the boxes are too many
//! wavelengths across for the order.

use std::time::Instant;

use oxifmm::points::{Distribution, generate, values};
use oxifmm::{Complex, Expansion, Fmm, Helmholtz, M2l, SupportedOrder};

fn run<const P: usize>(n: usize, k: Complex<f64>, m2l: M2l) -> Result<(), oxifmm::Error>
where
    Expansion<P, 3>: SupportedOrder,
{
    let points = generate::<f64, 3>(Distribution::Uniform, n, 1);
    let q = values::<Complex<f64>>(n, 2);
    let kernel = Helmholtz::complex(k)?;
    let t0 = Instant::now();
    let fmm = Fmm::<Helmholtz, P>::with_kernel(kernel)
        .sources(&points)
        .m2l(m2l)
        .build()?;
    let t_build = t0.elapsed();
    let t0 = Instant::now();
    let phi = fmm.evaluate(&q)?.potentials;
    let t_eval = t0.elapsed();
    println!("{}", fmm.build_report());
    if let Some(r) = fmm.last_report() {
        println!("{r}");
    }
    let err = oxifmm::sampled_error(&kernel, &points, &q, &points, &phi, 1000)?;
    println!(
        "Helmholtz k = {k}, N = {n}, p = {P}, M2L {m2l:?}, {} threads: build {:.2} s, evaluate {:.2} s, \
         build + evaluate {:.2} s; relative L2 error (1000 targets) {:.2e}",
        rayon::current_num_threads(),
        t_build.as_secs_f64(),
        t_eval.as_secs_f64(),
        (t_build + t_eval).as_secs_f64(),
        err
    );
    Ok(())
}

fn main() -> Result<(), oxifmm::Error> {
    env_logger::init();
    let arg = |i: usize, default: &str| std::env::args().nth(i).unwrap_or(default.to_string());
    let n: usize = arg(1, "1000000").parse().expect("N: a number of points");
    let k_re: f64 = arg(2, "10").parse().expect("K: a number");
    let order: usize = arg(3, "7").parse().expect("ORDER: a number");
    let k_im: f64 = arg(4, "0").parse().expect("IM_K: a number");
    let k = Complex::new(k_re, k_im);
    let m2l = match arg(5, "auto").as_str() {
        "auto" => M2l::Auto,
        "svd" => M2l::Svd,
        "fft" => M2l::Fft,
        other => panic!("M2L {other:?}: auto, svd or fft"),
    };
    // The orders this example uses, spelled out rather than `oxifmm::with_order!` (all of
    // 2..=12): each order instantiates the whole evaluator, and CI compiles every example.
    match order {
        4 => run::<4>(n, k, m2l),
        5 => run::<5>(n, k, m2l),
        6 => run::<6>(n, k, m2l),
        7 => run::<7>(n, k, m2l),
        8 => run::<8>(n, k, m2l),
        9 => run::<9>(n, k, m2l),
        10 => run::<10>(n, k, m2l),
        p => panic!("order {p}: this example compiles orders 4 to 10"),
    }
}
