//! Operator accuracy against the direct sum: P2M, M2M, M2L (compressed and not), L2L + L2P.
//! Prints the error table for p = 2..10 (`cargo test --release --test operators -- --nocapture`).

mod common;
use common::rel_l2;

use faer::Mat;
use oxifmm::geometry::surface::{surface_len, unit_surface};
use oxifmm::geometry::transfer::{transfer_index, transfer_vectors};
use oxifmm::operators::{LevelSet, OperatorParams, kernel_matrix, level_set};
use oxifmm::{Kernel, KernelId, Laplace, Scaling};
use rand::{RngExt, SeedableRng, rngs::StdRng};

type P3 = [f64; 3];

fn scaled(unit: &[P3], c: P3, r: f64) -> Vec<P3> {
    unit.iter()
        .map(|g| [c[0] + r * g[0], c[1] + r * g[1], c[2] + r * g[2]])
        .collect()
}

fn apply(m: &Mat<f64>, x: &[f64]) -> Vec<f64> {
    (0..m.nrows())
        .map(|i| (0..m.ncols()).map(|j| m[(i, j)] * x[j]).sum())
        .collect()
}

fn dense(data: &[f64], rows: usize, cols: usize) -> Mat<f64> {
    Mat::from_fn(rows, cols, |i, j| data[i + j * rows])
}

fn c2e(f: &oxifmm::operators::Factored) -> Mat<f64> {
    if f.rank == 0 {
        dense(&f.a, f.rows, f.cols)
    } else {
        dense(&f.a, f.rows, f.rank) * dense(&f.b, f.rank, f.cols)
    }
}

fn cloud(rng: &mut StdRng, c: P3, r: f64, n: usize) -> Vec<P3> {
    (0..n)
        .map(|_| std::array::from_fn(|k| c[k] + rng.random_range(-r..r)))
        .collect()
}

fn direct(t: &[P3], s: &[P3], q: &[f64]) -> Vec<f64> {
    apply(&kernel_matrix::<Laplace, 3>(&Laplace, t, s), q)
}

