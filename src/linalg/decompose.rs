//! The decompositions of the operator precomputation, all sequential (so that operators do not
//! depend on the thread count; parallelism comes from independent items): thin SVD, Householder
//! QR, a certified randomised low-rank factorisation, and the SVD of a stack of square blocks
//! through a tall-skinny QR. Each is generic over [`Field`]: real (`f64`) or complex (`c64`,
//! for the complex kernels' M2L, half the work of the realified real matrices).

use faer::diag::Diag;
use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::matmul::matmul;
use faer::linalg::svd::{ComputeSvdVectors, svd, svd_scratch};
use faer::{Accum, Mat, MatRef, Par};
use rayon::prelude::*;

use crate::error::{Error, Result};

/// The entries of the decomposed matrices: `f64` or `c64` (faer's field, with `f64` parts).
pub(crate) trait Field: faer::traits::ComplexField<Real = f64> + Copy {
    /// The value with real part `x` and no imaginary part.
    fn from_re(x: f64) -> Self;
    /// The real part.
    fn re_part(self) -> f64;
    /// `self * x`.
    fn scale(self, x: f64) -> Self;
    /// The complex conjugate (the value itself when real).
    fn conjugate(self) -> Self;
}

impl Field for f64 {
    fn from_re(x: f64) -> Self {
        x
    }
    fn re_part(self) -> f64 {
        self
    }
    fn scale(self, x: f64) -> Self {
        self * x
    }
    fn conjugate(self) -> Self {
        self
    }
}

impl Field for faer::c64 {
    fn from_re(x: f64) -> Self {
        faer::c64::new(x, 0.0)
    }
    fn re_part(self) -> f64 {
        self.re
    }
    fn scale(self, x: f64) -> Self {
        faer::c64::new(self.re * x, self.im * x)
    }
    fn conjugate(self) -> Self {
        faer::c64::new(self.re, -self.im)
    }
}

/// `a * b`, sequential: operator precomputation must not depend on the thread count, so
/// every dense kernel here runs in a fixed order (parallelism comes from independent items).
pub(crate) fn mul<T: Field>(a: MatRef<T>, b: MatRef<T>) -> Mat<T> {
    let mut c = Mat::zeros(a.nrows(), b.ncols());
    matmul(c.as_mut(), Accum::Replace, a, b, T::from_re(1.0), Par::Seq);
    c
}

/// The conjugate transpose of `m`, as a new matrix (the transpose when real).
pub(crate) fn adjoint<T: Field>(m: MatRef<T>) -> Mat<T> {
    Mat::from_fn(m.ncols(), m.nrows(), |i, j| m[(j, i)].conjugate())
}

/// Singular values, left vectors (when asked for), right vectors.
pub(crate) type SvdParts<T> = (Vec<f64>, Option<Mat<T>>, Mat<T>);

/// Thin SVD `a = u s v^H`, sequential (see [`mul`]); `u` only when asked for.
pub(crate) fn svd_seq<T: Field>(a: MatRef<T>, want_u: bool, what: &str) -> Result<SvdParts<T>> {
    let (m, n) = a.shape();
    let k = m.min(n);
    let mut s = Diag::<T>::zeros(k);
    let mut u = if want_u {
        Some(Mat::<T>::zeros(m, k))
    } else {
        None
    };
    let mut v = Mat::<T>::zeros(n, k);
    let cu = if want_u {
        ComputeSvdVectors::Thin
    } else {
        ComputeSvdVectors::No
    };
    let req = svd_scratch::<T>(
        m,
        n,
        cu,
        ComputeSvdVectors::Thin,
        Par::Seq,
        Default::default(),
    );
    let mut mem = MemBuffer::new(req);
    svd(
        a,
        s.as_mut(),
        u.as_mut().map(|u| u.as_mut()),
        Some(v.as_mut()),
        Par::Seq,
        MemStack::new(&mut mem),
        Default::default(),
    )
    .map_err(|_| svd_failed(what))?;
    let sv = s.column_vector();
    Ok(((0..k).map(|i| sv[i].re_part()).collect(), u, v))
}

