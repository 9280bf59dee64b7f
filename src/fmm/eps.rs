//! The accuracy knob: the expansion order that meets a relative error `eps`, from a table of
//! measured errors that the project ships (`eps_table.rs`, written by
//! `cargo run --release --example eps_table`).

use crate::error::{Error, Result};
use crate::scalar::Precision;

use super::runtime::AnyKernel;

/// One measured row: the worst relative L2 error of the potential over uniform, sphere and
/// clustered points for a kernel, dimension, precision and order (default operator
/// parameters, 150 points per leaf).
#[derive(Clone, Copy, Debug)]
pub(crate) struct EpsRow {
    pub kernel: &'static str,
    pub dim: usize,
    pub precision: Precision,
    pub order: usize,
    pub error: f64,
}

include!("eps_table.rs");

/// The lowest expansion order whose measured error (the worst of uniform, sphere and clustered
/// points, see the table's header for the problem sizes and kernel parameters) is at most
/// `eps`, for this kernel, dimension and precision.
///
/// The errors of Yukawa and Helmholtz depend on their parameter times the box size; the table
/// holds them for the unit cube at `kappa = 20` and `k = 10` (1.7 wavelengths across). For
/// a Helmholtz problem many wavelengths across, give the order instead (the build warns when
/// the boxes are too large for it).
///
/// ```
/// use oxifmm::{AnyKernel, Precision, order_for_eps};
///
/// let p6 = order_for_eps(&AnyKernel::Laplace, 3, Precision::F64, 1e-6)?;
/// let p8 = order_for_eps(&AnyKernel::Laplace, 3, Precision::F64, 1e-8)?;
/// assert!(p8 > p6);
/// // f32 cannot deliver 1e-8, nor f64 1e-12.
/// assert!(order_for_eps(&AnyKernel::Laplace, 3, Precision::F32, 1e-8).is_err());
/// assert!(order_for_eps(&AnyKernel::Laplace, 3, Precision::F64, 1e-12).is_err());
/// # Ok::<(), oxifmm::Error>(())
/// ```
///
/// # Errors
///
/// [`Error::InvalidParameter`] (`eps`) when `eps` is not in `(0, 1)` or below the best error
/// of the table for the case (the message names that error and its order).
pub fn order_for_eps(
    kernel: &AnyKernel,
    dim: usize,
    precision: Precision,
    eps: f64,
) -> Result<usize> {
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
    if let Some(r) = rows().filter(|r| r.error <= eps).min_by_key(|r| r.order) {
        return Ok(r.order);
    }
    let best = rows().min_by(|a, b| a.error.total_cmp(&b.error));
    Err(Error::InvalidParameter {
        name: "eps",
        reason: match best {
            Some(b) => format!(
                "{eps:e} is below what {} {dim}D in {} reaches (best measured: {:.1e} at order \
                 {}); ask for a larger eps{}",
                kernel.name(),
                precision.name(),
                b.error,
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
