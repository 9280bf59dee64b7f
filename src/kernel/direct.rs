//! Direct (all pairs, `O(N M)`) evaluation: the exact answer the FMM approximates.

use rayon::prelude::*;

use super::Kernel;
use crate::error::{Error, Result};
use crate::geometry::domain::check_points;
use crate::scalar::Real;
use crate::scalar::Value;

/// Targets per parallel task: a multiple of every SIMD lane count.
const BLOCK: usize = 256;

/// Evaluates `phi(t_i) = sum_j K(t_i, s_j) q_j` for every target directly, over all pairs.
///
/// Points are given as one `[T; D]` per point (array of structures); the sources are converted
/// once to the structure-of-arrays layout the P2P microkernels read, and the targets are
/// processed in blocks of 256 in parallel on the rayon thread pool, each block with
/// [`Kernel::p2p`].
///
/// Returns one value per target, or with `gradients` `1 + D` values per target, interleaved
/// `[phi, dphi/dx_0, .., dphi/dx_{D-1}]` (the gradient is with respect to the target). A source
/// that coincides with a target contributes 0.
///
/// # Errors
///
/// - [`Error::Empty`] when `sources` or `targets` is empty,
/// - [`Error::LengthMismatch`] when `charges.len() != sources.len()`,
/// - [`Error::NonFinite`] when a coordinate or charge is NaN or infinite (the index is the
///   point's, or the charge's).
///
/// # Example
///
/// ```
/// use oxifmm::Laplace;
///
/// let sources = [[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]];
/// let charges = [1.0, 2.0];
/// let targets = [[0.0, 0.0, 2.0]];
/// let phi = oxifmm::direct(&Laplace, &sources, &charges, &targets, false)?;
/// let expected = (1.0 / 2.0 + 2.0 / 5.0f64.sqrt()) / (4.0 * std::f64::consts::PI);
/// assert!((phi[0] - expected).abs() < 1e-15);
///
/// // With gradients: [phi, dphi/dx, dphi/dy, dphi/dz] per target.
/// let out = oxifmm::direct(&Laplace, &sources, &charges, &targets, true)?;
/// assert_eq!(out.len(), 4);
/// # Ok::<(), oxifmm::Error>(())
/// ```
pub fn direct<K: Kernel<D>, const D: usize, T: Real>(
    kernel: &K,
    sources: &[[T; D]],
    charges: &[K::Value<T>],
    targets: &[[T; D]],
    gradients: bool,
) -> Result<Vec<K::Value<T>>> {
    if sources.is_empty() {
        return Err(Error::Empty { what: "sources" });
    }
    if targets.is_empty() {
        return Err(Error::Empty { what: "targets" });
    }
    if charges.len() != sources.len() {
        return Err(Error::LengthMismatch {
            what: "charges",
            expected: sources.len(),
            got: charges.len(),
        });
    }
    check_points(sources, "sources")?;
    check_points(targets, "targets")?;
    if let Some(index) = charges.iter().position(|q| !q.all_finite()) {
        return Err(Error::NonFinite {
            what: "charges",
            index,
        });
    }

    let soa: [Vec<T>; D] = std::array::from_fn(|k| sources.iter().map(|p| p[k]).collect());
    let src: [&[T]; D] = std::array::from_fn(|k| soa[k].as_slice());
    let width = if gradients { 1 + D } else { 1 };
    let mut out = vec![K::Value::<T>::default(); width * targets.len()];
    out.par_chunks_mut(width * BLOCK)
        .zip(targets.par_chunks(BLOCK))
        .for_each(|(out, block)| {
            let mut tb = [[T::ZERO; BLOCK]; D];
            for (i, p) in block.iter().enumerate() {
                for k in 0..D {
                    tb[k][i] = p[k];
                }
            }
            let n = block.len();
            let tgt: [&[T]; D] = std::array::from_fn(|k| &tb[k][..n]);
            kernel.p2p(src, charges, tgt, out, gradients);
        });
    Ok(out)
}