/// A truncated factorisation `m ~= a * bt`: rank `r`, `a` (`rows x r`, the left singular
/// vectors scaled by the singular values), `bt` (`r x cols`, the right singular vectors,
/// conjugate-transposed).
pub(crate) struct LowRank<T> {
    /// The rank `r` kept.
    pub rank: usize,
    /// `rows x r`, column-major.
    pub a: Mat<T>,
    /// `r x cols`, column-major.
    pub bt: Mat<T>,
    /// Whether the randomised path produced it (`false`: the full thin SVD did).
    #[cfg_attr(not(test), allow(dead_code))] // read by the tests of the two paths
    pub randomised: bool,
}

/// Smallest sketch width [`low_rank`] tries.
const SKETCH_START: usize = 32;

/// Truncated SVD of `m`, keeping the singular values above `tol * s_max`, sequential and
/// deterministic (the random sketch comes from `seed`).
///
/// A large matrix of low numerical rank (the M2L cores: rank about `k / 7` at p = 10) goes
/// through a randomised range finder (Halko, Martinsson and Tropp, 2011): an orthonormal
/// basis `Q` of `m * Omega` for a random `cols x l` matrix `Omega`, refined by one power
/// iteration, then the small SVD of `Q^T m`. The sketch is accepted when the residual of the
/// projection is certified small, `||m - Q Q^T m||_F <= tol * s_max / 10`, so the
/// factorisation is within `1.1 tol s_max` of `m` in the spectral norm (the full SVD's
/// truncation is within `tol s_max`); otherwise a wider sketch is tried
/// ([`next_sketch_width`]). Once `2 l` would exceed `min(rows, cols)`, the sketch would save
/// nothing, and the full thin SVD is used.
pub(crate) fn low_rank<T: Field>(
    m: MatRef<T>,
    tol: f64,
    seed: u64,
    what: &str,
) -> Result<LowRank<T>> {
    let (rows, cols) = m.shape();
    let small = rows.min(cols);
    if small == 0 {
        return Ok(LowRank {
            rank: 0,
            a: Mat::zeros(rows, 0),
            bt: Mat::zeros(0, cols),
            randomised: false,
        });
    }
    let mut l = SKETCH_START;
    let mut rng = SplitMix64(seed);
    while 2 * l <= small {
        // A real sketch serves a complex matrix as well (its range is as generic).
        let omega = Mat::from_fn(cols, l, |_, _| T::from_re(rng.uniform()));
        let q = orthonormal_basis(mul(m, omega.as_ref()).as_ref());
        // One power iteration (re-orthonormalised at each step, so that singular values far
        // below sqrt(eps) s_max keep their directions).
        let q = orthonormal_basis(mul(adjoint(m).as_ref(), q.as_ref()).as_ref());
        let q = orthonormal_basis(mul(m, q.as_ref()).as_ref());
        let b = mul(adjoint(q.as_ref()).as_ref(), m); // l x cols
        let (s, ub, vb) = svd_seq(b.as_ref(), true, what)?;
        let smax = s[0];
        if smax == 0.0 {
            break;
        }
        let mut resid = m.to_owned();
        matmul(
            resid.as_mut(),
            Accum::Add,
            q.as_ref(),
            b.as_ref(),
            T::from_re(-1.0),
            Par::Seq,
        );
        if resid.norm_l2() <= 0.1 * tol * smax {
            // m ~= Q B = (Q U_B) S V_B^T.
            let qu = mul(q.as_ref(), ub.expect("left vectors requested").as_ref());
            return Ok(LowRank::truncated(qu.as_ref(), &s, vb.as_ref(), tol, true));
        }
        l = next_sketch_width(&s, tol, l, small);
    }
    let (s, u, v) = svd_seq(m, true, what)?;
    let u = u.expect("left vectors requested");
    Ok(LowRank::truncated(u.as_ref(), &s, v.as_ref(), tol, false))
}

impl<T: Field> LowRank<T> {
    /// `u s v^H` (`s` descending) truncated to the singular values above `tol * s[0]` (at
    /// least one): `a = u_r s_r`, `bt = v_r^H`.
    fn truncated(u: MatRef<T>, s: &[f64], v: MatRef<T>, tol: f64, randomised: bool) -> Self {
        let r = s.iter().filter(|&&x| x > tol * s[0]).count().max(1);
        LowRank {
            rank: r,
            a: Mat::from_fn(u.nrows(), r, |i, j| u[(i, j)].scale(s[j])),
            bt: adjoint(v.subcols(0, r)),
            randomised,
        }
    }
}

