//! The Helmholtz kernel. Its formula is written once, in build.rs's kernel table
//! (`build/p2p/table.rs`); the scalar evaluations and the SIMD P2P are generated from it.

use super::generated;
use super::{Kernel, KernelId, Scaling};
use crate::error::{Error, Result};
use crate::scalar::Complex;
use crate::scalar::Real;

/// The Helmholtz kernel in 3D, `exp(i k r) / (4 pi r)`, `r = |x - y|`: the outgoing Green's
/// function of `-Δu - k² u`, for acoustic and electromagnetic scattering. Complex: charges,
/// potentials and gradients are [`Complex`] (`Complex<f64>` or `Complex<f32>`). The wavenumber
/// may be complex with `Im k >= 0` (a lossy medium: the kernel decays as `exp(-Im k r)`).
///
/// Not homogeneous: a tree gets one operator set per level, computed for `k` times the
/// level's box size and cached under that product ([`Scaling::Rescaled`]).
///
/// KIFMM is a low-frequency method: its equivalent surfaces carry about `p²` unknowns
/// whatever the box size, so the accuracy at a given order falls once boxes are more than a
/// fraction of a wavelength `2 pi / Re k` across. See the README for the measured accuracy
/// against the root box size in wavelengths.
///
/// ```
/// use oxifmm::{CacheMode, Complex, Fmm, Helmholtz};
/// use oxifmm::points::{charges, generate, Distribution};
///
/// let points = generate::<f64, 3>(Distribution::Uniform, 2000, 1);
/// let (re, im) = (charges::<f64>(2000, 2), charges::<f64>(2000, 3));
/// let q: Vec<Complex<f64>> = re.iter().zip(&im).map(|(&a, &b)| Complex::new(a, b)).collect();
/// let kernel = Helmholtz::new(5.0)?;
/// let fmm = Fmm::<Helmholtz, 6>::with_kernel(kernel)
///     .sources(&points)
///     .max_points_per_leaf(64)
///     .cache(CacheMode::Off)
///     .build()?;
/// let phi = fmm.evaluate(&q)?.potentials;
/// let exact = oxifmm::direct(&kernel, &points, &q, &points, false)?;
/// let err = (phi.iter().zip(&exact).map(|(a, b)| (a - b).norm_sqr()).sum::<f64>()
///     / exact.iter().map(|b| b.norm_sqr()).sum::<f64>())
/// .sqrt();
/// assert!(err < 1e-4, "{err:e}");
/// # Ok::<(), oxifmm::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Helmholtz {
    k: Complex<f64>,
}

impl Helmholtz {
    /// The kernel with real wavenumber `k`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] when `k` is negative, NaN or infinite.
    pub fn new(k: f64) -> Result<Self> {
        Self::complex(Complex::new(k, 0.0))
    }

    /// The kernel with complex wavenumber `k` (`Re k >= 0`, `Im k >= 0`).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] when a part is negative, NaN or infinite (`Im k < 0`
    /// would grow exponentially with distance).
    pub fn complex(k: Complex<f64>) -> Result<Self> {
        if !(k.re.is_finite() && k.im.is_finite() && k.re >= 0.0 && k.im >= 0.0) {
            return Err(Error::InvalidParameter {
                name: "wavenumber",
                reason: format!(
                    "the Helmholtz wavenumber needs finite Re k >= 0 and Im k >= 0, got {} + {}i",
                    k.re, k.im
                ),
            });
        }
        Ok(Self { k })
    }

    /// The wavenumber.
    pub fn wavenumber(&self) -> Complex<f64> {
        self.k
    }
}

impl Kernel<3> for Helmholtz {
    type Value<T: Real> = T::Complex;

    fn id(&self) -> KernelId {
        // Version 2: its operator sets gained the FFT M2L transfer functions.
        KernelId::new("helmholtz", 2)
            .param("k_re", self.k.re)
            .param("k_im", self.k.im)
    }

    fn scaling(&self) -> Scaling {
        Scaling::Rescaled { degree: -1 }
    }

    fn wavenumber(&self) -> Option<f64> {
        Some(self.k.re)
    }

    /// `exp(i k s r) / (4 pi s r) = s^-1 exp(i (k s) r) / (4 pi r)`.
    fn rescaled(&self, s: f64) -> Self {
        Self { k: self.k * s }
    }

    #[inline]
    fn eval(&self, x: &[f64; 3], y: &[f64; 3]) -> Complex<f64> {
        if self.k.im == 0.0 {
            generated::helmholtz3d_real_eval([self.k.re], x, y)
        } else {
            generated::helmholtz3d_eval([self.k.re, self.k.im], x, y)
        }
    }

    /// The gradient `exp(i k r) (i k r - 1) / (4 pi r^3) (x - y)`.
    #[inline]
    fn eval_with_gradient(&self, x: &[f64; 3], y: &[f64; 3]) -> (Complex<f64>, [Complex<f64>; 3]) {
        if self.k.im == 0.0 {
            generated::helmholtz3d_real_eval_with_gradient([self.k.re], x, y)
        } else {
            generated::helmholtz3d_eval_with_gradient([self.k.re, self.k.im], x, y)
        }
    }

    fn p2p<T: Real>(
        &self,
        sources: [&[T]; 3],
        charges: &[T::Complex],
        targets: [&[T]; 3],
        out: &mut [T::Complex],
        gradients: bool,
    ) {
        // A real wavenumber needs no exponential: its own microkernels.
        if self.k.im == 0.0 {
            generated::helmholtz3d_real_p2p([self.k.re], sources, charges, targets, out, gradients);
        } else {
            generated::helmholtz3d_p2p(
                [self.k.re, self.k.im],
                sources,
                charges,
                targets,
                out,
                gradients,
            );
        }
    }
}