/// Errors of (P2M, M2M, M2L compressed, M2L uncompressed, L2L + L2P) at order p.
fn errors(p: usize) -> [f64; 6] {
    let prm = OperatorParams::defaults(p, f64::EPSILON);
    let ls: LevelSet = level_set::<Laplace, 3>(&Laplace, p, 1.0, &prm).unwrap();
    let unit = unit_surface::<3>(p);
    let n = unit.len();
    assert_eq!(n, surface_len(3, p));
    let (ai, ao) = (prm.alpha_inner, prm.alpha_outer);
    let mut rng = StdRng::seed_from_u64(p as u64);
    let o = [0.0; 3];
    let uc2e = c2e(&ls.uc2e);
    let dc2e = c2e(&ls.dc2e);
    // Sources in the box of half-width 1 at the origin; far targets at distance 6..8.
    let src = cloud(&mut rng, o, 1.0, 200);
    let q: Vec<f64> = (0..src.len())
        .map(|_| rng.random_range(-1.0..1.0))
        .collect();
    let far: Vec<P3> = (0..200)
        .map(|_| {
            let v: P3 = std::array::from_fn(|_| rng.random_range(-1.0..1.0));
            let r = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt();
            let d = rng.random_range(6.0..8.0);
            std::array::from_fn(|k| v[k] / r * d)
        })
        .collect();
    let check = direct(&scaled(&unit, o, ao), &src, &q);
    let equiv = apply(&uc2e, &check);
    let p2m = rel_l2(
        &direct(&far, &scaled(&unit, o, ai), &equiv),
        &direct(&far, &src, &q),
    );

    // M2M: sources in child 5 (half-width 1) of a parent of half-width 2 at the origin.
    let child = 5usize;
    let cc: P3 = std::array::from_fn(|k| {
        if (child >> (2 - k)) & 1 == 1 {
            1.0
        } else {
            -1.0
        }
    });
    let csrc = cloud(&mut rng, cc, 1.0, 200);
    let ccheck = direct(&scaled(&unit, cc, ao), &csrc, &q);
    let cequiv = apply(&uc2e, &ccheck);
    let m2m = dense(&ls.m2m[child * n * n..(child + 1) * n * n], n, n);
    let pequiv = apply(&m2m, &cequiv);
    let far2: Vec<P3> = far
        .iter()
        .map(|t| [2.0 * t[0], 2.0 * t[1], 2.0 * t[2]])
        .collect();
    let m2m_err = rel_l2(
        &direct(&far2, &scaled(&unit, o, 2.0 * ai), &pequiv),
        &direct(&far2, &csrc, &q),
    );

    // M2L across the transfer vector (2, 0, 0): source box centred at (4, 0, 0).
    let t = [2i64, 0, 0];
    let ti = transfer_index(t).unwrap();
    assert_eq!(transfer_vectors::<3>()[ti], t);
    let ac = [4.0, 0.0, 0.0];
    let asrc = cloud(&mut rng, ac, 1.0, 200);
    let acheck = direct(&scaled(&unit, ac, ao), &asrc, &q);
    let aequiv = apply(&uc2e, &acheck);
    let k = ls.m2l_rank;
    let u = dense(&ls.m2l_u, n, k);
    let vt = dense(&ls.m2l_vt, k, n);
    let core = dense(&ls.m2l_core(ti), k, k);
    let bcheck_c = apply(&(&u * &core * &vt), &aequiv);
    let bcheck_u = direct(&scaled(&unit, o, ai), &scaled(&unit, ac, ai), &aequiv);
    let inside = cloud(&mut rng, o, 1.0, 200);
    let exact = direct(&inside, &asrc, &q);
    let l2p = |check: &[f64]| direct(&inside, &scaled(&unit, o, ao), &apply(&dc2e, check));
    let m2l_c = rel_l2(&l2p(&bcheck_c), &exact);
    let m2l_u = rel_l2(&l2p(&bcheck_u), &exact);

    // The compressed M2L chain over every transfer vector (sources filling the source box,
    // targets filling the target box): its median, the typical far-field interaction.
    let mut all: Vec<f64> = transfer_vectors::<3>()
        .iter()
        .enumerate()
        .map(|(ti, t)| {
            let ac: P3 = std::array::from_fn(|k| 2.0 * t[k] as f64);
            let asrc = cloud(&mut rng, ac, 1.0, 100);
            let aequiv = apply(&uc2e, &direct(&scaled(&unit, ac, ao), &asrc, &q[..100]));
            let core = dense(&ls.m2l_core(ti), k, k);
            let bcheck = apply(&u, &apply(&core, &apply(&vt, &aequiv)));
            rel_l2(&l2p(&bcheck), &direct(&inside, &asrc, &q[..100]))
        })
        .collect();
    all.sort_by(f64::total_cmp);
    let m2l_median = all[all.len() / 2];

    // L2L + L2P: far sources, parent (half-width 2) local from its check surface, then child 3.
    let fsrc: Vec<P3> = cloud(&mut rng, [14.0, 2.0, -3.0], 2.0, 200);
    let pcheck = direct(&scaled(&unit, o, 2.0 * ai), &fsrc, &q);
    // The parent's DC2E is the unit one scaled by 2^{-d} = 2 for Laplace 3D.
    let plocal: Vec<f64> = apply(&dc2e, &pcheck).iter().map(|x| 2.0 * x).collect();
    let child = 3usize;
    let cc: P3 = std::array::from_fn(|k| {
        if (child >> (2 - k)) & 1 == 1 {
            1.0
        } else {
            -1.0
        }
    });
    let l2l = dense(&ls.l2l[child * n * n..(child + 1) * n * n], n, n);
    let clocal = apply(&dc2e, &apply(&l2l, &plocal));
    let ctg = cloud(&mut rng, cc, 1.0, 200);
    let l2l_err = rel_l2(
        &direct(&ctg, &scaled(&unit, cc, ao), &clocal),
        &direct(&ctg, &fsrc, &q),
    );
    [p2m, m2m_err, m2l_c, m2l_u, l2l_err, m2l_median]
}

#[test]
fn operator_errors_fall_with_order() {
    println!("   p   P2M       M2M       M2L(svd)  M2L(full) L2L+L2P   M2L(median over t)");
    let mut all: Vec<[f64; 6]> = Vec::new();
    for p in 2..=10 {
        let e = errors(p);
        all.push(e);
        println!(
            "{p:>4}   {:.2e}  {:.2e}  {:.2e}  {:.2e}  {:.2e}  {:.2e}",
            e[0], e[1], e[2], e[3], e[4], e[5]
        );
        if (4..=8).contains(&p) {
            let before = all[p - 4];
            for i in 0..6 {
                assert!(
                    e[i] < before[i] * 0.5,
                    "error {i} did not fall from p = {} to {p}: {} -> {}",
                    p - 2,
                    before[i],
                    e[i]
                );
            }
        }
        if p == 6 {
            // P2M, M2M and L2L+L2P chains near 1e-7; the M2L chain is measured at the
            // closest transfer vector (2, 0, 0) with sources and targets filling both boxes,
            // the worst case of the V list.
            assert!(
                e[0] < 1e-6 && e[1] < 1e-6 && e[4] < 1e-6,
                "p = 6 errors {e:?}"
            );
            assert!(e[2] < 3e-5 && e[3] < 3e-5, "p = 6 M2L errors {e:?}");
            // Over all 316 transfer vectors the compressed M2L chain is near 1e-6 or better
            // (measured median 5.4e-7).
            assert!(e[5] < 1e-6, "p = 6 median M2L error {e:?}");
            assert!(
                e[2] < 2.0 * e[3] + 1e-9,
                "compressed M2L within the tolerance of the full one"
            );
        }
    }
}