/// The sketch width to try after width `l` fell short, from the singular values `s` it
/// found: where their geometric decay over the second half of the sketch says they fall
/// below `tol s_max / 100` (so that the residual passes the acceptance test), with a quarter
/// more plus 8 as margin, at least `l + 16`, at most `limit`. Only a guess: the next sketch
/// is certified like the first.
fn next_sketch_width(s: &[f64], tol: f64, l: usize, limit: usize) -> usize {
    let (mid, last) = (s[l / 2], s[l - 1]);
    let target = 0.01 * tol * s[0];
    let decay = (last / mid).powf(1.0 / (l - 1 - l / 2) as f64);
    let more = if last > target && target > 0.0 && decay > 0.0 && decay < 1.0 {
        (target / last).ln() / decay.ln()
    } else {
        l as f64
    };
    let next = (l as f64 + 1.25 * more.ceil() + 8.0).max((l + 16) as f64);
    // In f64, then clamped: an underflowing target must not overflow the width.
    next.min(limit as f64) as usize
}

/// SplitMix64 (Steele, Lea and Flood, 2014): the sketches' random numbers, defined here so
/// that the operators do not change with a random-number crate's version.
struct SplitMix64(u64);

impl SplitMix64 {
    /// Uniform in `[-1, 1)`.
    fn uniform(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 * (2.0 / (1u64 << 53) as f64) - 1.0
    }
}

/// Householder QR of `a` (`rows >= cols`) in place, sequential (see [`mul`]): `R` on and
/// above the diagonal, the Householder vectors below it, and their block coefficients.
pub(crate) fn qr_seq<T: Field>(a: &mut Mat<T>) -> Mat<T> {
    use faer::linalg::qr::no_pivoting::factor::{
        qr_in_place, qr_in_place_scratch, recommended_block_size,
    };
    let (m, n) = a.shape();
    let block = recommended_block_size::<T>(m, n);
    let mut coeff = Mat::<T>::zeros(block, n);
    let req = qr_in_place_scratch::<T>(m, n, block, Par::Seq, Default::default());
    qr_in_place(
        a.as_mut(),
        coeff.as_mut(),
        Par::Seq,
        MemStack::new(&mut MemBuffer::new(req)),
        Default::default(),
    );
    coeff
}

/// An orthonormal basis of the columns of `y` (`rows >= cols`): the thin `Q` of its
/// Householder QR.
pub(crate) fn orthonormal_basis<T: Field>(y: MatRef<T>) -> Mat<T> {
    use faer::linalg::householder::{
        apply_block_householder_sequence_on_the_left_in_place_scratch as apply_scratch,
        apply_block_householder_sequence_on_the_left_in_place_with_conj as apply,
    };
    let (m, n) = y.shape();
    let mut basis = y.to_owned();
    let coeff = qr_seq(&mut basis);
    // The Householder vectors are below the diagonal, with an implicit unit diagonal.
    for j in 0..n {
        basis[(j, j)] = T::from_re(1.0);
        for i in 0..j {
            basis[(i, j)] = T::from_re(0.0);
        }
    }
    let mut q = Mat::<T>::identity(m, n);
    let req = apply_scratch::<T>(m, coeff.nrows(), n);
    apply(
        basis.as_ref(),
        coeff.as_ref(),
        faer::Conj::No,
        q.as_mut(),
        Par::Seq,
        MemStack::new(&mut MemBuffer::new(req)),
    );
    q
}

/// The entries of `m`, column-major.
pub(crate) fn to_vec<T: Field>(m: faer::MatRef<T>) -> Vec<T> {
    let mut v = Vec::with_capacity(m.nrows() * m.ncols());
    for j in 0..m.ncols() {
        for i in 0..m.nrows() {
            v.push(m[(i, j)]);
        }
    }
    v
}

pub(crate) fn svd_failed(what: &str) -> Error {
    Error::InvalidParameter {
        name: "operators",
        reason: format!("SVD of the {what} did not converge"),
    }
}

/// Number of row groups in [`stacked_svd`]: fixed, so that the result does not depend on
/// the thread count.
const STACK_GROUPS: usize = 8;

