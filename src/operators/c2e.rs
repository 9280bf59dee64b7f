//! Check-to-equivalent operators: the kernel matrix between two surfaces and its regularised
//! pseudo-inverse, kept dense or as two factors, whichever is cheaper to apply.

use faer::Mat;

use crate::error::Result;
use crate::geometry::surface::scaled_surface;
use crate::kernel::Kernel;
use crate::linalg::decompose::{mul, svd_seq, to_vec};
use crate::scalar::Value;

/// `K(targets_i, sources_j)` as a dense real matrix: each kernel value a `REALS x REALS`
/// block ([`Value::block`]; a complex kernel's values act on the real and imaginary parts of
/// its densities), so the matrix is `REALS` times as tall and as wide as the point sets.
pub fn kernel_matrix<K: Kernel<D>, const D: usize>(
    kernel: &K,
    targets: &[[f64; D]],
    sources: &[[f64; D]],
) -> Mat<f64> {
    let r = <K::Value<f64> as Value>::REALS;
    if r == 1 {
        return Mat::from_fn(targets.len(), sources.len(), |i, j| {
            kernel.eval(&targets[i], &sources[j]).re()
        });
    }
    let mut m = Mat::zeros(r * targets.len(), r * sources.len());
    for (j, y) in sources.iter().enumerate() {
        for (i, x) in targets.iter().enumerate() {
            let v = kernel.eval(x, y);
            for b in 0..r {
                for a in 0..r {
                    m[(r * i + a, r * j + b)] = v.block(a, b);
                }
            }
        }
    }
    m
}

/// A matrix kept either dense or as two factors `a * b` (whichever is cheaper to apply).
#[derive(Clone, Debug)]
pub struct Factored {
    /// Rows x rank (or rows x cols when dense).
    pub a: Vec<f64>,
    /// Rank x cols; empty when dense.
    pub b: Vec<f64>,
    /// Rows of the full matrix.
    pub rows: usize,
    /// Columns of the full matrix.
    pub cols: usize,
    /// Inner dimension when factored (0 when dense).
    pub rank: usize,
}

/// Regularised pseudo-inverse `V S^+ U^T`, dropping singular values below `tol * s_max`.
pub fn pseudo_inverse(m: &Mat<f64>, tol: f64) -> Result<Factored> {
    let (s, u, v) = svd_seq(m.as_ref(), true, "check-to-equivalent matrix")?;
    let u = u.expect("requested");
    let smax = s[0];
    let rank = s.iter().filter(|&&x| x > tol * smax).count().max(1);
    let (rows, cols) = (m.ncols(), m.nrows());
    let a = Mat::from_fn(rows, rank, |i, j| v[(i, j)] / s[j]);
    let b = Mat::from_fn(rank, cols, |i, j| u[(j, i)]);
    if 2 * rank * (rows + cols) < 2 * rows * cols {
        Ok(Factored {
            a: to_vec(a.as_ref()),
            b: to_vec(b.as_ref()),
            rows,
            cols,
            rank,
        })
    } else {
        let d = mul(a.as_ref(), b.as_ref());
        Ok(Factored {
            a: to_vec(d.as_ref()),
            b: Vec::new(),
            rows,
            cols,
            rank: 0,
        })
    }
}

/// The check-to-equivalent operator of a box of half-width `r` centred at the origin: the
/// pseudo-inverse of `K(check surface, equivalent surface)`, the surfaces being `unit` at radii
/// `check * r` and `equivalent * r` (upward: `alpha_outer`, `alpha_inner`; downward: swapped).
pub fn check_to_equivalent<K: Kernel<D>, const D: usize>(
    kernel: &K,
    unit: &[[f64; D]],
    r: f64,
    check: f64,
    equivalent: f64,
    tol: f64,
) -> Result<Factored> {
    let zero = [0.0; D];
    let k = kernel_matrix(
        kernel,
        &scaled_surface(unit, zero, check * r),
        &scaled_surface(unit, zero, equivalent * r),
    );
    pseudo_inverse(&k, tol)
}

/// The dense matrix of `f`.
pub(crate) fn dense(f: &Factored) -> Mat<f64> {
    if f.rank == 0 {
        Mat::from_fn(f.rows, f.cols, |i, j| f.a[i + j * f.rows])
    } else {
        let a = Mat::from_fn(f.rows, f.rank, |i, j| f.a[i + j * f.rows]);
        let b = Mat::from_fn(f.rank, f.cols, |i, j| f.b[i + j * f.rank]);
        mul(a.as_ref(), b.as_ref())
    }
}
