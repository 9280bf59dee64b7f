//! How close a result is to the truth: the relative L2 error, and the error of FMM potentials
//! against the direct sum on a sample of targets (what the examples, the bench report and a
//! user checking a run all need).

use super::{Kernel, direct};
use crate::error::{Error, Result};
use crate::scalar::{Real, Value};

/// The relative L2 error `||got - want|| / ||want||` of two sequences of real or complex
/// values (of any precision), computed in f64; the absolute norm `||got - want||` when `want`
/// is all zeros.
///
/// # Errors
///
/// - [`Error::LengthMismatch`] when the lengths differ,
/// - [`Error::NonFinite`] when `got` or `want` holds a NaN or an infinity (so that a
///   non-finite result never passes for a small error).
///
/// # Example
///
/// ```
/// use oxifmm::{Complex, relative_l2};
///
/// assert_eq!(relative_l2(&[3.0f32, 4.0], &[3.0f64, 4.0])?, 0.0);
/// let e = relative_l2(&[Complex::new(1.0, 0.0)], &[Complex::new(0.0, 1.0)])?;
/// assert!((e - 2f64.sqrt()).abs() < 1e-15);
/// assert!(relative_l2(&[f64::NAN], &[1.0]).is_err());
/// # Ok::<(), oxifmm::Error>(())
/// ```
pub fn relative_l2<A: Value, B: Value>(got: &[A], want: &[B]) -> Result<f64> {
    if got.len() != want.len() {
        return Err(Error::LengthMismatch {
            what: "results",
            expected: want.len(),
            got: got.len(),
        });
    }
    for (what, finite) in [
        ("results", got.iter().position(|v| !v.all_finite())),
        ("reference", want.iter().position(|v| !v.all_finite())),
    ] {
        if let Some(index) = finite {
            return Err(Error::NonFinite { what, index });
        }
    }
    let (mut num, mut den) = (0.0f64, 0.0f64);
    for (g, w) in got.iter().zip(want) {
        let (wr, wi) = (w.re().to_f64(), w.im().to_f64());
        let (dr, di) = (g.re().to_f64() - wr, g.im().to_f64() - wi);
        num += dr * dr + di * di;
        den += wr * wr + wi * wi;
    }
    Ok(if den == 0.0 {
        num.sqrt()
    } else {
        (num / den).sqrt()
    })
}

/// The relative L2 error of `potentials` (one per target, in the targets' order, as
/// [`Fmm::evaluate`](crate::Fmm::evaluate) returns them) against the direct sum on `samples`
/// evenly spaced targets (all of them when `samples >= targets.len()`).
///
/// The direct sum runs in f64 whatever the precision of the points and charges, so the
/// reference is exact to f64 rounding; its cost is `samples x sources.len()` kernel
/// evaluations, so a thousand samples check a million-point run in well under a second.
///
/// # Errors
///
/// - [`Error::Empty`] when there are no sources, targets or samples,
/// - [`Error::LengthMismatch`] when `charges` or `potentials` does not match its point set,
/// - [`Error::NonFinite`] for a non-finite coordinate, charge or potential.
///
/// # Example
///
/// ```
/// use oxifmm::{Laplace, direct, sampled_error};
///
/// let sources: Vec<[f64; 3]> = (0..50).map(|i| [i as f64, 0.5, -0.25 * i as f64]).collect();
/// let charges: Vec<f64> = (0..50).map(|i| (i % 7) as f64 - 3.0).collect();
/// let mut phi = direct(&Laplace, &sources, &charges, &sources, false)?;
/// assert!(sampled_error(&Laplace, &sources, &charges, &sources, &phi, 10)? < 1e-15);
/// phi[0] *= 1.5; // sample 0 is target 0
/// assert!(sampled_error(&Laplace, &sources, &charges, &sources, &phi, 10)? > 1e-3);
/// # Ok::<(), oxifmm::Error>(())
/// ```
pub fn sampled_error<K: Kernel<D>, const D: usize, T: Real>(
    kernel: &K,
    sources: &[[T; D]],
    charges: &[K::Value<T>],
    targets: &[[T; D]],
    potentials: &[K::Value<T>],
    samples: usize,
) -> Result<f64> {
    if potentials.len() != targets.len() {
        return Err(Error::LengthMismatch {
            what: "potentials",
            expected: targets.len(),
            got: potentials.len(),
        });
    }
    if samples == 0 {
        return Err(Error::Empty { what: "samples" });
    }
    if targets.is_empty() {
        return Err(Error::Empty { what: "targets" });
    }
    let m = samples.min(targets.len());
    let picked: Vec<usize> = (0..m).map(|i| i * targets.len() / m).collect();
    let wide = |p: &[T; D]| p.map(|x| x.to_f64());
    let src: Vec<[f64; D]> = sources.iter().map(wide).collect();
    let q: Vec<K::Value<f64>> = charges.iter().map(|v| v.cast()).collect();
    let tgt: Vec<[f64; D]> = picked.iter().map(|&i| wide(&targets[i])).collect();
    let exact = direct(kernel, &src, &q, &tgt, false)?;
    let got: Vec<K::Value<T>> = picked.iter().map(|&i| potentials[i]).collect();
    relative_l2(&got, &exact)
}
