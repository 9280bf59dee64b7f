//! KIFMM operators: surfaces, check-to-equivalent pseudo-inverses, M2M/L2L, and the
//! SVD-compressed M2L, computed in f64 and stored in the precision of the run.
//!
//! Geometry for a box of half-width `r` centred at `c` (order `p`, unit surface `g`: the
//! boundary points of a `p^D` grid on `[-1, 1]^D`):
//!
//! | surface | points | used by |
//! |---|---|---|
//! | upward equivalent | `c + alpha_inner r g` | M2M, M2L, M2P read the multipole here |
//! | upward check | `c + alpha_outer r g` | P2M, M2M |
//! | downward equivalent | `c + alpha_outer r g` | L2L, L2P read the local expansion here |
//! | downward check | `c + alpha_inner r g` | M2L, P2L, L2L write potentials here |
//!
//! Operators of one *level set* are computed for boxes of half-width `r`:
//! `uc2e`, `dc2e` (regularised pseudo-inverses, as two factors `a * b` when that is cheaper
//! than the dense product), `m2m` (`2^D` blocks: parent multipole from child `c`, already
//! including the parent's `uc2e`), `l2l` (`2^D` blocks: child's downward check potential
//! from the parent's local density), and the compressed M2L: `m2l_u` (n x k), `m2l_vt`
//! (k x n) and one `k x k` core per transfer vector, so that
//! `M2L_t ~= m2l_u * core_t * m2l_vt`.
//!
//! Homogeneous kernels (`K(s x, s y) = s^d K(x, y)`) need one level set, computed at `r = 1`,
//! and per-level scalars ([`LevelScales`]); other kernels get one level set per tree level.

use faer::diag::Diag;
use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::matmul::matmul;
use faer::linalg::svd::{ComputeSvdVectors, svd, svd_scratch};
use faer::{Accum, Mat, MatRef, Par};
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::kernel::Kernel;

/// Parameters that define a set of operators (besides kernel, order, dimension, precision).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OperatorParams {
    /// Radius factor of the inner surfaces (upward equivalent, downward check).
    pub alpha_inner: f64,
    /// Radius factor of the outer surfaces (upward check, downward equivalent).
    pub alpha_outer: f64,
    /// Relative singular-value cutoff of the check-to-equivalent pseudo-inverses.
    pub pinv_tolerance: f64,
    /// Relative singular-value cutoff of the M2L compression.
    pub m2l_tolerance: f64,
}

impl OperatorParams {
    /// Defaults for order `p` and unit roundoff `epsilon` of the run's precision:
    /// alphas 1.05 / 2.95; pseudo-inverse cutoff 1e-9 for both precisions, since the
    /// check-to-equivalent operators are kept and applied in f64 (smaller cutoffs let roundoff
    /// into the equivalent densities: at p = 10, f64, 1e-13 gives 3e-6 against 5e-9 with 1e-9);
    /// M2L cutoff `10^-p` (f64; at p = 6 rank 116 of 152, costing < 10 % in
    /// accuracy against the uncompressed M2L), at least `100 epsilon`.
    pub fn defaults(order: usize, epsilon: f64) -> Self {
        Self {
            alpha_inner: 1.05,
            alpha_outer: 2.95,
            // The check-to-equivalent operators are applied in f64 for both precisions.
            pinv_tolerance: 1e-9,
            m2l_tolerance: 10f64.powi(-(order as i32)).max(100.0 * epsilon),
        }
    }
}

/// Number of points on the order-`p` surface in `D` dimensions: `p^D - (p - 2)^D`
/// (3D: `6 (p - 1)^2 + 2`, 2D: `4 (p - 1)`).
pub const fn surface_len(d: usize, p: usize) -> usize {
    p.pow(d as u32) - (p - 2).pow(d as u32)
}

/// The unit surface: boundary points of a `p^D` grid on `[-1, 1]^D`, lexicographic order.
pub fn unit_surface<const D: usize>(p: usize) -> Vec<[f64; D]> {
    let total = p.pow(D as u32);
    let mut out = Vec::with_capacity(surface_len(D, p));
    for idx in 0..total {
        let mut t = idx;
        let mut pt = [0.0; D];
        let mut on_boundary = false;
        for k in (0..D).rev() {
            let i = t % p;
            t /= p;
            on_boundary |= i == 0 || i == p - 1;
            pt[k] = -1.0 + 2.0 * i as f64 / (p - 1) as f64;
        }
        if on_boundary {
            out.push(pt);
        }
    }
    out
}

