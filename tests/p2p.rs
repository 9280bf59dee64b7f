//! P2P microkernels against the scalar f64 reference, and the direct evaluator.

mod common;
use common::rel_l2;

use oxifmm::{Complex, Error, Helmholtz, Kernel, Laplace, Real, Value, Yukawa, direct};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

/// Random points in `[0, 1)^D`, structure of arrays.
fn points<T: Real, const D: usize>(rng: &mut StdRng, n: usize) -> [Vec<T>; D] {
    std::array::from_fn(|_| {
        (0..n)
            .map(|_| T::from_f64(rng.random_range(0.0..1.0)))
            .collect()
    })
}

fn charges<T: Real>(rng: &mut StdRng, n: usize) -> Vec<T> {
    (0..n)
        .map(|_| T::from_f64(rng.random_range(-1.0..1.0)))
        .collect()
}

fn refs<T, const D: usize>(v: &[Vec<T>; D]) -> [&[T]; D] {
    std::array::from_fn(|k| v[k].as_slice())
}

/// The microkernel output and the scalar reference output (both starting from the same
/// non-zero values, to check accumulation), for `nt` targets and `ns` sources; with `shared`
/// the first sources coincide with the targets.
fn compare<K: Kernel<D>, const D: usize, T: Real>(
    kernel: &K,
    seed: u64,
    nt: usize,
    ns: usize,
    shared: bool,
    gradients: bool,
) -> (Vec<T>, Vec<T>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let targets = points::<T, D>(&mut rng, nt);
    let mut sources = points::<T, D>(&mut rng, ns);
    if shared {
        for k in 0..D {
            let m = nt.min(ns);
            sources[k][..m].copy_from_slice(&targets[k][..m]);
        }
    }
    // Complex kernels also get imaginary parts (real ones take the real parts only).
    let qr = charges::<T>(&mut rng, ns);
    let qi = charges::<T>(&mut rng, ns);
    let q: Vec<K::Value<T>> = qr
        .iter()
        .zip(&qi)
        .map(|(&r, &i)| K::Value::<T>::from_parts(r, i))
        .collect();
    let width = if gradients { 1 + D } else { 1 };
    let init: Vec<K::Value<T>> = (0..width * nt)
        .map(|i| {
            K::Value::<T>::from_parts(T::from_f64(i as f64 * 0.25), T::from_f64(i as f64 * 0.125))
        })
        .collect();
    let mut got = init.clone();
    let mut want = init;
    kernel.p2p(refs(&sources), &q, refs(&targets), &mut got, gradients);
    kernel.p2p_scalar(refs(&sources), &q, refs(&targets), &mut want, gradients);
    (
        K::Value::<T>::as_reals(&got).to_vec(),
        K::Value::<T>::as_reals(&want).to_vec(),
    )
}

const TARGET_COUNTS: &[usize] = &[1, 3, 7, 8, 13, 16, 37];

/// `amplify` widens both tolerances for kernels whose values amplify the rounding of `r`
/// (an oscillatory phase `k r`).
fn check_all<K: Kernel<D>, const D: usize>(kernel: &K, amplify: f64) {
    let (mut worst64, mut worst32) = (0.0f64, 0.0f64);
    for &nt in TARGET_COUNTS {
        for ns in [1, 5, 100] {
            for shared in [false, true] {
                for gradients in [false, true] {
                    let seed = (nt * 1000 + ns) as u64;
                    let (got, want) = compare::<K, D, f64>(kernel, seed, nt, ns, shared, gradients);
                    let e = rel_l2(&got, &want);
                    worst64 = worst64.max(e);
                    assert!(
                        e <= 1e-13 * amplify,
                        "f64 D={D} nt={nt} ns={ns} shared={shared} gradients={gradients}: {e:e}"
                    );
                    let (got, want) = compare::<K, D, f32>(kernel, seed, nt, ns, shared, gradients);
                    let e = rel_l2(&got, &want);
                    worst32 = worst32.max(e);
                    assert!(
                        e <= 1e-5 * amplify,
                        "f32 D={D} nt={nt} ns={ns} shared={shared} gradients={gradients}: {e:e}"
                    );
                }
            }
        }
    }
    eprintln!("D={D}: worst relative L2 error f64 {worst64:.1e}, f32 {worst32:.1e}");
}

#[test]
fn laplace3d_microkernels_match_reference() {
    check_all::<Laplace, 3>(&Laplace, 1.0);
}

