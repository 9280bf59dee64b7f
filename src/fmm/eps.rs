//! The accuracy knob: the cheapest plan (expansion order and M2L tolerance) that meets a
//! relative error `eps`, from a table of measured errors that the project ships
//! (`eps_table.rs`, written by `cargo run --release --example eps_table`), and the
//! measurement behind that table ([`measured_error`]).

use crate::error::{Error, Result};
use crate::operators::OperatorParams;
use crate::points::{Distribution, generate, values};
use crate::scalar::{Complex, Precision};

use super::runtime::{AnyKernel, Coords, DynFmm, FmmConfig, Values, direct_any};

/// One measured row: for a kernel, dimension, precision, order and M2L tolerance (other
/// operator parameters the defaults, 150 points per leaf), the smallest and the largest
/// relative L2 error of the potential over uniform, sphere and clustered points.
#[derive(Clone, Copy, Debug)]
pub(crate) struct EpsRow {
    pub kernel: &'static str,
    pub dim: usize,
    pub precision: Precision,
    pub order: usize,
    pub m2l_tolerance: f64,
    pub min_error: f64,
    pub max_error: f64,
}

include!("eps_table.rs");

/// The multiples of the default M2L tolerance that the table measures for every order: a
/// looser compression is cheaper and fills the error gaps between orders, so that the
/// delivered error can be kept within a factor of ten of `eps`.
pub const TOLERANCE_STEPS: [f64; 3] = [1.0, 3.0, 10.0];

/// What [`plan_for_eps`] chose: an order and the operator parameters to build with, and the
/// errors the table measured for them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EpsPlan {
    /// The expansion order.
    pub order: usize,
    /// The operator parameters (the defaults for the order, with the plan's M2L tolerance).
    pub params: OperatorParams,
    /// The smallest measured error over the three point sets.
    pub min_error: f64,
    /// The largest measured error over the three point sets (at most `eps`).
    pub max_error: f64,
}

/// The cheapest measured plan whose error is at most `eps` on uniform, sphere and clustered
/// points, for this kernel, dimension and precision: the lowest order, then the loosest M2L
/// tolerance, among the plans whose errors lie in `[eps / 10, eps]` on all three sets; when
/// none does (an `eps` between what two rows deliver, or below a row's spread over the
/// sets), the cheapest plan whose largest error is at most `eps`.
///
/// The errors of Yukawa and Helmholtz depend on their parameter times the box size; the table
/// holds them for the unit cube at `kappa = 20` and `k = 10` (1.7 wavelengths across). For
/// a Helmholtz problem many wavelengths across, give the order instead (the build warns when
/// the boxes are too large for it).
///
/// ```
/// use oxifmm::{AnyKernel, Precision, plan_for_eps};
///
/// let plan = plan_for_eps(&AnyKernel::Laplace, 3, Precision::F64, 1e-6)?;
/// assert!(plan.max_error <= 1e-6 && plan.min_error >= 1e-7);
/// let finer = plan_for_eps(&AnyKernel::Laplace, 3, Precision::F64, 1e-8)?;
/// assert!(finer.order > plan.order);
/// // f32 cannot deliver 1e-8, nor f64 1e-12.
/// assert!(plan_for_eps(&AnyKernel::Laplace, 3, Precision::F32, 1e-8).is_err());
/// assert!(plan_for_eps(&AnyKernel::Laplace, 3, Precision::F64, 1e-12).is_err());
/// # Ok::<(), oxifmm::Error>(())
/// ```
///
/// # Errors
///
/// [`Error::InvalidParameter`] (`eps`) when `eps` is not in `(0, 1)` or below the best error
/// of the table for the case (the message names that error and its order).
pub fn plan_for_eps(
    kernel: &AnyKernel,
    dim: usize,
    precision: Precision,
    eps: f64,
) -> Result<EpsPlan> {
    if !(eps > 0.0 && eps < 1.0) {
        return Err(Error::InvalidParameter {
            name: "eps",
            reason: format!("must lie in (0, 1), got {eps}"),
        });
    }
    let rows = || {
        EPS_TABLE
            .iter()
            .filter(|r| r.kernel == kernel.name() && r.dim == dim && r.precision == precision)
    };
    // Lowest order first, then the loosest (cheapest) compression.
    let cheapest = |a: &&EpsRow, b: &&EpsRow| {
        a.order
            .cmp(&b.order)
            .then(b.m2l_tolerance.total_cmp(&a.m2l_tolerance))
    };
    let meets = || rows().filter(|r| r.max_error <= eps);
    let chosen = meets()
        .filter(|r| r.min_error >= eps / 10.0)
        .min_by(cheapest)
        .or_else(|| meets().min_by(cheapest));
    if let Some(r) = chosen {
        return Ok(EpsPlan {
            order: r.order,
            params: OperatorParams {
                m2l_tolerance: r.m2l_tolerance,
                ..OperatorParams::defaults(r.order, precision.epsilon())
            },
            min_error: r.min_error,
            max_error: r.max_error,
        });
    }
    let best = rows().min_by(|a, b| a.max_error.total_cmp(&b.max_error));
    Err(Error::InvalidParameter {
        name: "eps",
        reason: match best {
            Some(b) => format!(
                "{eps:e} is below what {} {dim}D in {} reaches (best measured: {:.1e} at order \
                 {}); ask for a larger eps{}",
                kernel.name(),
                precision.name(),
                b.max_error,
                b.order,
                if precision == Precision::F32 {
                    " or use f64"
                } else {
                    ""
                }
            ),
            None => format!(
                "no measured orders for {} {dim}D in {}",
                kernel.name(),
                precision.name()
            ),
        },
    })
}