/// The M2L transfer vectors: offsets (in box widths) in `[-3, 3]^D` that are not adjacent,
/// in lexicographic order (3D: 316, 2D: 40).
pub fn transfer_vectors<const D: usize>() -> Vec<[i64; D]> {
    let total = 7usize.pow(D as u32);
    (0..total)
        .filter_map(|idx| {
            let mut t = idx;
            let mut o = [0i64; D];
            for k in (0..D).rev() {
                o[k] = (t % 7) as i64 - 3;
                t /= 7;
            }
            o.iter().any(|x| x.abs() >= 2).then_some(o)
        })
        .collect()
}

/// Position of `offset` in [`transfer_vectors`], or `None` if it is not a transfer vector.
pub fn transfer_index<const D: usize>(offset: [i64; D]) -> Option<usize> {
    if offset.iter().any(|x| x.abs() > 3) || offset.iter().all(|x| x.abs() <= 1) {
        return None;
    }
    // Count the transfer vectors that come before it in lexicographic order.
    let mut lin = 0usize;
    for &x in &offset {
        lin = lin * 7 + (x + 3) as usize;
    }
    // Near offsets (all |x| <= 1) before `lin` in lexicographic order.
    let mut near_before = 0usize;
    let total = 3usize.pow(D as u32);
    for n in 0..total {
        let mut t = n;
        let mut l = 0usize;
        let mut digits = [0usize; D];
        for k in (0..D).rev() {
            digits[k] = t % 3 + 2; // -1..=1 shifted by 3
            t /= 3;
        }
        for &dgt in &digits {
            l = l * 7 + dgt;
        }
        near_before += (l < lin) as usize;
    }
    Some(lin - near_before)
}

fn scaled_surface<const D: usize>(
    unit: &[[f64; D]],
    centre: [f64; D],
    radius: f64,
) -> Vec<[f64; D]> {
    unit.iter()
        .map(|g| std::array::from_fn(|k| centre[k] + radius * g[k]))
        .collect()
}