#[test]
fn laplace2d_microkernels_match_reference() {
    check_all::<Laplace, 2>(&Laplace, 1.0);
}

/// Per-target relative error, stricter than the L2 check, on a larger f64 case.
#[test]
fn f64_per_target_relative_error() {
    for gradients in [false, true] {
        let (got, want) = compare::<Laplace, 3, f64>(&Laplace, 7, 37, 1000, true, gradients);
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() <= 1e-13 * w.abs().max(1.0), "{g} vs {w}");
        }
        let (got, want) = compare::<Laplace, 2, f64>(&Laplace, 8, 37, 1000, true, gradients);
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() <= 1e-13 * w.abs().max(1.0), "{g} vs {w}");
        }
    }
}

/// A source on top of every target (and nothing else) contributes exactly 0, not NaN.
fn coincident_only<K: Kernel<D>, const D: usize, T: Real>(kernel: &K) {
    for &nt in TARGET_COUNTS {
        let mut rng = StdRng::seed_from_u64(nt as u64);
        let pts = points::<T, D>(&mut rng, nt);
        for gradients in [false, true] {
            let width = if gradients { 1 + D } else { 1 };
            let zero = K::Value::<T>::default();
            let one_q = K::Value::<T>::from_parts(T::ONE, T::ONE);
            let mut out = vec![zero; width * nt];
            // Each target against itself alone.
            for i in 0..nt {
                let one: [&[T]; D] = std::array::from_fn(|k| &pts[k][i..i + 1]);
                kernel.p2p(
                    one,
                    &[one_q],
                    one,
                    &mut out[width * i..width * (i + 1)],
                    gradients,
                );
            }
            assert!(out.iter().all(|&x| x == zero), "{out:?}");
            // All targets against the same points as sources: finite.
            let q = vec![one_q; nt];
            let mut out = vec![zero; width * nt];
            kernel.p2p(refs(&pts), &q, refs(&pts), &mut out, gradients);
            assert!(out.iter().all(|x| x.all_finite()), "{out:?}");
        }
    }
}

#[test]
fn coincident_points_contribute_zero() {
    coincident_only::<Laplace, 3, f64>(&Laplace);
    coincident_only::<Laplace, 3, f32>(&Laplace);
    coincident_only::<Laplace, 2, f64>(&Laplace);
    coincident_only::<Laplace, 2, f32>(&Laplace);
}

/// 1/r (and its gradient) in f64 over squared distances from 1e-300 to 1e300, against
/// [`Kernel::eval`], through each of the kernel's reciprocal-square-root paths: on AVX2 the
/// sources of a pair go one through Newton steps, the other through the divider, and an odd
/// last source through the divider alone. Three sources at the origin with one unit charge at
/// a time reach each path on its own.
#[test]
fn laplace3d_f64_full_range() {
    let xs: Vec<f64> = (-3000..=3000)
        .map(|e| 1.37f64 * 10f64.powf(e as f64 / 10.0))
        .collect();
    let n = xs.len();
    let zeros = vec![0.0; n];
    let src = [&zeros[..3], &zeros[..3], &zeros[..3]];
    let tx: Vec<f64> = xs.iter().map(|x| x.sqrt()).collect();
    for charges in [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]] {
        for gradients in [false, true] {
            let width = if gradients { 4 } else { 1 };
            let mut out = vec![0.0; n * width];
            <Laplace as Kernel<3>>::p2p(
                &Laplace,
                src,
                &charges,
                [&tx, &zeros, &zeros],
                &mut out,
                gradients,
            );
            for (i, t) in tx.iter().enumerate() {
                let want =
                    <Laplace as Kernel<3>>::eval(&Laplace, &[*t, 0.0, 0.0], &[0.0, 0.0, 0.0]);
                let got = out[i * width];
                assert!(
                    (got - want).abs() <= 4.0 * f64::EPSILON * want,
                    "charges {charges:?}, r = {t}: {got} vs {want}"
                );
                // The gradient goes through 1/r^3, which overflows for r below ~1e-103.
                if gradients && (1e-50..1e50).contains(t) {
                    let (_, g) = <Laplace as Kernel<3>>::eval_with_gradient(
                        &Laplace,
                        &[*t, 0.0, 0.0],
                        &[0.0, 0.0, 0.0],
                    );
                    let got = out[i * width + 1];
                    assert!(
                        (got - g[0]).abs() <= 8.0 * f64::EPSILON * g[0].abs(),
                        "charges {charges:?}, r = {t}: gradient {got} vs {}",
                        g[0]
                    );
                }
            }
        }
    }
}

