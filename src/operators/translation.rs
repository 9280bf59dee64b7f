//! M2M and L2L: the translations between a box and its `2^D` children.

use faer::Mat;

use super::c2e::{Factored, dense, kernel_matrix};
use super::params::OperatorParams;
use crate::geometry::surface::scaled_surface;
use crate::geometry::transfer::child_offset;
use crate::kernel::Kernel;
use crate::linalg::decompose::{mul, to_vec};

/// The M2M and L2L blocks of boxes of half-width `r` (children) and their parent, one
/// `n x n` block per child position: `m2m` gives the parent's multipole from child `c`'s
/// (including the parent's upward check-to-equivalent `uc2e_parent`), `l2l` the child's
/// downward check potential from the parent's local density.
pub fn translations<K: Kernel<D>, const D: usize>(
    kernel: &K,
    unit: &[[f64; D]],
    r: f64,
    prm: &OperatorParams,
    uc2e_parent: &Factored,
) -> (Vec<f64>, Vec<f64>) {
    // Values per surface: points times the reals of a kernel value.
    let n = unit.len() * <K::Value<f64> as crate::scalar::Value>::REALS;
    let zero = [0.0; D];
    let (ai, ao) = (prm.alpha_inner, prm.alpha_outer);
    let uc2e_parent: Mat<f64> = dense(uc2e_parent);
    let n_children = 1usize << D;
    let mut m2m = vec![0.0; n * n * n_children];
    let mut l2l = vec![0.0; n * n * n_children];
    // The parent's upward check and downward equivalent surfaces are the same points.
    let parent_outer = scaled_surface(unit, zero, ao * 2.0 * r);
    for c in 0..n_children {
        let cc: [f64; D] = child_offset::<D>(c).map(|b| (2 * b - 1) as f64 * r);
        let child_inner = scaled_surface(unit, cc, ai * r);
        let k_up = kernel_matrix(kernel, &parent_outer, &child_inner);
        let block = mul(uc2e_parent.as_ref(), k_up.as_ref());
        m2m[c * n * n..(c + 1) * n * n].copy_from_slice(&to_vec(block.as_ref()));
        let k_down = kernel_matrix(kernel, &child_inner, &parent_outer);
        l2l[c * n * n..(c + 1) * n * n].copy_from_slice(&to_vec(k_down.as_ref()));
    }
    (m2m, l2l)
}
