//! The modified Helmholtz (Yukawa, screened Coulomb) kernel. Its formula is written once, in
//! build.rs's kernel table (`build/p2p/table.rs`); the scalar evaluations and the SIMD P2P
//! are generated from it.

use super::generated;
use super::{Kernel, KernelId, Scaling};
use crate::error::{Error, Result};
use crate::scalar::Real;

/// The modified Helmholtz (Yukawa) kernel in 3D, `exp(-kappa r) / (4 pi r)`, `r = |x - y|`:
/// the Green's function of `-Δu + kappa² u`, the screened Coulomb potential of
/// Debye–Hückel electrostatics. Real, not homogeneous: a tree gets one operator set per
/// level, computed for `kappa` times the level's box size and cached under that product
/// ([`Scaling::Rescaled`]), so trees whose levels have the same `kappa × width` share them.
///
/// ```
/// use oxifmm::{CacheMode, Fmm, Yukawa};
/// use oxifmm::points::{charges, generate, Distribution};
///
/// let points = generate::<f64, 3>(Distribution::Uniform, 2000, 1);
/// let q = charges::<f64>(points.len(), 2);
/// let kernel = Yukawa::new(5.0)?;
/// let fmm = Fmm::<Yukawa, 5>::with_kernel(kernel)
///     .sources(&points)
///     .max_points_per_leaf(64)
///     .cache(CacheMode::Off)
///     .build()?;
/// let phi = fmm.evaluate(&q)?.potentials;
/// let exact = oxifmm::direct(&kernel, &points, &q, &points, false)?;
/// let err = (phi.iter().zip(&exact).map(|(a, b)| (a - b).powi(2)).sum::<f64>()
///     / exact.iter().map(|b| b * b).sum::<f64>())
/// .sqrt();
/// assert!(err < 1e-4, "{err:e}");
/// # Ok::<(), oxifmm::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Yukawa {
    kappa: f64,
}

impl Yukawa {
    /// The kernel with screening constant `kappa` (an inverse length; 0 is Laplace).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] when `kappa` is negative, NaN or infinite.
    pub fn new(kappa: f64) -> Result<Self> {
        if !(kappa.is_finite() && kappa >= 0.0) {
            return Err(Error::InvalidParameter {
                name: "kappa",
                reason: format!(
                    "the Yukawa screening constant must be finite and >= 0, got {kappa}"
                ),
            });
        }
        Ok(Self { kappa })
    }

    /// The screening constant.
    pub fn kappa(&self) -> f64 {
        self.kappa
    }
}

impl Kernel<3> for Yukawa {
    type Value<T: Real> = T;

    fn id(&self) -> KernelId {
        KernelId::new("yukawa", 1).param("kappa", self.kappa)
    }

    fn scaling(&self) -> Scaling {
        Scaling::Rescaled { degree: -1 }
    }

    /// `exp(-kappa s r) / (4 pi s r) = s^-1 exp(-(kappa s) r) / (4 pi r)`.
    fn rescaled(&self, s: f64) -> Self {
        Self {
            kappa: self.kappa * s,
        }
    }

    #[inline]
    fn eval(&self, x: &[f64; 3], y: &[f64; 3]) -> f64 {
        generated::yukawa3d_eval([self.kappa], x, y)
    }

    #[inline]
    fn eval_with_gradient(&self, x: &[f64; 3], y: &[f64; 3]) -> (f64, [f64; 3]) {
        generated::yukawa3d_eval_with_gradient([self.kappa], x, y)
    }

    fn p2p<T: Real>(
        &self,
        sources: [&[T]; 3],
        charges: &[T],
        targets: [&[T]; 3],
        out: &mut [T],
        gradients: bool,
    ) {
        generated::yukawa3d_p2p([self.kappa], sources, charges, targets, out, gradients);
    }
}