/// `K(targets_i, sources_j)` as a dense matrix.
pub fn kernel_matrix<K: Kernel<D>, const D: usize>(
    targets: &[[f64; D]],
    sources: &[[f64; D]],
) -> Mat<f64> {
    Mat::from_fn(targets.len(), sources.len(), |i, j| {
        K::eval(&targets[i], &sources[j])
    })
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

/// `a * b`, sequential: operator precomputation must not depend on the thread count, so
/// every dense kernel here runs in a fixed order (parallelism comes from independent items).
fn mul(a: MatRef<f64>, b: MatRef<f64>) -> Mat<f64> {
    let mut c = Mat::zeros(a.nrows(), b.ncols());
    matmul(c.as_mut(), Accum::Replace, a, b, 1.0, Par::Seq);
    c
}

/// Singular values, left vectors (when asked for), right vectors.
type SvdParts = (Vec<f64>, Option<Mat<f64>>, Mat<f64>);

/// Thin SVD `a = u s v^T`, sequential (see [`mul`]); `u` only when asked for.
fn svd_seq(a: MatRef<f64>, want_u: bool, what: &str) -> Result<SvdParts> {
    let (m, n) = a.shape();
    let k = m.min(n);
    let mut s = Diag::<f64>::zeros(k);
    let mut u = if want_u {
        Some(Mat::<f64>::zeros(m, k))
    } else {
        None
    };
    let mut v = Mat::<f64>::zeros(n, k);
    let cu = if want_u {
        ComputeSvdVectors::Thin
    } else {
        ComputeSvdVectors::No
    };
    let req = svd_scratch::<f64>(
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
    Ok(((0..k).map(|i| sv[i]).collect(), u, v))
}

/// A truncated factorisation `m ~= a * bt`: rank `r`, `a` (`rows x r`, the left singular
/// vectors scaled by the singular values), `bt` (`r x cols`, the right singular vectors).
pub struct LowRank {
    /// The rank `r` kept.
    pub rank: usize,
    /// `rows x r`, column-major.
    pub a: Mat<f64>,
    /// `r x cols`, column-major.
    pub bt: Mat<f64>,
    /// Whether the randomised path produced it (`false`: the full thin SVD did).
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
pub fn low_rank(m: MatRef<f64>, tol: f64, seed: u64, what: &str) -> Result<LowRank> {
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
        let omega = Mat::from_fn(cols, l, |_, _| rng.uniform());
        let q = orthonormal_basis(mul(m, omega.as_ref()).as_ref());
        // One power iteration (re-orthonormalised at each step, so that singular values far
        // below sqrt(eps) s_max keep their directions).
        let q = orthonormal_basis(mul(m.transpose(), q.as_ref()).as_ref());
        let q = orthonormal_basis(mul(m, q.as_ref()).as_ref());
        let b = mul(q.transpose(), m); // l x cols
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
            -1.0,
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

impl LowRank {
    /// `u s v^T` (`s` descending) truncated to the singular values above `tol * s[0]` (at
    /// least one): `a = u_r s_r`, `bt = v_r^T`.
    fn truncated(u: MatRef<f64>, s: &[f64], v: MatRef<f64>, tol: f64, randomised: bool) -> Self {
        let r = s.iter().filter(|&&x| x > tol * s[0]).count().max(1);
        LowRank {
            rank: r,
            a: Mat::from_fn(u.nrows(), r, |i, j| u[(i, j)] * s[j]),
            bt: v.subcols(0, r).transpose().to_owned(),
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
fn qr_seq(a: &mut Mat<f64>) -> Mat<f64> {
    use faer::linalg::qr::no_pivoting::factor::{
        qr_in_place, qr_in_place_scratch, recommended_block_size,
    };
    let (m, n) = a.shape();
    let block = recommended_block_size::<f64>(m, n);
    let mut coeff = Mat::<f64>::zeros(block, n);
    let req = qr_in_place_scratch::<f64>(m, n, block, Par::Seq, Default::default());
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
fn orthonormal_basis(y: MatRef<f64>) -> Mat<f64> {
    use faer::linalg::householder::{
        apply_block_householder_sequence_on_the_left_in_place_scratch as apply_scratch,
        apply_block_householder_sequence_on_the_left_in_place_with_conj as apply,
    };
    let (m, n) = y.shape();
    let mut basis = y.to_owned();
    let coeff = qr_seq(&mut basis);
    // The Householder vectors are below the diagonal, with an implicit unit diagonal.
    for j in 0..n {
        basis[(j, j)] = 1.0;
        for i in 0..j {
            basis[(i, j)] = 0.0;
        }
    }
    let mut q = Mat::<f64>::identity(m, n);
    let req = apply_scratch::<f64>(m, coeff.nrows(), n);
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

fn to_vec(m: faer::MatRef<f64>) -> Vec<f64> {
    let mut v = Vec::with_capacity(m.nrows() * m.ncols());
    for j in 0..m.ncols() {
        for i in 0..m.nrows() {
            v.push(m[(i, j)]);
        }
    }
    v
}

fn svd_failed(what: &str) -> Error {
    Error::InvalidParameter {
        name: "operators",
        reason: format!("SVD of the {what} did not converge"),
    }
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
    order: usize,
    r: f64,
    prm: &OperatorParams,
) -> Result<LevelSet> {
    let unit = unit_surface::<D>(order);
    let n = unit.len();
    let zero = [0.0; D];
    let (ai, ao) = (prm.alpha_inner, prm.alpha_outer);

    let uc2e_at = |r: f64| {
        let k = kernel_matrix::<K, D>(
            &scaled_surface(&unit, zero, ao * r),
            &scaled_surface(&unit, zero, ai * r),
        );
        pseudo_inverse(&k, prm.pinv_tolerance)
    };
    let dc2e_at = |r: f64| {
        let k = kernel_matrix::<K, D>(
            &scaled_surface(&unit, zero, ai * r),
            &scaled_surface(&unit, zero, ao * r),
        );
        pseudo_inverse(&k, prm.pinv_tolerance)
    };
    let uc2e = uc2e_at(r)?;
    let dc2e = dc2e_at(r)?;
    let uc2e_parent = uc2e_at(2.0 * r)?;
    let uc2e_parent_dense = dense(&uc2e_parent);

    let n_children = 1usize << D;
    let child_centre = |c: usize| -> [f64; D] {
        std::array::from_fn(|k| if (c >> (D - 1 - k)) & 1 == 1 { r } else { -r })
    };
    let mut m2m = vec![0.0; n * n * n_children];
    let mut l2l = vec![0.0; n * n * n_children];
    let parent_up_check = scaled_surface(&unit, zero, ao * 2.0 * r);
    let parent_down_equiv = scaled_surface(&unit, zero, ao * 2.0 * r);
    for c in 0..n_children {
        let cc = child_centre(c);
        let k_up = kernel_matrix::<K, D>(&parent_up_check, &scaled_surface(&unit, cc, ai * r));
        let block = mul(uc2e_parent_dense.as_ref(), k_up.as_ref());
        m2m[c * n * n..(c + 1) * n * n].copy_from_slice(&to_vec(block.as_ref()));
        let k_down = kernel_matrix::<K, D>(&scaled_surface(&unit, cc, ai * r), &parent_down_equiv);
        l2l[c * n * n..(c + 1) * n * n].copy_from_slice(&to_vec(k_down.as_ref()));
    }

    // M2L: every transfer vector's matrix; shared bases from the stacked matrices.
    let tv = transfer_vectors::<D>();
    let nt = tv.len();
    let check = scaled_surface(&unit, zero, ai * r);
    let mats: Vec<Mat<f64>> = tv
        .par_iter()
        .map(|t| {
            let centre: [f64; D] = std::array::from_fn(|k| 2.0 * r * t[k] as f64);
            kernel_matrix::<K, D>(&check, &scaled_surface(&unit, centre, ai * r))
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
    Ok(LevelSet {
        uc2e,
        dc2e,
        m2m,
        l2l,
        m2l_u: to_vec(u.as_ref()),
        m2l_vt: to_vec(v.transpose()),
        m2l_core_a,
        m2l_core_bt,
        m2l_core_ranks,
        m2l_rank: k,
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

/// Number of row groups in [`stacked_svd`]: fixed, so that the result does not depend on
/// the thread count.
const STACK_GROUPS: usize = 8;

/// Singular values and right singular vectors of the tall matrix `[M_1; M_2; ...]` of the
/// square `mats` (of `[M_1^T; M_2^T; ...]` with `transpose`), without forming it: a
/// tall-skinny QR, where each of [`STACK_GROUPS`] groups of consecutive blocks is reduced to
/// its `R` factor in parallel, the stacked `R` factors are reduced once more, and the SVD of
/// the final `n x n` `R` gives the singular values and right vectors of the whole, to the
/// accuracy of a Householder QR (faer's SVD of a tall matrix also starts with one).
fn stacked_svd(mats: &[Mat<f64>], transpose: bool) -> Result<(Vec<f64>, Mat<f64>)> {
    let n = mats[0].ncols();
    let per = mats.len().div_ceil(STACK_GROUPS);
    let rs: Vec<Mat<f64>> = mats
        .par_chunks(per)
        .map(|group| {
            r_factor(Mat::from_fn(group.len() * n, n, |i, j| {
                let m = &group[i / n];
                if transpose {
                    m[(j, i % n)]
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
fn r_factor(mut a: Mat<f64>) -> Mat<f64> {
    let n = a.ncols();
    qr_seq(&mut a);
    Mat::from_fn(n, n, |i, j| if i <= j { a[(i, j)] } else { 0.0 })
}

/// One recompressed M2L core: rank `r_t`, `A_t` (`k x r_t`) and `B_t^T` (`r_t x k`), column-major.
type CoreFactors = (usize, Vec<f64>, Vec<f64>);

fn dense(f: &Factored) -> Mat<f64> {
    if f.rank == 0 {
        Mat::from_fn(f.rows, f.cols, |i, j| f.a[i + j * f.rows])
    } else {
        let a = Mat::from_fn(f.rows, f.rank, |i, j| f.a[i + j * f.rows]);
        let b = Mat::from_fn(f.rank, f.cols, |i, j| f.b[i + j * f.rank]);
        mul(a.as_ref(), b.as_ref())
    }
}

/// Per-level scalars that turn a homogeneous kernel's unit level set into level `l`'s.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LevelScales {
    /// Multiplies `uc2e` and `dc2e` (`r^-d`).
    pub c2e: f64,
    /// Multiplies the M2L and L2L check potentials (`r^d`).
    pub kernel: f64,
}

impl LevelScales {
    /// Scales for half-width `r` relative to the unit set, homogeneity degree `d`
    /// (`None`: per-level sets, all scales 1).
    pub fn new(r: f64, degree: Option<i32>) -> Self {
        match degree {
            Some(d) => Self {
                c2e: r.powi(-d),
                kernel: r.powi(d),
            },
            None => Self {
                c2e: 1.0,
                kernel: 1.0,
            },
        }
    }
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

    fn residual(m: &Mat<f64>, f: &LowRank) -> Mat<f64> {
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
                    m[(j, i % n)]
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
}