/// Singular values and right singular vectors of the tall matrix `[M_1; M_2; ...]` of the
/// square `mats` (of `[M_1^H; M_2^H; ...]` with `transpose`, the conjugate transposes), without
/// forming it: a
/// tall-skinny QR, where each of [`STACK_GROUPS`] groups of consecutive blocks is reduced to
/// its `R` factor in parallel, the stacked `R` factors are reduced once more, and the SVD of
/// the final `n x n` `R` gives the singular values and right vectors of the whole, to the
/// accuracy of a Householder QR (faer's SVD of a tall matrix also starts with one).
pub(crate) fn stacked_svd<T: Field>(
    mats: &[Mat<T>],
    transpose: bool,
) -> Result<(Vec<f64>, Mat<T>)> {
    let n = mats[0].ncols();
    let per = mats.len().div_ceil(STACK_GROUPS);
    let rs: Vec<Mat<T>> = mats
        .par_chunks(per)
        .map(|group| {
            r_factor(Mat::from_fn(group.len() * n, n, |i, j| {
                let m = &group[i / n];
                if transpose {
                    m[(j, i % n)].conjugate()
                } else {
                    m[(i % n, j)]
                }
            }))
        })
        .collect();
    let r = r_factor(Mat::from_fn(rs.len() * n, n, |i, j| rs[i / n][(i % n, j)]));
    let (s, _, v) = svd_seq(r.as_ref(), false, "stacked M2L matrices")?;
    Ok((s, v))
}

