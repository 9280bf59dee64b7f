//! The modified Helmholtz (Yukawa) kernel `exp(-kappa r) / (4 pi r)` through the FMM: build
//! (per-level operators, from the cache on the second run), evaluate, and the error on 1000
//! sampled targets against the direct sum.
//!
//! ```text
//! cargo run --release --example yukawa [-- N KAPPA ORDER]     # default 1000000 20 6
//! ```
//!
//! Orders 4 to 8 are compiled in; charges are uniform in [-1, 1], points uniform in the unit
//! cube.

use std::time::Instant;

use oxifmm::points::{Distribution, charges, generate};
use oxifmm::{Expansion, Fmm, SupportedOrder, Yukawa};

fn run<const P: usize>(n: usize, kappa: f64) -> Result<(), oxifmm::Error>
where
    Expansion<P, 3>: SupportedOrder,
{
    let points = generate::<f64, 3>(Distribution::Uniform, n, 1);
    let q = charges::<f64>(n, 2);
    let kernel = Yukawa::new(kappa)?;
    let t0 = Instant::now();
    let fmm = Fmm::<Yukawa, P>::with_kernel(kernel)
        .sources(&points)
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
        "Yukawa kappa = {kappa}, N = {n}, p = {P}, {} threads: build {:.2} s, evaluate {:.2} s, \
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
    let kappa: f64 = arg(2, "20").parse().expect("KAPPA: a number");
    // The orders this example uses, spelled out rather than `oxifmm::with_order!` (all of
    // 2..=12): each order instantiates the whole evaluator, and CI compiles every example.
    match arg(3, "6").parse::<usize>().expect("ORDER: a number") {
        4 => run::<4>(n, kappa),
        5 => run::<5>(n, kappa),
        6 => run::<6>(n, kappa),
        7 => run::<7>(n, kappa),
        8 => run::<8>(n, kappa),
        p => panic!("order {p}: this example compiles orders 4 to 8"),
    }
}