/// The vectorised 2D logarithm over a wide range of distances, against `f64::ln`.
#[test]
fn laplace2d_log_range() {
    let xs: Vec<f64> = (-300..=300)
        .map(|e| 1.37f64 * 10f64.powf(e as f64 / 10.0))
        .collect();
    let n = xs.len();
    let zeros = vec![0.0; n];
    let src = [&zeros[..1], &zeros[..1]];
    let tx: Vec<f64> = xs.iter().map(|x| x.sqrt()).collect();
    let mut out = vec![0.0; n];
    <Laplace as Kernel<2>>::p2p(&Laplace, src, &[1.0], [&tx, &zeros], &mut out, false);
    for (o, t) in out.iter().zip(&tx) {
        let want = <Laplace as Kernel<2>>::eval(&Laplace, &[*t, 0.0], &[0.0, 0.0]);
        assert!(
            (o - want).abs() <= 4.0 * f64::EPSILON * want.abs(),
            "{t}: {o} vs {want}"
        );
    }
    let tx32: Vec<f32> = (-30..=30).map(|e| 10f32.powf(e as f32 / 10.0)).collect();
    let z32 = vec![0.0f32; tx32.len()];
    let mut out = vec![0.0f32; tx32.len()];
    <Laplace as Kernel<2>>::p2p(
        &Laplace,
        [&z32[..1], &z32[..1]],
        &[1.0],
        [&tx32, &z32],
        &mut out,
        false,
    );
    for (o, t) in out.iter().zip(&tx32) {
        let want = <Laplace as Kernel<2>>::eval(&Laplace, &[*t as f64, 0.0], &[0.0, 0.0]);
        assert!(
            (*o as f64 - want).abs() <= 1e-6 * want.abs().max(1e-2),
            "{t}: {o} vs {want}"
        );
    }
}

fn aos<T: Real, const D: usize>(soa: &[Vec<T>; D]) -> Vec<[T; D]> {
    (0..soa[0].len())
        .map(|i| std::array::from_fn(|k| soa[k][i]))
        .collect()
}

fn direct_matches<const D: usize, T: Real>(tol: f64)
where
    Laplace: Kernel<D, Value<T> = T>,
{
    let mut rng = StdRng::seed_from_u64(42);
    // More targets than one parallel block, not a multiple of it.
    let (nt, ns) = (700, 300);
    let targets = points::<T, D>(&mut rng, nt);
    let sources = points::<T, D>(&mut rng, ns);
    let q = charges::<T>(&mut rng, ns);
    for gradients in [false, true] {
        let got = direct::<Laplace, D, T>(&Laplace, &aos(&sources), &q, &aos(&targets), gradients)
            .unwrap();
        let width = if gradients { 1 + D } else { 1 };
        let mut want = vec![T::ZERO; width * nt];
        <Laplace as Kernel<D>>::p2p_scalar(
            &Laplace,
            refs(&sources),
            &q,
            refs(&targets),
            &mut want,
            gradients,
        );
        let e = rel_l2(&got, &want);
        assert!(e <= tol, "D={D} gradients={gradients}: {e:e}");
    }
}

#[test]
fn direct_matches_reference() {
    direct_matches::<3, f64>(1e-13);
    direct_matches::<3, f32>(1e-5);
    direct_matches::<2, f64>(1e-13);
    direct_matches::<2, f32>(1e-5);
}

#[test]
fn direct_rejects_bad_input() {
    let s = [[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]];
    let q = [1.0, 2.0];
    let t = [[0.5, 0.5, 0.5]];
    let run = |s: &[[f64; 3]], q: &[f64], t: &[[f64; 3]]| {
        direct::<Laplace, 3, f64>(&Laplace, s, q, t, false)
    };
    assert!(matches!(
        run(&[], &[], &t),
        Err(Error::Empty { what: "sources" })
    ));
    assert!(matches!(
        run(&s, &q, &[]),
        Err(Error::Empty { what: "targets" })
    ));
    assert!(matches!(
        run(&s, &q[..1], &t),
        Err(Error::LengthMismatch {
            what: "charges",
            expected: 2,
            got: 1
        })
    ));
    let bad_s = [[0.0, 0.0, 0.0], [1.0, f64::NAN, 0.0]];
    assert!(matches!(
        run(&bad_s, &q, &t),
        Err(Error::NonFinite {
            what: "sources",
            index: 1
        })
    ));
    let bad_t = [[0.5, 0.5, 0.5], [f64::INFINITY, 0.0, 0.0]];
    assert!(matches!(
        run(&s, &q, &bad_t),
        Err(Error::NonFinite {
            what: "targets",
            index: 1
        })
    ));
    assert!(matches!(
        run(&s, &[1.0, f64::NEG_INFINITY], &t),
        Err(Error::NonFinite {
            what: "charges",
            index: 1
        })
    ));
    assert!(run(&s, &q, &t).is_ok());
}

