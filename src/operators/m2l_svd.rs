//! The SVD-compressed M2L: shared bases from the stacked transfer matrices, and each transfer
//! vector's core recompressed to its own rank.

use faer::{Mat, MatRef, c64};
use rayon::prelude::*;

use super::c2e::kernel_matrix;
use super::params::OperatorParams;
use crate::error::Result;
use crate::geometry::surface::scaled_surface;
use crate::geometry::transfer::{transfer_index, transfer_vectors};
use crate::kernel::Kernel;
use crate::linalg::decompose::{Field, LowRank, adjoint, low_rank, mul, stacked_svd, to_vec};
use crate::scalar::Value;

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
///
/// A complex kernel's matrices are decomposed as complex matrices (half the flops of their
/// realified real form, whose singular values come in equal pairs) and the factors realified
/// afterwards, so the evaluator applies real `2 x 2`-block operators of twice the complex rank.
pub fn compress<K: Kernel<D>, const D: usize>(
    kernel: &K,
    unit: &[[f64; D]],
    r: f64,
    prm: &OperatorParams,
) -> Result<CompressedM2l> {
    let zero = [0.0; D];
    let ai = prm.alpha_inner;
    let tv = transfer_vectors::<D>();
    let check = scaled_surface(unit, zero, ai * r);
    let mats: Vec<Mat<f64>> = tv
        .par_iter()
        .map(|t| {
            let centre: [f64; D] = std::array::from_fn(|k| 2.0 * r * t[k] as f64);
            kernel_matrix(kernel, &check, &scaled_surface(unit, centre, ai * r))
        })
        .collect();
    if <K::Value<f64> as Value>::REALS == 1 {
        return Ok(compress_mats::<_, D>(&mats, prm)?.into_columns(|m| m.to_owned()));
    }
    let mats: Vec<Mat<c64>> = mats.par_iter().map(complex_of).collect();
    Ok(compress_mats::<_, D>(&mats, prm)?.into_columns(realify))
}

/// The shared bases `u`, `v` (`n x k`) and the recompressed cores `C_t = u^H M_t v ~= a_t bt_t`.
struct Factors<T> {
    u: Mat<T>,
    v: Mat<T>,
    cores: Vec<LowRank<T>>,
}

impl<T: Field> Factors<T> {
    /// The evaluator's real arrays, each matrix passed through `real` (the identity for `f64`,
    /// [`realify`] for `c64`) first.
    fn into_columns(self, real: impl Fn(MatRef<T>) -> Mat<f64>) -> CompressedM2l {
        let u = real(self.u.as_ref());
        let vt = real(adjoint(self.v.as_ref()).as_ref());
        let mut out = CompressedM2l {
            rank: u.ncols(),
            u: to_vec(u.as_ref()),
            vt: to_vec(vt.as_ref()),
            core_a: Vec::new(),
            core_bt: Vec::new(),
            core_ranks: Vec::with_capacity(self.cores.len()),
        };
        for c in &self.cores {
            let (a, bt) = (real(c.a.as_ref()), real(c.bt.as_ref()));
            // `c.rank` complex columns are `2 c.rank` real ones.
            debug_assert_eq!(a.ncols() % c.rank.max(1), 0);
            out.core_ranks.push(a.ncols());
            out.core_a.extend_from_slice(&to_vec(a.as_ref()));
            out.core_bt.extend_from_slice(&to_vec(bt.as_ref()));
        }
        out
    }
}

/// The complex matrix whose realified form ([`realify`]) is `m` (`2 x 2` blocks
/// `[[re, -im], [im, re]]`, as [`kernel_matrix`] builds them).
fn complex_of(m: &Mat<f64>) -> Mat<c64> {
    Mat::from_fn(m.nrows() / 2, m.ncols() / 2, |i, j| {
        c64::new(m[(2 * i, 2 * j)], m[(2 * i + 1, 2 * j)])
    })
}

/// The real `2 x 2`-block form of a complex matrix: entry `z` at `(i, j)` becomes
/// `[[re z, -im z], [im z, re z]]` at rows `2i, 2i + 1` and columns `2j, 2j + 1`.
fn realify(m: MatRef<c64>) -> Mat<f64> {
    Mat::from_fn(2 * m.nrows(), 2 * m.ncols(), |i, j| {
        let z = m[(i / 2, j / 2)];
        match (i % 2, j % 2) {
            (0, 0) | (1, 1) => z.re,
            (1, 0) => z.im,
            _ => -z.im,
        }
    })
}