/// The compressed M2L (`U core_t V^T`) against every transfer vector's full matrix `M_t`,
/// in the spectral norm: the shared bases drop singular values of the stacked matrices below
/// `tol s_max` (at most `tol s_max` per side) and each core's truncation, randomised or not,
/// is certified within `1.1 tol` of the core's norm, so the whole is within `3.1 tol s_max`,
/// `s_max` the largest singular value of `[M_1; M_2; ...]`.
/// Worst `||M_t - U C_t V^T|| / s_max` over the transfer vectors of kernel `K` at order `p`,
/// and the M2L tolerance.
fn worst_compressed_m2l<K: Kernel<3>>(kernel: &K, p: usize) -> (f64, f64) {
    let prm = OperatorParams::defaults(p, f64::EPSILON);
    let ls = level_set(kernel, p, 1.0, &prm).unwrap();
    let unit = unit_surface::<3>(p);
    let (n, k) = (unit.len(), ls.m2l_rank);
    let ai = prm.alpha_inner;
    let check = scaled(&unit, [0.0; 3], ai);
    let u = dense(&ls.m2l_u, n, k);
    let vt = dense(&ls.m2l_vt, k, n);
    let mats: Vec<Mat<f64>> = transfer_vectors::<3>()
        .iter()
        .map(|t| {
            let c: P3 = std::array::from_fn(|d| 2.0 * t[d] as f64);
            kernel_matrix(kernel, &check, &scaled(&unit, c, ai))
        })
        .collect();
    let gram = mats
        .iter()
        .fold(Mat::<f64>::zeros(n, n), |g, m| g + m.transpose() * m);
    let s_max = gram.singular_values().unwrap()[0].sqrt();
    let mut worst = 0.0f64;
    for (t, m) in mats.iter().enumerate() {
        let approx = &u * dense(&ls.m2l_core(t), k, k) * &vt;
        let err = (m - approx).singular_values().unwrap()[0];
        worst = worst.max(err / s_max);
    }
    println!(
        "{} p = {p}: rank {k} of {n}, worst ||M_t - U C_t V^T|| / s_max = {worst:.2e}",
        kernel.id().name
    );
    (worst, prm.m2l_tolerance)
}

/// The compressed M2L (`U core_t V^T`) against every transfer vector's full matrix `M_t`,
/// in the spectral norm: the shared bases drop singular values of the stacked matrices below
/// `tol s_max` (at most `tol s_max` per side) and each core's truncation, randomised or not,
/// is certified within `1.1 tol` of the core's norm, so the whole is within `3.1 tol s_max`,
/// `s_max` the largest singular value of `[M_1; M_2; ...]`.
#[test]
fn compressed_m2l_is_within_the_tolerance_of_every_transfer_matrix() {
    for p in [4, 6, 8] {
        let (worst, tol) = worst_compressed_m2l(&Laplace, p);
        assert!(
            worst <= 3.1 * tol,
            "p = {p}: {worst:e} above 3.1 x tolerance {tol:e}"
        );
    }
}

/// A translation-invariant kernel that is not symmetric, `K(x, y) = 1 / |x - y + c|`: its
/// M2L matrices have `M_{-t} != M_t^T`, so the left and right bases come from two separate
/// decompositions. (Smooth wherever M2L evaluates it: `|c| < 1`, well-separated surfaces
/// are at least 1.9 apart.)
#[derive(Clone, Copy, Default)]
struct ShiftedLaplace;

impl ShiftedLaplace {
    const C: P3 = [0.7, 0.4, -0.5];
    fn d(x: &P3, y: &P3) -> P3 {
        std::array::from_fn(|k| x[k] - y[k] + Self::C[k])
    }
}

impl Kernel<3> for ShiftedLaplace {
    type Value<T: oxifmm::Real> = T;
    fn id(&self) -> KernelId {
        KernelId::new("shifted-laplace-test", 1)
    }
    fn scaling(&self) -> Scaling {
        Scaling::PerLevel
    }
    fn eval(&self, x: &P3, y: &P3) -> f64 {
        if x == y {
            return 0.0;
        }
        let d = Self::d(x, y);
        1.0 / (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).sqrt()
    }
    fn eval_with_gradient(&self, x: &P3, y: &P3) -> (f64, P3) {
        if x == y {
            return (0.0, [0.0; 3]);
        }
        let d = Self::d(x, y);
        let inv = 1.0 / (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).sqrt();
        (inv, std::array::from_fn(|k| -d[k] * inv * inv * inv))
    }
    fn p2p<T: oxifmm::scalar::Real>(
        &self,
        sources: [&[T]; 3],
        charges: &[T],
        targets: [&[T]; 3],
        out: &mut [T],
        gradients: bool,
    ) {
        self.p2p_scalar(sources, charges, targets, out, gradients)
    }
}

#[test]
fn compressed_m2l_of_a_non_symmetric_kernel_uses_both_bases() {
    let (x, y) = ([0.0, 0.0, 0.0], [1.0, 2.0, 0.5]);
    assert_ne!(ShiftedLaplace.eval(&x, &y), ShiftedLaplace.eval(&y, &x));
    for p in [5, 6] {
        let (worst, tol) = worst_compressed_m2l(&ShiftedLaplace, p);
        assert!(
            worst <= 3.1 * tol,
            "p = {p}: {worst:e} above 3.1 x tolerance {tol:e}"
        );
    }
}
