//! Measures the table behind `eps` (`oxifmm::order_for_eps`) and writes it to
//! `src/fmm/eps_table.rs`: for every shipped kernel, dimension, precision and order, the worst
//! relative L2 error of the potential against the direct sum over uniform, sphere and
//! clustered points.
//!
//! ```text
//! cargo run --release --example eps_table [-- N]     # N = 20000 points per set by default
//! ```
//!
//! Charges have parts uniform in [-1, 1]; 150 points per leaf; default operator parameters;
//! Yukawa at kappa = 20 and Helmholtz at k = 10 in the unit cube; the error on 2000 evenly
//! spaced targets. The orders of a case stop once the error no longer falls (the precision's
//! floor). Operators go through the default operator cache.

use std::io::Write as _;

use oxifmm::points::{Distribution, generate, values};
use oxifmm::{
    Accuracy, AnyKernel, Complex, Coords, DynFmm, FmmConfig, Helmholtz, Laplace, Precision, Value,
    Values, Yukawa, direct, relative_l2,
};

/// The error of one (kernel, dimension, precision, order, distribution). The points and
/// charges are made in f64 and handed to the FMM as they are (it converts them to the
/// precision of the run); the reference is the direct sum in f64.
fn error(
    kernel: AnyKernel,
    dim: usize,
    precision: Precision,
    order: usize,
    dist: Distribution,
    n: usize,
) -> Result<f64, oxifmm::Error> {
    let config = FmmConfig {
        kernel,
        accuracy: Accuracy::Order(order),
        precision: Some(precision),
        ..FmmConfig::default()
    };
    let m = 2000.min(n);
    let picked: Vec<usize> = (0..m).map(|i| i * n / m).collect();
    let q = values::<f64>(n, 2);
    let qc = values::<Complex<f64>>(n, 2);
    let (flat, reference): (Vec<f64>, Vec<f64>) = if dim == 3 {
        let pts = generate::<f64, 3>(dist, n, 1);
        let tgt: Vec<[f64; 3]> = picked.iter().map(|&i| pts[i]).collect();
        let reference = match kernel {
            AnyKernel::Laplace => direct(&Laplace, &pts, &q, &tgt, false)?,
            AnyKernel::Yukawa(y) => direct(&y, &pts, &q, &tgt, false)?,
            AnyKernel::Helmholtz(h) => {
                Value::as_reals(&direct(&h, &pts, &qc, &tgt, false)?).to_vec()
            }
        };
        (pts.as_flattened().to_vec(), reference)
    } else {
        let pts = generate::<f64, 2>(dist, n, 1);
        let tgt: Vec<[f64; 2]> = picked.iter().map(|&i| pts[i]).collect();
        let reference = direct(&Laplace, &pts, &q, &tgt, false)?;
        (pts.as_flattened().to_vec(), reference)
    };
    let fmm = DynFmm::build(&config, dim, Coords::F64(&flat), None)?;
    let charges = if kernel.is_complex() {
        Values::C64(&qc)
    } else {
        Values::F64(&q)
    };
    let reals = fmm.evaluate(charges)?.potentials.to_f64_reals();
    let width = if kernel.is_complex() { 2 } else { 1 };
    let got: Vec<f64> = picked
        .iter()
        .flat_map(|&i| reals[i * width..(i + 1) * width].to_vec())
        .collect();
    relative_l2(&got, &reference)
}

fn main() -> Result<(), oxifmm::Error> {
    env_logger::init();
    let n: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse().expect("N: a number of points"))
        .unwrap_or(20_000);
    let yukawa = AnyKernel::Yukawa(Yukawa::new(20.0)?);
    let helmholtz = AnyKernel::Helmholtz(Helmholtz::new(10.0)?);
    // (kernel, dim, precision, highest order tried)
    let cases = [
        (AnyKernel::Laplace, 3, Precision::F64, 12),
        (AnyKernel::Laplace, 3, Precision::F32, 8),
        (AnyKernel::Laplace, 2, Precision::F64, 16),
        (AnyKernel::Laplace, 2, Precision::F32, 10),
        (yukawa, 3, Precision::F64, 10),
        (yukawa, 3, Precision::F32, 7),
        (helmholtz, 3, Precision::F64, 10),
        (helmholtz, 3, Precision::F32, 7),
    ];
    let dists = [
        Distribution::Uniform,
        Distribution::Sphere,
        Distribution::Clusters,
    ];
    let mut rows = String::new();
    for (kernel, dim, precision, max_order) in cases {
        let mut best = f64::INFINITY;
        let mut stalled = 0;
        for order in 2..=max_order {
            let mut worst: f64 = 0.0;
            for dist in dists {
                worst = worst.max(error(kernel, dim, precision, order, dist, n)?);
            }
            eprintln!(
                "{} {dim}D {} p = {order}: {worst:.2e}",
                kernel.name(),
                precision.name()
            );
            std::io::stderr().flush().ok();
            rows.push_str(&format!(
                "    EpsRow {{ kernel: {:?}, dim: {dim}, precision: Precision::{:?}, order: {order}, error: {worst:.2e} }},\n",
                kernel.name(),
                precision
            ));
            // Past the precision's floor more order buys nothing.
            if worst > 0.5 * best {
                stalled += 1;
                if stalled == 2 {
                    break;
                }
            } else {
                stalled = 0;
            }
            best = best.min(worst);
        }
    }
    let text = format!(
        "// Generated by `cargo run --release --example eps_table -- {n}`; do not edit by hand.\n\
         // Worst relative L2 error of the potential over uniform, sphere and clustered points,\n\
         // {n} points each, 150 per leaf, Yukawa kappa = 20, Helmholtz k = 10, unit cube.\n\
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