#[test]
fn near_coincident_points_stay_finite() {
    // Squared distances below the smallest normal float count as coincident (contribute 0)
    // instead of overflowing the reciprocal square root.
    for d in [1e-20f32, 1e-25, 1e-30] {
        let sx = [0.0f32, d, 1.0];
        let sy = [0.0f32, 0.0, 0.0];
        let sz = [0.0f32, 0.0, 0.0];
        let q = [1.0f32, 1.0, 1.0];
        let (tx, ty, tz) = ([0.0f32], [0.0f32], [0.0f32]);
        let mut out = [0.0f32; 4];
        <oxifmm::Laplace as oxifmm::Kernel<3>>::p2p(
            &Laplace,
            [&sx, &sy, &sz],
            &q,
            [&tx, &ty, &tz],
            &mut out,
            true,
        );
        assert!(out.iter().all(|x| x.is_finite()), "d = {d}: {out:?}");
    }
}

/// The Laplace formulas written by hand: the test oracle for `Kernel::eval` and
/// `eval_with_gradient`, which (like the P2P) are generated from build.rs's kernel table. An
/// independent second statement of the formula, so that a wrong sign or scale in the table
/// cannot pass the P2P tests (which compare the P2P with `eval`).
fn oracle_laplace3d(x: [f64; 3], y: [f64; 3]) -> (f64, [f64; 3]) {
    let d = [x[0] - y[0], x[1] - y[1], x[2] - y[2]];
    let r = (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).sqrt();
    let four_pi = 4.0 * std::f64::consts::PI;
    let phi = 1.0 / (four_pi * r);
    let g = -1.0 / (four_pi * r * r * r);
    (phi, [g * d[0], g * d[1], g * d[2]])
}

/// See [`oracle_laplace3d`]: `-ln(r) / (2 pi)` and its gradient `-d / (2 pi r^2)`.
fn oracle_laplace2d(x: [f64; 2], y: [f64; 2]) -> (f64, [f64; 2]) {
    let d = [x[0] - y[0], x[1] - y[1]];
    let r2 = d[0] * d[0] + d[1] * d[1];
    let two_pi = 2.0 * std::f64::consts::PI;
    let g = -1.0 / (two_pi * r2);
    (-r2.sqrt().ln() / two_pi, [g * d[0], g * d[1]])
}

#[test]
fn kernel_eval_matches_the_hand_written_oracle() {
    let mut rng = StdRng::seed_from_u64(77);
    let mut pt = |s: f64| rng.random_range(-s..s);
    let close = |got: f64, want: f64, scale: f64| (got - want).abs() <= 1e-14 * scale;
    for _ in 0..2000 {
        let s = 10f64.powi((pt(1.0) * 6.0) as i32);
        let (x, y) = ([pt(s), pt(s), pt(s)], [pt(s), pt(s), pt(s)]);
        let (phi, g) = oracle_laplace3d(x, y);
        assert!(close(
            <Laplace as Kernel<3>>::eval(&Laplace, &x, &y),
            phi,
            phi.abs()
        ));
        let (p2, g2) = <Laplace as Kernel<3>>::eval_with_gradient(&Laplace, &x, &y);
        let gn = g.iter().map(|v| v * v).sum::<f64>().sqrt();
        assert!(close(p2, phi, phi.abs()), "{x:?} {y:?}: {p2} vs {phi}");
        for k in 0..3 {
            assert!(close(g2[k], g[k], gn), "{x:?} {y:?}: {g2:?} vs {g:?}");
        }
        let (x, y) = ([pt(s), pt(s)], [pt(s), pt(s)]);
        let (phi, g) = oracle_laplace2d(x, y);
        // The 2D potential crosses zero at r = 1: compare against the size of its terms.
        let scale = phi.abs().max(1.0 / (2.0 * std::f64::consts::PI));
        assert!(close(
            <Laplace as Kernel<2>>::eval(&Laplace, &x, &y),
            phi,
            scale
        ));
        let (p2, g2) = <Laplace as Kernel<2>>::eval_with_gradient(&Laplace, &x, &y);
        let gn = (g[0] * g[0] + g[1] * g[1]).sqrt();
        assert!(close(p2, phi, scale), "{x:?} {y:?}: {p2} vs {phi}");
        for k in 0..2 {
            assert!(close(g2[k], g[k], gn), "{x:?} {y:?}: {g2:?} vs {g:?}");
        }
    }
    // Coincident points contribute exactly zero.
    assert_eq!(
        <Laplace as Kernel<3>>::eval(&Laplace, &[0.5; 3], &[0.5; 3]),
        0.0
    );
    assert_eq!(
        <Laplace as Kernel<2>>::eval_with_gradient(&Laplace, &[0.5; 2], &[0.5; 2]),
        (0.0, [0.0; 2])
    );
}

