//! Kernels: the `K(x, y)` of `phi(x) = sum_j K(x, y_j) q_j`.
//!
//! A kernel is a zero-sized type implementing [`Kernel<D>`]. The evaluator needs from it a
//! scalar reference evaluation (for operator precomputation and tests), whether it is
//! homogeneous, and its P2P routine.

use crate::real::Real;

/// A kernel in `D` dimensions.
pub trait Kernel<const D: usize>: Copy + Default + Send + Sync + 'static {
    /// A short name, used in operator-cache file names and headers.
    const NAME: &'static str;
    /// `Some(d)` when `K(s x, s y) = s^d K(x, y)` for every `s > 0` (Laplace 3D: `-1`); `None`
    /// for kernels that are not homogeneous (Laplace 2D), which get operators per level.
    const HOMOGENEOUS_DEGREE: Option<i32>;

    /// `K(x, y)` in f64; exactly 0 when `x == y`.
    fn eval(x: &[f64; D], y: &[f64; D]) -> f64;

    /// `K(x, y)` and its gradient with respect to `x`; all zero when `x == y`.
    fn eval_with_gradient(x: &[f64; D], y: &[f64; D]) -> (f64, [f64; D]);

    /// Accumulates `out[i] += sum_j K(t_i, s_j) q_j` for every target `t_i`.
    ///
    /// Points are structure-of-arrays: `sources[k][j]` is coordinate `k` of source `j`.
    /// Without gradients `out` holds one value per target; with gradients it holds `1 + D`
    /// values per target, interleaved: `[phi, dphi/dx_0, .., dphi/dx_{D-1}]`.
    /// A source that coincides with a target contributes exactly 0.
    fn p2p<T: Real>(
        sources: [&[T]; D],
        charges: &[T],
        targets: [&[T]; D],
        out: &mut [T],
        gradients: bool,
    );
}

/// The Laplace kernel: `1/(4 pi r)` in 3D, `-ln(r)/(2 pi)` in 2D.
#[derive(Clone, Copy, Debug, Default)]
pub struct Laplace;

const INV_4PI: f64 = 0.079_577_471_545_947_67;
const INV_2PI: f64 = 0.159_154_943_091_895_34;

impl Kernel<3> for Laplace {
    const NAME: &'static str = "laplace";
    const HOMOGENEOUS_DEGREE: Option<i32> = Some(-1);

    #[inline]
    fn eval(x: &[f64; 3], y: &[f64; 3]) -> f64 {
        let r2 = (x[0] - y[0]).powi(2) + (x[1] - y[1]).powi(2) + (x[2] - y[2]).powi(2);
        if r2 == 0.0 { 0.0 } else { INV_4PI / r2.sqrt() }
    }

    #[inline]
    fn eval_with_gradient(x: &[f64; 3], y: &[f64; 3]) -> (f64, [f64; 3]) {
        let d = [x[0] - y[0], x[1] - y[1], x[2] - y[2]];
        let r2 = d[0] * d[0] + d[1] * d[1] + d[2] * d[2];
        if r2 == 0.0 {
            return (0.0, [0.0; 3]);
        }
        let inv_r = 1.0 / r2.sqrt();
        let phi = INV_4PI * inv_r;
        let g = -phi * inv_r * inv_r;
        (phi, [g * d[0], g * d[1], g * d[2]])
    }

    fn p2p<T: Real>(
        sources: [&[T]; 3],
        charges: &[T],
        targets: [&[T]; 3],
        out: &mut [T],
        gradients: bool,
    ) {
        let c = T::from_f64(INV_4PI);
        let nt = targets[0].len();
        for i in 0..nt {
            let (tx, ty, tz) = (targets[0][i], targets[1][i], targets[2][i]);
            let (mut p, mut gx, mut gy, mut gz) = (T::ZERO, T::ZERO, T::ZERO, T::ZERO);
            for j in 0..charges.len() {
                let dx = tx - sources[0][j];
                let dy = ty - sources[1][j];
                let dz = tz - sources[2][j];
                let r2 = dx * dx + dy * dy + dz * dz;
                if r2 == T::ZERO {
                    continue;
                }
                let inv_r = T::ONE / r2.sqrt();
                let qi = charges[j] * inv_r;
                p += qi;
                if gradients {
                    let g = qi * inv_r * inv_r;
                    gx -= g * dx;
                    gy -= g * dy;
                    gz -= g * dz;
                }
            }
            if gradients {
                out[4 * i] += c * p;
                out[4 * i + 1] += c * gx;
                out[4 * i + 2] += c * gy;
                out[4 * i + 3] += c * gz;
            } else {
                out[i] += c * p;
            }
        }
    }
}

impl Kernel<2> for Laplace {
    const NAME: &'static str = "laplace";
    const HOMOGENEOUS_DEGREE: Option<i32> = None;

    #[inline]
    fn eval(x: &[f64; 2], y: &[f64; 2]) -> f64 {
        let r2 = (x[0] - y[0]).powi(2) + (x[1] - y[1]).powi(2);
        if r2 == 0.0 {
            0.0
        } else {
            -INV_2PI * 0.5 * r2.ln()
        }
    }

    #[inline]
    fn eval_with_gradient(x: &[f64; 2], y: &[f64; 2]) -> (f64, [f64; 2]) {
        let d = [x[0] - y[0], x[1] - y[1]];
        let r2 = d[0] * d[0] + d[1] * d[1];
        if r2 == 0.0 {
            return (0.0, [0.0; 2]);
        }
        let g = -INV_2PI / r2;
        (-INV_2PI * 0.5 * r2.ln(), [g * d[0], g * d[1]])
    }

    fn p2p<T: Real>(
        sources: [&[T]; 2],
        charges: &[T],
        targets: [&[T]; 2],
        out: &mut [T],
        gradients: bool,
    ) {
        let c = T::from_f64(INV_2PI);
        let half = T::from_f64(0.5);
        let nt = targets[0].len();
        for i in 0..nt {
            let (tx, ty) = (targets[0][i], targets[1][i]);
            let (mut p, mut gx, mut gy) = (T::ZERO, T::ZERO, T::ZERO);
            for j in 0..charges.len() {
                let dx = tx - sources[0][j];
                let dy = ty - sources[1][j];
                let r2 = dx * dx + dy * dy;
                if r2 == T::ZERO {
                    continue;
                }
                p -= charges[j] * half * r2.ln();
                if gradients {
                    let g = charges[j] / r2;
                    gx -= g * dx;
                    gy -= g * dy;
                }
            }
            if gradients {
                out[3 * i] += c * p;
                out[3 * i + 1] += c * gx;
                out[3 * i + 2] += c * gy;
            } else {
                out[i] += c * p;
            }
        }
    }
}
