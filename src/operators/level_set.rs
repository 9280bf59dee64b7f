//! One level set: every operator for boxes of one half-width, computed in f64.

use super::c2e::{Factored, check_to_equivalent};
use super::m2l_svd::compress;
use super::params::OperatorParams;
use super::translation::translations;
use crate::error::Result;
use crate::geometry::surface::unit_surface;
use crate::kernel::Kernel;

/// The operators of one level set (boxes of half-width `r`), as f64 arrays.
#[derive(Clone, Debug)]
pub struct LevelSet {
    /// Upward check-to-equivalent.
    pub uc2e: Factored,
    /// Downward check-to-equivalent.
    pub dc2e: Factored,
    /// `n x (2^D n)`: parent multipole from the children's multipoles, block per child.
    pub m2m: Vec<f64>,
    /// `2^D` blocks of `n x n`: child's downward check potential from the parent's local density.
    pub l2l: Vec<f64>,
    /// `n x k` left basis of the compressed M2L.
    pub m2l_u: Vec<f64>,
    /// `k x n` right basis of the compressed M2L.
    pub m2l_vt: Vec<f64>,
    /// Each transfer vector's `k x k` core `C_t`, recompressed as `A_t B_t^T` with its own
    /// rank `r_t` (a well-separated interaction needs far fewer than `k` terms): the
    /// `k x r_t` factors `A_t = U_t S_t`, consecutive.
    pub m2l_core_a: Vec<f64>,
    /// The `r_t x k` factors `B_t^T = V_t^T`, consecutive, at the same offsets as
    /// [`m2l_core_a`](Self::m2l_core_a).
    pub m2l_core_bt: Vec<f64>,
    /// `r_t` per transfer vector.
    pub m2l_core_ranks: Vec<usize>,
    /// The M2L rank `k` of the shared bases.
    pub m2l_rank: usize,
}

impl LevelSet {
    /// The dense `k x k` core of transfer vector `t` rebuilt from its factors.
    pub fn m2l_core(&self, t: usize) -> Vec<f64> {
        let k = self.m2l_rank;
        let off: usize = self.m2l_core_ranks[..t].iter().map(|r| k * r).sum();
        let r = self.m2l_core_ranks[t];
        let a = &self.m2l_core_a[off..off + k * r];
        let bt = &self.m2l_core_bt[off..off + k * r];
        let mut c = vec![0.0; k * k];
        for j in 0..k {
            for l in 0..r {
                let b = bt[j * r + l];
                for i in 0..k {
                    c[j * k + i] += a[l * k + i] * b;
                }
            }
        }
        c
    }
}

/// Computes the operators of a level set for boxes of half-width `r`.
pub fn level_set<K: Kernel<D>, const D: usize>(
    kernel: &K,
    order: usize,
    r: f64,
    prm: &OperatorParams,
) -> Result<LevelSet> {
    let unit = unit_surface::<D>(order);
    let (ai, ao, tol) = (prm.alpha_inner, prm.alpha_outer, prm.pinv_tolerance);
    let uc2e = check_to_equivalent(kernel, &unit, r, ao, ai, tol)?;
    let dc2e = check_to_equivalent(kernel, &unit, r, ai, ao, tol)?;
    let uc2e_parent = check_to_equivalent(kernel, &unit, 2.0 * r, ao, ai, tol)?;
    let (m2m, l2l) = translations(kernel, &unit, r, prm, &uc2e_parent);
    let m2l = compress(kernel, &unit, r, prm)?;
    Ok(LevelSet {
        uc2e,
        dc2e,
        m2m,
        l2l,
        m2l_u: m2l.u,
        m2l_vt: m2l.vt,
        m2l_core_a: m2l.core_a,
        m2l_core_bt: m2l.core_bt,
        m2l_core_ranks: m2l.core_ranks,
        m2l_rank: m2l.rank,
    })
}