#[test]
fn yukawa_microkernels_match_reference() {
    for kappa in [0.0, 1.0, 20.0, 300.0] {
        check_all::<Yukawa, 3>(&Yukawa::new(kappa).unwrap(), 1.0);
    }
}

#[test]
fn yukawa_coincident_points_contribute_zero() {
    let k = Yukawa::new(3.0).unwrap();
    coincident_only::<Yukawa, 3, f64>(&k);
    coincident_only::<Yukawa, 3, f32>(&k);
}

/// `exp(-kappa r) / (4 pi r)` and its gradient `-exp(-kappa r) (1 + kappa r) d / (4 pi r^3)`,
/// written by hand (see [`oracle_laplace3d`]).
fn oracle_yukawa(kappa: f64, x: [f64; 3], y: [f64; 3]) -> (f64, [f64; 3]) {
    let d = [x[0] - y[0], x[1] - y[1], x[2] - y[2]];
    let r = (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).sqrt();
    let four_pi = 4.0 * std::f64::consts::PI;
    let e = (-kappa * r).exp();
    let g = -e * (1.0 + kappa * r) / (four_pi * r * r * r);
    (e / (four_pi * r), [g * d[0], g * d[1], g * d[2]])
}

#[test]
fn yukawa_eval_matches_the_hand_written_oracle() {
    let mut rng = StdRng::seed_from_u64(78);
    for kappa in [0.0, 0.5, 20.0] {
        let k = Yukawa::new(kappa).unwrap();
        for _ in 0..2000 {
            let s = 10f64.powi(rng.random_range(-3..2));
            let mut pt = || -> [f64; 3] { std::array::from_fn(|_| rng.random_range(-s..s)) };
            let (x, y) = (pt(), pt());
            let (phi, g) = oracle_yukawa(kappa, x, y);
            // The rounding of r, amplified kappa r times by the exponential.
            let r = (0..3).map(|i| (x[i] - y[i]).powi(2)).sum::<f64>().sqrt();
            let tol = (16.0 + 4.0 * kappa * r) * f64::EPSILON;
            let close = |got: f64, want: f64, scale: f64| (got - want).abs() <= tol * scale;
            assert!(close(k.eval(&x, &y), phi, phi.abs()), "{x:?} {y:?}");
            let (p2, g2) = k.eval_with_gradient(&x, &y);
            // The largest component (squares would underflow where exp(-kappa r) is tiny).
            let gn = g.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            assert!(close(p2, phi, phi.abs()));
            for i in 0..3 {
                assert!(close(g2[i], g[i], gn), "{x:?} {y:?}: {g2:?} vs {g:?}");
            }
        }
    }
    assert_eq!(Yukawa::new(2.0).unwrap().eval(&[0.5; 3], &[0.5; 3]), 0.0);
    assert!(Yukawa::new(-1.0).is_err() && Yukawa::new(f64::NAN).is_err());
}

