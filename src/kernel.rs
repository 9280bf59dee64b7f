//! Kernels: the `K(x, y)` of `phi(x) = sum_j K(x, y_j) q_j`.
//!
//! A kernel is a zero-sized type implementing [`Kernel<D>`]. The evaluator needs from it a
//! scalar reference evaluation (for operator precomputation and tests), whether it is
//! homogeneous, and its P2P routine.
//!
//! P2P reads points as structure of arrays (`sources[k][j]` is coordinate `k` of source `j`):
//! the SIMD microkernels (see [`crate::microkernels`]) load a block of targets straight into
//! registers, one register per coordinate and one target per lane, without gathers.

use crate::real::Real;

/// A kernel in `D` dimensions. It must be translation invariant (`K(x, y)` depends on
/// `x - y` only): the M2L operators are shared by all box pairs with the same offset, and the
/// evaluator stores points relative to the domain's centre.
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

    /// Scalar reference for [`Kernel::p2p`], same contract: evaluates every pair with
    /// [`Kernel::eval`] / [`Kernel::eval_with_gradient`] in f64, sums in f64 and rounds once
    /// per output. Slow; meant for tests and as the fallback of new kernels.
    fn p2p_scalar<T: Real>(
        sources: [&[T]; D],
        charges: &[T],
        targets: [&[T]; D],
        out: &mut [T],
        gradients: bool,
    ) {
        crate::microkernels::check_lengths(&sources, charges, &targets, out.len(), gradients);
        let width = if gradients { 1 + D } else { 1 };
        for (i, o) in out.chunks_exact_mut(width).enumerate() {
            let x: [f64; D] = std::array::from_fn(|k| targets[k][i].to_f64());
            let mut phi = 0.0f64;
            let mut grad = [0.0f64; D];
            for (j, &q) in charges.iter().enumerate() {
                let y: [f64; D] = std::array::from_fn(|k| sources[k][j].to_f64());
                let q = q.to_f64();
                if gradients {
                    let (v, g) = Self::eval_with_gradient(&x, &y);
                    phi += q * v;
                    for (a, g) in grad.iter_mut().zip(g) {
                        *a += q * g;
                    }
                } else {
                    phi += q * Self::eval(&x, &y);
                }
            }
            o[0] += T::from_f64(phi);
            if gradients {
                for (o, g) in o[1..].iter_mut().zip(grad) {
                    *o += T::from_f64(g);
                }
            }
        }
    }
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
        crate::microkernels::laplace3d_p2p(sources, charges, targets, out, gradients);
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
        crate::microkernels::laplace2d_p2p(sources, charges, targets, out, gradients);
    }
}