/// The `n x n` upper-triangular `R` of the Householder QR of `a` (`rows >= n`), sequential.
fn r_factor<T: Field>(mut a: Mat<T>) -> Mat<T> {
    let n = a.ncols();
    qr_seq(&mut a);
    Mat::from_fn(
        n,
        n,
        |i, j| if i <= j { a[(i, j)] } else { T::from_re(0.0) },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn random(rows: usize, cols: usize, seed: u64) -> Mat<f64> {
        let mut rng = SplitMix64(seed);
        Mat::from_fn(rows, cols, |_, _| rng.uniform())
    }

    /// `Q1 diag(s) Q2^T` with random orthonormal `Q1`, `Q2`.
    fn with_spectrum(s: &[f64], seed: u64) -> Mat<f64> {
        let n = s.len();
        let q1 = orthonormal_basis(random(n, n, seed).as_ref());
        let q2 = orthonormal_basis(random(n, n, seed + 1).as_ref());
        let scaled = Mat::from_fn(n, n, |i, j| q1[(i, j)] * s[j]);
        mul(scaled.as_ref(), q2.transpose())
    }

    fn spectral_norm(m: MatRef<f64>) -> f64 {
        svd_seq(m, false, "test").unwrap().0[0]
    }

    fn residual(m: &Mat<f64>, f: &LowRank<f64>) -> Mat<f64> {
        let mut r = m.clone();
        matmul(
            r.as_mut(),
            Accum::Add,
            f.a.as_ref(),
            f.bt.as_ref(),
            -1.0,
            Par::Seq,
        );
        r
    }

    #[test]
    fn randomised_low_rank_is_within_the_tolerance() {
        let tol = 1e-10;
        let s: Vec<f64> = (0..300).map(|j| 0.7f64.powi(j)).collect();
        let exact_rank = s.iter().filter(|&&x| x > tol).count();
        let m = with_spectrum(&s, 1);
        let f = low_rank(m.as_ref(), tol, 7, "test").unwrap();
        assert!(
            f.randomised,
            "a rank-{exact_rank} matrix of size 300 takes the sketch"
        );
        assert!(
            f.rank.abs_diff(exact_rank) <= 1,
            "rank {} vs {exact_rank}",
            f.rank
        );
        let err = spectral_norm(residual(&m, &f).as_ref());
        assert!(err <= 1.1 * tol, "error {err:e} above 1.1 tol");
        // Deterministic for a seed.
        let g = low_rank(m.as_ref(), tol, 7, "test").unwrap();
        assert_eq!(f.a, g.a);
        assert_eq!(f.bt, g.bt);
    }

    #[test]
    fn full_rank_falls_back_to_the_full_svd() {
        let s: Vec<f64> = (0..200).map(|j| 1.0 / (1.0 + j as f64)).collect();
        let m = with_spectrum(&s, 3);
        let f = low_rank(m.as_ref(), 1e-10, 0, "test").unwrap();
        assert!(!f.randomised);
        assert_eq!(f.rank, 200);
        assert!(spectral_norm(residual(&m, &f).as_ref()) < 1e-13);
    }

    #[test]
    fn stacked_svd_matches_the_svd_of_the_stacked_matrix() {
        let n = 12;
        let full: Vec<Mat<f64>> = (0..30).map(|t| random(n, n, 100 + t)).collect();
        // Numerically low rank, like the M2L blocks: a shared right factor with singular
        // values 1 .. 1e-11.
        let q = orthonormal_basis(random(n, n, 99).as_ref());
        let graded_q = Mat::from_fn(n, n, |i, j| 0.1f64.powi(j as i32) * q[(i, j)]);
        let graded: Vec<Mat<f64>> = full
            .iter()
            .map(|m| mul(m.as_ref(), graded_q.transpose()))
            .collect();
        for (mats, transpose) in [
            (&full, false),
            (&full, true),
            (&graded, false),
            (&graded, true),
        ] {
            let whole = Mat::from_fn(mats.len() * n, n, |i, j| {
                let m = &mats[i / n];
                if transpose {
                    m[(j, i % n)].conjugate()
                } else {
                    m[(i % n, j)]
                }
            });
            let (s_ref, _, _) = svd_seq(whole.as_ref(), false, "test").unwrap();
            let (s, v) = stacked_svd(mats, transpose).unwrap();
            let av = mul(whole.as_ref(), v.as_ref());
            for j in 0..n {
                assert!((s[j] - s_ref[j]).abs() <= 1e-12 * s_ref[0], "s[{j}]");
                let norm = (0..av.nrows())
                    .map(|i| av[(i, j)].powi(2))
                    .sum::<f64>()
                    .sqrt();
                assert!((norm - s[j]).abs() <= 1e-12 * s_ref[0], "|A v_{j}|");
            }
            let vtv = mul(v.transpose(), v.as_ref());
            let id = Mat::<f64>::identity(n, n);
            assert!(spectral_norm((vtv - id).as_ref()) < 1e-13);
        }
    }

    /// The complex path: a complex matrix of known spectrum is factored to the tolerance, by
    /// the randomised route and by the full SVD, and the stacked SVD of complex blocks gives
    /// the singular values of the formed stack.
    #[test]
    fn complex_low_rank_and_stacked_svd() {
        use faer::c64;
        let n = 120;
        let mut rng = SplitMix64(7);
        let mut rnd =
            |r: usize, c: usize| Mat::from_fn(r, c, |_, _| c64::new(rng.uniform(), rng.uniform()));
        let q1 = orthonormal_basis(rnd(n, n).as_ref());
        let q2 = orthonormal_basis(rnd(n, n).as_ref());
        let s: Vec<f64> = (0..n).map(|i| 0.5f64.powi(i as i32)).collect();
        let scaled = Mat::from_fn(n, n, |i, j| q1[(i, j)].scale(s[j]));
        let m = mul(scaled.as_ref(), adjoint(q2.as_ref()).as_ref());
        for tol in [1e-6, 1e-12] {
            let f = low_rank(m.as_ref(), tol, 3, "test").unwrap();
            let exact_rank = s.iter().filter(|&&x| x > tol).count();
            assert!(
                f.rank.abs_diff(exact_rank) <= 1,
                "{} vs {exact_rank}",
                f.rank
            );
            let mut r = m.clone();
            matmul(
                r.as_mut(),
                Accum::Add,
                f.a.as_ref(),
                f.bt.as_ref(),
                c64::new(-1.0, 0.0),
                Par::Seq,
            );
            let e = svd_seq(r.as_ref(), false, "test").unwrap().0[0];
            assert!(e <= 1.1 * tol, "tol {tol}: residual {e:e}");
        }
        let blocks: Vec<Mat<c64>> = (0..5).map(|_| rnd(30, 30)).collect();
        for transpose in [false, true] {
            let (sv, _) = stacked_svd(&blocks, transpose).unwrap();
            let whole = Mat::from_fn(150, 30, |i, j| {
                let b = &blocks[i / 30];
                if transpose {
                    b[(j, i % 30)].conjugate()
                } else {
                    b[(i % 30, j)]
                }
            });
            let want = svd_seq(whole.as_ref(), false, "test").unwrap().0;
            for (a, b) in sv.iter().zip(&want) {
                assert!((a - b).abs() <= 1e-12 * want[0], "{a} vs {b}");
            }
        }
    }
}
