//! The Laplace kernel. Its formula is written once, in build.rs's kernel table
//! (`build/p2p/table.rs`); the scalar evaluations and the SIMD P2P are generated from it.

use super::generated;
use super::{Kernel, KernelId, Scaling};
use crate::scalar::Real;

/// The Laplace kernel: `1/(4 pi r)` in 3D, `-ln(r)/(2 pi)` in 2D.
#[derive(Clone, Copy, Debug, Default)]
pub struct Laplace;

impl Kernel<3> for Laplace {
    type Value<T: Real> = T;

    fn id(&self) -> KernelId {
        KernelId::new("laplace", 1)
    }

    fn scaling(&self) -> Scaling {
        Scaling::Homogeneous { degree: -1 }
    }

    #[inline]
    fn eval(&self, x: &[f64; 3], y: &[f64; 3]) -> f64 {
        generated::laplace3d_eval(x, y)
    }

    #[inline]
    fn eval_with_gradient(&self, x: &[f64; 3], y: &[f64; 3]) -> (f64, [f64; 3]) {
        generated::laplace3d_eval_with_gradient(x, y)
    }

    fn p2p<T: Real>(
        &self,
        sources: [&[T]; 3],
        charges: &[T],
        targets: [&[T]; 3],
        out: &mut [T],
        gradients: bool,
    ) {
        generated::laplace3d_p2p(sources, charges, targets, out, gradients);
    }
}

impl Kernel<2> for Laplace {
    type Value<T: Real> = T;

    fn id(&self) -> KernelId {
        KernelId::new("laplace", 1)
    }

    fn scaling(&self) -> Scaling {
        Scaling::PerLevel
    }

    #[inline]
    fn eval(&self, x: &[f64; 2], y: &[f64; 2]) -> f64 {
        generated::laplace2d_eval(x, y)
    }

    #[inline]
    fn eval_with_gradient(&self, x: &[f64; 2], y: &[f64; 2]) -> (f64, [f64; 2]) {
        generated::laplace2d_eval_with_gradient(x, y)
    }

    fn p2p<T: Real>(
        &self,
        sources: [&[T]; 2],
        charges: &[T],
        targets: [&[T]; 2],
        out: &mut [T],
        gradients: bool,
    ) {
        generated::laplace2d_p2p(sources, charges, targets, out, gradients);
    }
}