/// The expansion order of [`plan_for_eps`].
///
/// ```
/// use oxifmm::{AnyKernel, Precision, order_for_eps};
///
/// let p6 = order_for_eps(&AnyKernel::Laplace, 3, Precision::F64, 1e-6)?;
/// let p8 = order_for_eps(&AnyKernel::Laplace, 3, Precision::F64, 1e-8)?;
/// assert!(p8 > p6);
/// # Ok::<(), oxifmm::Error>(())
/// ```
///
/// # Errors
///
/// As [`plan_for_eps`].
pub fn order_for_eps(
    kernel: &AnyKernel,
    dim: usize,
    precision: Precision,
    eps: f64,
) -> Result<usize> {
    plan_for_eps(kernel, dim, precision, eps).map(|p| p.order)
}

/// The relative L2 error of the potential that `config` delivers on `n` points of `dist` in
/// `dim` dimensions (sources and targets the same points, charges with parts uniform in
/// `[-1, 1]`; fixed seeds), measured on `samples` evenly spaced targets against the direct
/// sum in f64.
///
/// Points and charges are first rounded to the precision of the run
/// (`config.precision`, default f64), so the reference answers exactly the problem the FMM is
/// given: what remains is the FMM's error, including the roundoff of summing in that
/// precision (in f32, on the sphere, about 6e-5: the direct sum in f32 has it too).
///
/// This is the measurement behind the `eps` table.
///
/// ```
/// use oxifmm::points::Distribution;
/// use oxifmm::{Accuracy, CacheMode, FmmConfig, measured_error};
///
/// let config = FmmConfig { accuracy: Accuracy::Order(4), cache: CacheMode::Off,
///                          ..FmmConfig::default() };
/// let e = measured_error(&config, 3, Distribution::Uniform, 4000, 200)?;
/// assert!(e > 1e-6 && e < 1e-2);
/// # Ok::<(), oxifmm::Error>(())
/// ```
///
/// # Errors
///
/// Those of [`DynFmm::build`] and [`direct_any`]; [`Error::Empty`] for no points or no
/// samples.
pub fn measured_error(
    config: &FmmConfig,
    dim: usize,
    dist: Distribution,
    n: usize,
    samples: usize,
) -> Result<f64> {
    if n == 0 {
        return Err(Error::Empty { what: "points" });
    }
    if samples == 0 {
        return Err(Error::Empty { what: "samples" });
    }
    let precision = config.precision.unwrap_or(Precision::F64);
    let round = |x: f64| match precision {
        Precision::F32 => x as f32 as f64,
        Precision::F64 => x,
    };
    let points: Vec<f64> = match dim {
        2 => generate::<f64, 2>(dist, n, 1).into_flattened(),
        _ => generate::<f64, 3>(dist, n, 1).into_flattened(),
    }
    .into_iter()
    .map(round)
    .collect();
    let real: Vec<f64> = values::<f64>(n, 2).into_iter().map(round).collect();
    let complex: Vec<Complex<f64>> = values::<Complex<f64>>(n, 2)
        .into_iter()
        .map(|c| Complex::new(round(c.re), round(c.im)))
        .collect();
    let charges = if config.kernel.is_complex() {
        Values::C64(&complex)
    } else {
        Values::F64(&real)
    };
    let fmm = DynFmm::build(config, dim, Coords::F64(&points), None)?;
    let got = fmm.evaluate(charges)?.potentials.to_f64_reals();
    let m = samples.min(n);
    let picked: Vec<usize> = (0..m).map(|i| i * n / m).collect();
    let dim_of = points.len() / n;
    let targets: Vec<f64> = picked
        .iter()
        .flat_map(|&i| points[i * dim_of..(i + 1) * dim_of].to_vec())
        .collect();
    let exact = direct_any(
        &config.kernel,
        dim,
        Coords::F64(&points),
        charges,
        Coords::F64(&targets),
        false,
    )?
    .potentials
    .to_f64_reals();
    let width = if config.kernel.is_complex() { 2 } else { 1 };
    let got: Vec<f64> = picked
        .iter()
        .flat_map(|&i| got[i * width..(i + 1) * width].to_vec())
        .collect();
    crate::kernel::relative_l2(&got, &exact)
}
