//! The domain: the cube (square in 2D) that the tree subdivides, and the map from a point to
//! its anchor on the finest grid.

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::scalar::Real;

/// Deepest tree level in `d` dimensions: 19 in 3D (57 anchor bits), 29 in 2D (58 anchor bits),
/// so that an interleaved anchor and the level fit one `u64` Morton key.
pub const fn finest_level(d: usize) -> u32 {
    if d == 3 { 19 } else { 29 }
}

/// A cube (square in 2D) containing every point: lowest corner and side length.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Domain<const D: usize> {
    /// The lowest corner.
    pub origin: [f64; D],
    /// The side length (> 0).
    pub width: f64,
}

impl<const D: usize> Domain<D> {
    /// The point's anchor in finest-level units, clamped into the domain.
    #[inline(always)]
    pub fn finest_anchor(&self, p: &[f64; D]) -> [u64; D] {
        let n = (1u64 << finest_level(D)) as f64;
        let scale = n / self.width;
        let mut a = [0u64; D];
        for k in 0..D {
            a[k] = clamp_truncate((p[k] - self.origin[k]) * scale, n - 1.0);
        }
        a
    }

    /// The centre of the cube.
    pub fn centre(&self) -> [f64; D] {
        std::array::from_fn(|k| self.origin[k] + 0.5 * self.width)
    }

    /// True if the point lies in the closed cube.
    pub fn contains(&self, p: &[f64; D]) -> bool {
        (0..D).all(|k| p[k] >= self.origin[k] && p[k] <= self.origin[k] + self.width)
    }
}

/// Checks a point set: non-empty and finite.
pub(crate) fn check_points<T: Real, const D: usize>(
    points: &[[T; D]],
    what: &'static str,
) -> Result<()> {
    if points.is_empty() {
        return Err(Error::Empty { what });
    }
    if let Some(index) = points
        .par_iter()
        .position_first(|p| p.iter().any(|x| !x.is_finite()))
    {
        return Err(Error::NonFinite { what, index });
    }
    Ok(())
}

impl<const D: usize> Domain<D> {
    /// The smallest cube holding every point of every set, centred on their bounding box and
    /// widened by a relative 1e-9 so that no point sits on the upper faces.
    ///
    /// # Errors
    ///
    /// [`Error::Empty`] for an empty set, [`Error::NonFinite`] for a NaN or infinite
    /// coordinate (the first set is named "sources", the others "targets").
    pub fn from_points<T: Real>(sets: &[&[[T; D]]]) -> Result<Self> {
        for (i, set) in sets.iter().enumerate() {
            check_points(set, if i == 0 { "sources" } else { "targets" })?;
        }
        Ok(Self::bounding(sets))
    }

    /// [`Domain::from_points`] for sets already checked with `check_points` (non-empty, finite):
    /// the tree builder checks its points once and then takes their cube from here.
    pub(crate) fn bounding<T: Real>(sets: &[&[[T; D]]]) -> Self {
        let mut lo = [f64::INFINITY; D];
        let mut hi = [f64::NEG_INFINITY; D];
        for set in sets {
            let (l, h) = set
                .par_iter()
                .fold(
                    || ([f64::INFINITY; D], [f64::NEG_INFINITY; D]),
                    |(mut l, mut h), p| {
                        for k in 0..D {
                            let x = p[k].to_f64();
                            l[k] = l[k].min(x);
                            h[k] = h[k].max(x);
                        }
                        (l, h)
                    },
                )
                .reduce(
                    || ([f64::INFINITY; D], [f64::NEG_INFINITY; D]),
                    |(mut l, mut h), (l2, h2)| {
                        for k in 0..D {
                            l[k] = l[k].min(l2[k]);
                            h[k] = h[k].max(h2[k]);
                        }
                        (l, h)
                    },
                );
            for k in 0..D {
                lo[k] = lo[k].min(l[k]);
                hi[k] = hi[k].max(h[k]);
            }
        }
        let extent = (0..D).map(|k| hi[k] - lo[k]).fold(0.0, f64::max);
        let scale = (0..D)
            .map(|k| lo[k].abs().max(hi[k].abs()))
            .fold(0.0, f64::max);
        let width = if extent > 0.0 {
            extent * (1.0 + 1e-9) + scale * 1e-15
        } else {
            1.0
        };
        let mut origin = [0.0; D];
        for k in 0..D {
            origin[k] = 0.5 * (lo[k] + hi[k]) - 0.5 * width;
        }
        Self { origin, width }
    }

    /// The cube with the same centre and the width rounded up to the next `2^e m / 16`
    /// (`m` in `16..32`): at most 1/16 wider. Point sets of about the same extent then get
    /// the same box sizes at every level, so the per-level operators of kernels that are not
    /// homogeneous (cached by box size) are shared between them.
    ///
    /// ```
    /// use oxifmm::Domain;
    ///
    /// let d = Domain::new([0.0; 3], 1.0 + 1e-9)?.on_width_grid();
    /// assert_eq!(d.width, 1.0625);
    /// assert_eq!(d.centre(), [0.5 + 0.5e-9; 3]);
    /// assert_eq!(Domain::new([0.0; 3], 0.75)?.on_width_grid().width, 0.75);
    /// # Ok::<(), oxifmm::Error>(())
    /// ```
    pub fn on_width_grid(&self) -> Self {
        let w = self.width;
        let e = w.log2().floor();
        let unit = (e - 4.0).exp2();
        let mut width = (w / unit).ceil() * unit;
        // Guard the rounding of log2 near powers of two.
        if width < w {
            width += unit;
        }
        let c = self.centre();
        Self {
            origin: std::array::from_fn(|k| c[k] - 0.5 * width),
            width,
        }
    }

    /// An explicit domain; the width must be positive and everything finite.
    pub fn new(origin: [f64; D], width: f64) -> Result<Self> {
        if !(width.is_finite() && width > 0.0) {
            return Err(Error::InvalidParameter {
                name: "domain.width",
                reason: format!("must be finite and positive, got {width}"),
            });
        }
        if let Some(index) = origin.iter().position(|x| !x.is_finite()) {
            return Err(Error::NonFinite {
                what: "domain origin",
                index,
            });
        }
        Ok(Self { origin, width })
    }
}

/// `t` clamped into `[0, hi]` and truncated; NaN gives 0. Compare-and-select rather than
/// `f64::clamp` plus a saturating cast: `maxsd`, `minsd`, `cvttsd2si` and nothing else.
#[inline(always)]
pub(crate) fn clamp_truncate(t: f64, hi: f64) -> u64 {
    let t = if t > 0.0 { t } else { 0.0 };
    let t = if t < hi { t } else { hi };
    // SAFETY: `t` is finite and in `[0, hi]` with `hi < 2^29`, so it fits an i32.
    unsafe { t.to_int_unchecked::<i32>() as u32 as u64 }
}

/// One point's finest anchor, with the scale precomputed (same arithmetic as
/// [`Domain::finest_anchor`]).
#[inline(always)]
pub(crate) fn anchor_scaled<T: Real, const D: usize>(
    p: &[T; D],
    origin: &[f64; D],
    scale: f64,
    hi: f64,
) -> [u64; D] {
    std::array::from_fn(|k| clamp_truncate((p[k].to_f64() - origin[k]) * scale, hi))
}
