//! The SVD-compressed M2L: shared bases from the stacked transfer matrices, and each transfer
//! vector's core recompressed to its own rank.

use faer::Mat;
use rayon::prelude::*;

use super::c2e::kernel_matrix;
use super::params::OperatorParams;
use crate::error::Result;
use crate::geometry::surface::scaled_surface;
use crate::geometry::transfer::{transfer_index, transfer_vectors};
use crate::kernel::Kernel;
use crate::linalg::decompose::{low_rank, mul, stacked_svd, to_vec};

/// The compressed M2L of boxes of half-width `r`: `M_t ~= u (a_t b_t^T) vt` for every transfer
/// vector `t`, column-major f64 arrays.
#[derive(Clone, Debug)]
pub struct CompressedM2l {
    /// `n x k` left basis.
    pub u: Vec<f64>,
    /// `k x n` right basis.
    pub vt: Vec<f64>,
    /// The `k x r_t` factors `A_t`, consecutive.
    pub core_a: Vec<f64>,
    /// The `r_t x k` factors `B_t^T`, consecutive, at the same offsets.
    pub core_bt: Vec<f64>,
    /// `r_t` per transfer vector.
    pub core_ranks: Vec<usize>,
    /// The rank `k` of the shared bases.
    pub rank: usize,
}

/// Compresses the M2L matrices of every transfer vector for boxes of half-width `r`.
pub fn compress<K: Kernel<D>, const D: usize>(
    kernel: &K,
    unit: &[[f64; D]],
    r: f64,
    prm: &OperatorParams,
) -> Result<CompressedM2l> {
    let zero = [0.0; D];
    let ai = prm.alpha_inner;
    // M2L: every transfer vector's matrix; shared bases from the stacked matrices.
    let tv = transfer_vectors::<D>();
    let nt = tv.len();
    let check = scaled_surface(unit, zero, ai * r);
    let mats: Vec<Mat<f64>> = tv
        .par_iter()
        .map(|t| {
            let centre: [f64; D] = std::array::from_fn(|k| 2.0 * r * t[k] as f64);
            kernel_matrix(kernel, &check, &scaled_surface(unit, centre, ai * r))
        })
        .collect();
    // The left basis: right singular vectors of fat^T = [M_1^T; M_2^T; ...] (nt n x n); the
    // right basis: those of thin = [M_1; M_2; ...]. The M2L check and equivalent surfaces are the same points (radius alpha_inner r) about
    // their centres, so for a symmetric, translation-invariant kernel M_{-t} = M_t^T: thin is
    // fat^T with its blocks permuted, and one decomposition serves both bases. Checked, to
    // well below the compression tolerance, for every pair.
    let sym_tol = (0.01 * prm.m2l_tolerance).min(1e-12);
    let symmetric = (0..nt).into_par_iter().all(|t| {
        let neg = transfer_index::<D>(tv[t].map(|x| -x)).expect("the set is symmetric");
        neg < t || nearly_transposed(&mats[t], &mats[neg], sym_tol)
    });
    let (fat, thin) = if symmetric {
        let thin = stacked_svd(&mats, false)?;
        (thin.clone(), thin)
    } else {
        let (fat, thin) = rayon::join(|| stacked_svd(&mats, true), || stacked_svd(&mats, false));
        (fat?, thin?)
    };
    let ((s_fat, v_fat), (s_thin, v_thin)) = (fat, thin);
    let rank_of = |s: &[f64]| s.iter().filter(|&&x| x > prm.m2l_tolerance * s[0]).count();
    let k = rank_of(&s_fat).max(rank_of(&s_thin)).max(1);
    let u = v_fat.subcols(0, k).to_owned(); // n x k
    let v = v_thin.subcols(0, k).to_owned(); // n x k
    let ut = u.transpose().to_owned();
    // Each core C_t = U^T M_t V, recompressed by its own truncated SVD (randomised where its
    // rank is small) to the same relative tolerance.
    let cores: Vec<Result<CoreFactors>> = mats
        .par_iter()
        .enumerate()
        .map(|(t, m)| {
            let c = mul(mul(ut.as_ref(), m.as_ref()).as_ref(), v.as_ref());
            let f = low_rank(c.as_ref(), prm.m2l_tolerance, t as u64, "M2L core")?;
            Ok((f.rank, to_vec(f.a.as_ref()), to_vec(f.bt.as_ref())))
        })
        .collect();
    let mut m2l_core_a = Vec::new();
    let mut m2l_core_bt = Vec::new();
    let mut m2l_core_ranks = Vec::with_capacity(nt);
    for c in cores {
        let (r, a, bt) = c?;
        m2l_core_ranks.push(r);
        m2l_core_a.extend_from_slice(&a);
        m2l_core_bt.extend_from_slice(&bt);
    }
    Ok(CompressedM2l {
        u: to_vec(u.as_ref()),
        vt: to_vec(v.transpose()),
        core_a: m2l_core_a,
        core_bt: m2l_core_bt,
        core_ranks: m2l_core_ranks,
        rank: k,
    })
}

/// Whether `b` equals `a^T` to within `tol` times `a`'s largest entry.
fn nearly_transposed(a: &Mat<f64>, b: &Mat<f64>, tol: f64) -> bool {
    let n = a.nrows();
    if a.shape() != (n, n) || b.shape() != (n, n) {
        return false;
    }
    let bt = b.transpose();
    let scale = (0..n).fold(0.0f64, |m, j| {
        a.col(j).iter().fold(m, |m, x| m.max(x.abs()))
    });
    (0..n).all(|j| {
        a.col(j)
            .iter()
            .zip(bt.col(j).iter())
            .all(|(x, y)| (x - y).abs() <= tol * scale)
    })
}

/// One recompressed M2L core: rank `r_t`, `A_t` (`k x r_t`) and `B_t^T` (`r_t x k`), column-major.
type CoreFactors = (usize, Vec<f64>, Vec<f64>);