/// The SIMD P2P against the scalar evaluation over the whole range where `exp(-kappa r)` is
/// representable and past it (where it must be exactly 0, never NaN): `kappa r` from 1e-6 to
/// 1000, f64 and f32, through both sources of a pair and the odd last one. The rounding of
/// `r` is amplified `kappa r` times by the exponential, in both.
#[test]
fn yukawa_full_range() {
    let kappa = 10.0;
    let tx: Vec<f64> = (-60..=31)
        .map(|e| 10f64.powf(e as f64 / 10.0) / kappa * 0.8)
        .collect();
    full_range(&Yukawa::new(kappa).unwrap(), kappa, 8.0, &tx);
}

/// `|a - b|` in f64 for real or complex values of any precision.
fn dist<A: Value, B: Value>(a: A, b: B) -> f64 {
    (a.re().to_f64() - b.re().to_f64()).hypot(a.im().to_f64() - b.im().to_f64())
}

/// The SIMD P2P of a 3D kernel against its scalar f64 evaluation at the distances `tx` from
/// three sources at the origin (each charged in turn: both sources of a pair and the odd last
/// one), potential and gradient, f64 and f32 (the f32 reference taken at the rounded distance).
/// Within `base + 4 scale r` units of rounding (the rounding of `r` amplified `scale r` times by
/// the exponential and the phase; twice that for the gradient), plus 1e-300 (f64) and 1e-37
/// (f32) where the value underflows; every output finite.
fn full_range<K: Kernel<3>>(kernel: &K, scale: f64, base: f64, tx: &[f64]) {
    let n = tx.len();
    let zeros = vec![0.0; n];
    let tx32: Vec<f32> = tx.iter().map(|&x| x as f32).collect();
    let z32 = vec![0.0f32; n];
    let (one, zero) = (
        K::Value::<f64>::from_parts(1.0, 0.0),
        K::Value::<f64>::default(),
    );
    for charges in [[one, zero, zero], [zero, one, zero], [zero, zero, one]] {
        for gradients in [false, true] {
            let width = if gradients { 4 } else { 1 };
            let mut out = vec![zero; n * width];
            let src = [&zeros[..3], &zeros[..3], &zeros[..3]];
            kernel.p2p(src, &charges, [tx, &zeros, &zeros], &mut out, gradients);
            let c32: Vec<K::Value<f32>> = charges.iter().map(|c| c.cast()).collect();
            let mut out32 = vec![K::Value::<f32>::default(); n * width];
            kernel.p2p(
                [&z32[..3], &z32[..3], &z32[..3]],
                &c32,
                [&tx32, &z32, &z32],
                &mut out32,
                gradients,
            );
            assert!(out.iter().all(|v| v.all_finite()) && out32.iter().all(|v| v.all_finite()));
            for (i, t) in tx.iter().enumerate() {
                let (want, g) = kernel.eval_with_gradient(&[*t, 0.0, 0.0], &[0.0; 3]);
                let amplified = base + 4.0 * scale * t;
                let got = out[i * width];
                assert!(
                    dist(got, want) <= amplified * f64::EPSILON * dist(want, zero) + 1e-300,
                    "r = {t}: {got:?} vs {want:?}"
                );
                let t32 = tx32[i] as f64;
                let (want32, _) = kernel.eval_with_gradient(&[t32, 0.0, 0.0], &[0.0; 3]);
                let amplified32 = base + 4.0 * scale * t32;
                let got32 = out32[i * width];
                assert!(
                    dist(got32, want32)
                        <= amplified32 * f32::EPSILON as f64 * dist(want32, zero) + 1e-37,
                    "f32 r = {t32}: {got32:?} vs {want32:?}"
                );
                if gradients {
                    let got = out[i * width + 1];
                    assert!(
                        dist(got, g[0])
                            <= 2.0 * amplified * f64::EPSILON * dist(g[0], zero) + 1e-300,
                        "r = {t}: gradient {got:?} vs {:?}",
                        g[0]
                    );
                }
            }
        }
    }
}

#[test]
fn helmholtz_microkernels_match_reference() {
    for k in [
        Complex::new(0.0, 0.0),
        Complex::new(1.0, 0.0),
        Complex::new(10.0, 0.0),
        Complex::new(5.0, 10.0),
        Complex::new(60.0, 0.5),
    ] {
        // The phase k r (r up to sqrt(3) here) carries the rounding of r.
        let amplify = 1.0 + k.norm() * 3f64.sqrt();
        check_all::<Helmholtz, 3>(&Helmholtz::complex(k).unwrap(), amplify);
    }
}