/// Shared bases from the stacked matrices, then each core recompressed to its own rank.
fn compress_mats<T: Field, const D: usize>(
    mats: &[Mat<T>],
    prm: &OperatorParams,
) -> Result<Factors<T>> {
    let tv = transfer_vectors::<D>();
    let nt = mats.len();
    // The left basis: right singular vectors of fat^H = [M_1^H; M_2^H; ...] (nt n x n); the
    // right basis: those of thin = [M_1; M_2; ...]. The M2L check and equivalent surfaces are
    // the same points (radius alpha_inner r) about their centres, so for a symmetric,
    // translation-invariant kernel M_{-t} = M_t^T: fat^H is the conjugate of thin with its
    // blocks permuted, and one decomposition serves both bases (the left one conjugated).
    // Checked, to well below the compression tolerance, for every pair.
    let sym_tol = (0.01 * prm.m2l_tolerance).min(1e-12);
    let symmetric = (0..nt).into_par_iter().all(|t| {
        let neg = transfer_index::<D>(tv[t].map(|x| -x)).expect("the set is symmetric");
        neg < t || nearly_transposed(&mats[t], &mats[neg], sym_tol)
    });
    let (fat, thin) = if symmetric {
        let (s, v) = stacked_svd(mats, false)?;
        let conj = Mat::from_fn(v.nrows(), v.ncols(), |i, j| v[(i, j)].conjugate());
        ((s.clone(), conj), (s, v))
    } else {
        let (fat, thin) = rayon::join(|| stacked_svd(mats, true), || stacked_svd(mats, false));
        (fat?, thin?)
    };
    let ((s_fat, v_fat), (s_thin, v_thin)) = (fat, thin);
    let rank_of = |s: &[f64]| s.iter().filter(|&&x| x > prm.m2l_tolerance * s[0]).count();
    let k = rank_of(&s_fat).max(rank_of(&s_thin)).max(1);
    let u = v_fat.subcols(0, k).to_owned(); // n x k
    let v = v_thin.subcols(0, k).to_owned(); // n x k
    let ut = adjoint(u.as_ref());
    // Each core C_t = U^H M_t V, recompressed by its own truncated SVD (randomised where its
    // rank is small) to the same relative tolerance.
    let cores = mats
        .par_iter()
        .enumerate()
        .map(|(t, m)| {
            let c = mul(mul(ut.as_ref(), m.as_ref()).as_ref(), v.as_ref());
            low_rank(c.as_ref(), prm.m2l_tolerance, t as u64, "M2L core")
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Factors { u, v, cores })
}

/// Whether `b` equals `a^T` to within `tol` times `a`'s largest entry.
fn nearly_transposed<T: Field>(a: &Mat<T>, b: &Mat<T>, tol: f64) -> bool {
    use faer::traits::math_utils::{abs, sub};
    let n = a.nrows();
    if a.shape() != (n, n) || b.shape() != (n, n) {
        return false;
    }
    let bt = b.transpose();
    let scale = (0..n).fold(0.0f64, |m, j| a.col(j).iter().fold(m, |m, x| m.max(abs(x))));
    (0..n).all(|j| {
        a.col(j)
            .iter()
            .zip(bt.col(j).iter())
            .all(|(x, y)| abs(&sub(x, y)) <= tol * scale)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::surface::unit_surface;
    use crate::kernel::{Helmholtz, Laplace};
    use crate::scalar::Complex;

    /// `u (a_t bt_t) vt` against the dense `M_t`, relative Frobenius error, for every `t`.
    fn worst_error<K: Kernel<3>>(kernel: &K, p: usize, r: f64) -> (f64, usize) {
        let unit = unit_surface::<3>(p);
        let prm = OperatorParams::defaults(p, f64::EPSILON);
        let c = compress(kernel, &unit, r, &prm).unwrap();
        let n = unit.len() * <K::Value<f64> as Value>::REALS;
        let k = c.rank;
        let col =
            |v: &[f64], rows: usize, cols: usize| Mat::from_fn(rows, cols, |i, j| v[i + j * rows]);
        let (u, vt) = (col(&c.u, n, k), col(&c.vt, k, n));
        let check = scaled_surface(&unit, [0.0; 3], prm.alpha_inner * r);
        let mut off = 0;
        let mut worst = 0.0f64;
        for (t, tv) in transfer_vectors::<3>().iter().enumerate() {
            let rt = c.core_ranks[t];
            let a = col(&c.core_a[off..off + k * rt], k, rt);
            let bt = col(&c.core_bt[off..off + rt * k], rt, k);
            off += k * rt;
            let approx = mul(
                mul(u.as_ref(), mul(a.as_ref(), bt.as_ref()).as_ref()).as_ref(),
                vt.as_ref(),
            );
            let centre = tv.map(|x| 2.0 * r * x as f64);
            let m = kernel_matrix(
                kernel,
                &check,
                &scaled_surface(&unit, centre, prm.alpha_inner * r),
            );
            let mut diff = m.clone();
            for j in 0..n {
                for i in 0..n {
                    diff[(i, j)] -= approx[(i, j)];
                }
            }
            worst = worst.max(diff.norm_l2() / m.norm_l2());
        }
        (worst, k)
    }

    /// The complex route (complex SVD, realified factors) reproduces every Helmholtz M2L
    /// matrix to the compression tolerance, with an even realified rank, as the real route
    /// does for Laplace.
    #[test]
    fn compressed_m2l_reproduces_every_transfer_matrix() {
        let p = 4;
        let tol = OperatorParams::defaults(p, f64::EPSILON).m2l_tolerance;
        let (e, _) = worst_error(&Laplace, p, 0.5);
        assert!(e < 100.0 * tol, "laplace: {e:e}");
        for k in [Complex::new(3.0, 0.0), Complex::new(3.0, 1.5)] {
            let h = Helmholtz::complex(k).unwrap();
            let (e, rank) = worst_error(&h, p, 0.5);
            assert!(e < 100.0 * tol, "helmholtz {k}: {e:e}");
            assert_eq!(rank % 2, 0, "complex rank doubled");
        }
    }
}