#[test]
fn helmholtz_coincident_points_contribute_zero() {
    let k = Helmholtz::complex(Complex::new(3.0, 1.0)).unwrap();
    coincident_only::<Helmholtz, 3, f64>(&k);
    coincident_only::<Helmholtz, 3, f32>(&k);
}

/// `exp(i k r) / (4 pi r)` and its gradient `exp(i k r) (i k r - 1) d / (4 pi r^3)`, written
/// by hand with the complex exponential (see [`oracle_laplace3d`]).
fn oracle_helmholtz(
    k: Complex<f64>,
    x: [f64; 3],
    y: [f64; 3],
) -> (Complex<f64>, [Complex<f64>; 3]) {
    let d = [x[0] - y[0], x[1] - y[1], x[2] - y[2]];
    let r = (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).sqrt();
    let ikr = Complex::new(0.0, 1.0) * k * r;
    let g = ikr.exp() / (4.0 * std::f64::consts::PI * r);
    let c = g * (ikr - 1.0) / (r * r);
    (g, d.map(|v| c * v))
}

#[test]
fn helmholtz_eval_matches_the_hand_written_oracle() {
    let mut rng = StdRng::seed_from_u64(79);
    for k in [
        Complex::new(0.5, 0.0),
        Complex::new(10.0, 0.0),
        Complex::new(7.0, 3.0),
    ] {
        let h = Helmholtz::complex(k).unwrap();
        for _ in 0..2000 {
            let s = 10f64.powi(rng.random_range(-3..2));
            let mut pt = || -> [f64; 3] { std::array::from_fn(|_| rng.random_range(-s..s)) };
            let (x, y) = (pt(), pt());
            let (phi, g) = oracle_helmholtz(k, x, y);
            // The rounding of r, amplified |k| r times by the exponential and the phase.
            let r = (0..3).map(|i| (x[i] - y[i]).powi(2)).sum::<f64>().sqrt();
            let tol = (16.0 + 4.0 * k.norm() * r) * f64::EPSILON;
            let (p1, g1) = h.eval_with_gradient(&x, &y);
            let p0 = h.eval(&x, &y);
            assert!(
                (p0 - phi).norm() <= tol * phi.norm(),
                "{x:?} {y:?}: {p0} vs {phi}"
            );
            assert!((p1 - phi).norm() <= tol * phi.norm());
            let gn = g.iter().fold(0.0f64, |m, v| m.max(v.norm()));
            for i in 0..3 {
                assert!(
                    (g1[i] - g[i]).norm() <= tol * gn,
                    "{x:?} {y:?}: {g1:?} vs {g:?}"
                );
            }
        }
    }
    let h = Helmholtz::new(2.0).unwrap();
    assert_eq!(h.eval(&[0.5; 3], &[0.5; 3]), Complex::new(0.0, 0.0));
    assert!(Helmholtz::complex(Complex::new(1.0, -0.1)).is_err());
    assert!(Helmholtz::new(f64::INFINITY).is_err() && Helmholtz::new(-1.0).is_err());
}

/// The SIMD P2P against the scalar evaluation from `k r` = 1e-6 to 3e3 (the sine and cosine's
/// range reduction over many periods), f64 and f32, both sources of a pair and the odd one.
#[test]
fn helmholtz_full_range() {
    let k = 10.0;
    let tx: Vec<f64> = (-60..=35)
        .map(|e| 10f64.powf(e as f64 / 10.0) / k * 0.9)
        .collect();
    full_range(&Helmholtz::new(k).unwrap(), k, 16.0, &tx);
}

/// Every instruction set the CPU has passes the same checks: the microkernels against the
/// reference, coincident points, and the full range of r. (Other tests of this binary may run
/// meanwhile under a lower limit; every level must pass them too.)
#[test]
fn every_simd_level_passes_the_checks() {
    use oxifmm::kernel::simd::{SimdLimit, set_simd_limit, simd_limit};
    let before = simd_limit();
    for limit in [SimdLimit::Scalar, SimdLimit::Avx2, SimdLimit::Avx512] {
        set_simd_limit(limit);
        laplace3d_microkernels_match_reference();
        laplace2d_microkernels_match_reference();
        coincident_points_contribute_zero();
        laplace3d_f64_full_range();
        laplace2d_log_range();
        yukawa_microkernels_match_reference();
        yukawa_full_range();
        helmholtz_microkernels_match_reference();
        helmholtz_full_range();
        near_coincident_points_stay_finite();
    }
    set_simd_limit(before);
}
