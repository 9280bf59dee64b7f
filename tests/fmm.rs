//! The FMM against the direct sum (relative L2 error), 2D and 3D, f32 and f64, uniform,
//! sphere-surface and clustered points, separate targets, gradients; determinism across
//! thread counts and re-evaluations; the operator cache; bad input.

mod common;
use common::{Case, rel_l2};

use oxifmm::points::{Distribution, charges, generate};
use oxifmm::{CacheMode, Error, Fmm, Kernel, Laplace, M2l, OperatorSource, Real, direct};

/// (potential error, gradient error) of an FMM run against `direct` in f64.
fn errors<const P: usize, const D: usize, T: Real>(
    dist: Distribution,
    n: usize,
    leaf: usize,
    separate_targets: bool,
    gradients: bool,
) -> (f64, f64)
where
    Laplace: Kernel<D>,
    oxifmm::Expansion<P, D>: oxifmm::SupportedOrder,
{
    run_errors::<P, D, T>(dist, n, leaf, separate_targets, gradients, false, M2l::Auto)
}

/// As [`errors`], with the charge sign convention (`positive`: uniform in `[0, 1]`, else in
/// `[-1, 1]`) and the M2L backend chosen.
fn run_errors<const P: usize, const D: usize, T: Real>(
    dist: Distribution,
    n: usize,
    leaf: usize,
    separate_targets: bool,
    gradients: bool,
    positive: bool,
    m2l: M2l,
) -> (f64, f64)
where
    Laplace: Kernel<D>,
    oxifmm::Expansion<P, D>: oxifmm::SupportedOrder,
{
    let case = Case {
        dist,
        n,
        leaf,
        separate_targets,
        gradients,
        positive,
        m2l,
    };
    case.errors::<Laplace, P, D, T>(&Laplace)
}

#[test]
fn laplace_3d_f64_uniform_order_6() {
    let (p, g) = errors::<6, 3, f64>(Distribution::Uniform, 8000, 40, false, true);
    println!("3D uniform p=6: potential {p:.2e}, gradient {g:.2e}");
    // Measured 2.3e-6 (charges uniform in [-1, 1]); see README for the p-table.
    assert!(p < 4e-6, "potential error {p:e}");
    assert!(g < 2e-5, "gradient error {g:e}");
}

/// The 1e-6 potential target at p = 6 holds for positive charges (the convention of kifmm-rs,
/// whose 4.5e-7 at p = 6 is the anchor); with zero-mean charges in [-1, 1] (exafmm-t's
/// convention: 2.7e-6 at p = 6) the same accuracy takes p = 7, with either backend.
#[test]
fn laplace_3d_f64_potential_within_1e_6() {
    let (pos6, _) = run_errors::<6, 3, f64>(
        Distribution::Uniform,
        8000,
        40,
        false,
        false,
        true,
        M2l::Auto,
    );
    let signed7 =
        |m2l| run_errors::<7, 3, f64>(Distribution::Uniform, 8000, 40, false, false, false, m2l).0;
    let (fft7, svd7) = (signed7(M2l::Fft), signed7(M2l::Svd));
    println!("p=6 positive charges {pos6:.2e}; p=7 signed charges: fft {fft7:.2e}, svd {svd7:.2e}");
    assert!(pos6 <= 1e-6, "p = 6, positive charges: {pos6:e}");
    assert!(
        fft7 <= 1e-6 && svd7 <= 1e-6,
        "p = 7: fft {fft7:e}, svd {svd7:e}"
    );
}

#[test]
fn laplace_3d_error_falls_with_order() {
    let e = [
        errors::<3, 3, f64>(Distribution::Uniform, 4000, 40, false, false).0,
        errors::<4, 3, f64>(Distribution::Uniform, 4000, 40, false, false).0,
        errors::<6, 3, f64>(Distribution::Uniform, 4000, 40, false, false).0,
        errors::<8, 3, f64>(Distribution::Uniform, 4000, 40, false, false).0,
        errors::<10, 3, f64>(Distribution::Uniform, 4000, 40, false, false).0,
    ];
    println!("3D p = 3, 4, 6, 8, 10: {e:?}");
    for w in e.windows(2) {
        assert!(w[1] < 0.5 * w[0], "error does not fall with p: {e:?}");
    }
    assert!(e[2] < 4e-6 && e[3] < 1e-7 && e[4] < 3e-8, "{e:?}");
}

#[test]
fn laplace_3d_sphere_and_clusters() {
    let (s, _) = errors::<6, 3, f64>(Distribution::Sphere, 6000, 30, false, false);
    let (c, gc) = errors::<6, 3, f64>(Distribution::Clusters, 6000, 30, false, true);
    println!("3D p=6 sphere {s:.2e}, clusters {c:.2e} (gradient {gc:.2e})");
    assert!(s < 4e-6 && c < 1e-5 && gc < 5e-5);
}

#[test]
fn clustered_tree_uses_w_and_x_lists() {
    let src = generate::<f64, 3>(Distribution::Clusters, 6000, 3);
    let fmm = Fmm::<Laplace, 4>::builder()
        .sources(&src)
        .max_points_per_leaf(30)
        .cache(CacheMode::Off)
        .build()
        .unwrap();
    assert!(!fmm.lists().w.indices.is_empty() && !fmm.lists().x.indices.is_empty());
}

#[test]
fn laplace_3d_separate_targets() {
    let (p, g) = errors::<6, 3, f64>(Distribution::Sphere, 6000, 30, true, true);
    println!("3D separate targets p=6: {p:.2e} gradient {g:.2e}");
    assert!(p < 4e-6 && g < 2e-5);
}

#[test]
fn laplace_3d_f32() {
    let (p, g) = errors::<4, 3, f32>(Distribution::Uniform, 8000, 40, false, true);
    println!("3D f32 p=4: {p:.2e} gradient {g:.2e}");
    assert!(p < 1e-3 && g < 3e-3, "{p:e} {g:e}");
    // The 1e-4 target: p = 4 with positive charges (kifmm-rs's convention; with zero-mean
    // charges p = 4 is truncation-limited at ~2.4e-4 even in f64), p = 5 with zero-mean
    // charges; both backends. Needs the check-to-equivalent operators in f64.
    for m2l in [M2l::Svd, M2l::Fft] {
        let (p4, _) =
            run_errors::<4, 3, f32>(Distribution::Uniform, 8000, 40, false, false, true, m2l);
        let (p5, _) =
            run_errors::<5, 3, f32>(Distribution::Uniform, 8000, 40, false, false, false, m2l);
        println!("3D f32 {m2l:?}: p=4 positive charges {p4:.2e}, p=5 signed charges {p5:.2e}");
        assert!(p4 <= 1e-4 && p5 <= 1e-4, "{m2l:?}: {p4:e} {p5:e}");
    }
}

#[test]
fn laplace_2d() {
    for dist in [
        Distribution::Uniform,
        Distribution::Sphere,
        Distribution::Clusters,
    ] {
        let (p, g) = errors::<8, 2, f64>(dist, 6000, 30, false, true);
        println!("2D {dist:?} p=8: {p:.2e} gradient {g:.2e}");
        assert!(p < 1e-7 && g < 1e-6, "{dist:?}: {p:e} {g:e}");
    }
    let (p, _) = errors::<8, 2, f64>(Distribution::Uniform, 6000, 30, true, false);
    assert!(p < 1e-7);
    let (p, _) = errors::<6, 2, f32>(Distribution::Uniform, 6000, 30, false, false);
    assert!(p < 5e-4, "2D f32 {p:e}");
    let e4 = errors::<4, 2, f64>(Distribution::Uniform, 6000, 30, false, false).0;
    let e6 = errors::<6, 2, f64>(Distribution::Uniform, 6000, 30, false, false).0;
    assert!(e6 < 0.1 * e4);
}

#[test]
fn deterministic_across_threads_and_reevaluation() {
    let src = generate::<f64, 3>(Distribution::Sphere, 8000, 9);
    let q1 = charges::<f64>(src.len(), 1);
    let q2 = charges::<f64>(src.len(), 2);
    let build = |threads| {
        Fmm::<Laplace, 5>::builder()
            .sources(&src)
            .max_points_per_leaf(32)
            .gradients(true)
            .threads(threads)
            .cache(CacheMode::Off)
            .build()
            .unwrap()
    };
    let one = build(1);
    let two = build(2);
    let a = one.evaluate(&q1).unwrap();
    let b = two.evaluate(&q1).unwrap();
    assert_eq!(a, b, "1 and 2 threads must agree bit for bit");
    // Re-evaluation with new charges equals a fresh build, and re-running q1 repeats itself.
    let c = two.evaluate(&q2).unwrap();
    let fresh = build(2).evaluate(&q2).unwrap();
    assert_eq!(c, fresh);
    assert_eq!(two.evaluate(&q1).unwrap(), a);
    assert!(two.last_report().is_some());
}

#[test]
fn operator_cache_is_written_then_loaded() {
    let dir = std::env::temp_dir().join(format!("oxifmm-fmm-cache-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let src = generate::<f64, 3>(Distribution::Uniform, 3000, 1);
    let q = charges::<f64>(src.len(), 1);
    let build = || {
        Fmm::<Laplace, 4>::builder()
            .sources(&src)
            .max_points_per_leaf(40)
            .cache_dir(&dir)
            .build()
            .unwrap()
    };
    let first = build();
    assert!(
        matches!(first.build_report().cache, OperatorSource::Saved { .. }),
        "{}",
        first.build_report().cache
    );
    let expected = first.evaluate(&q).unwrap();
    let second = build();
    assert!(
        matches!(second.build_report().cache, OperatorSource::Loaded { .. }),
        "{}",
        second.build_report().cache
    );
    assert_eq!(first.evaluate(&q).unwrap(), second.evaluate(&q).unwrap());
    let in_memory = Fmm::<Laplace, 4>::builder()
        .sources(&src)
        .max_points_per_leaf(40)
        .cache(CacheMode::Off)
        .build()
        .unwrap();
    assert_eq!(in_memory.evaluate(&q).unwrap(), first.evaluate(&q).unwrap());
    // A corrupted cache is detected, recomputed and replaced.
    let file = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "oxc"))
        .unwrap();
    let mut bytes = std::fs::read(&file).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    // Replace the file (new inode), as any writer must: `first` still maps the old one.
    let tmp = file.with_extension("corrupt");
    std::fs::write(&tmp, &bytes).unwrap();
    std::fs::rename(&tmp, &file).unwrap();
    let third = build();
    assert!(
        matches!(third.build_report().cache, OperatorSource::Replaced { .. }),
        "{}",
        third.build_report().cache
    );
    assert_eq!(third.evaluate(&q).unwrap(), expected);
    assert_eq!(first.evaluate(&q).unwrap(), expected);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_input_is_a_typed_error() {
    let src = generate::<f64, 3>(Distribution::Uniform, 500, 1);
    let fmm = Fmm::<Laplace, 3>::builder()
        .sources(&src)
        .cache(CacheMode::Off)
        .build()
        .unwrap();
    assert!(matches!(
        fmm.evaluate(&[1.0; 10]),
        Err(Error::LengthMismatch {
            what: "charges",
            expected: 500,
            got: 10
        })
    ));
    let mut q = vec![1.0; 500];
    q[17] = f64::NAN;
    assert!(matches!(
        fmm.evaluate(&q),
        Err(Error::NonFinite {
            what: "charges",
            index: 17
        })
    ));
    q[17] = f64::INFINITY;
    assert!(matches!(
        fmm.evaluate(&q),
        Err(Error::NonFinite {
            what: "charges",
            index: 17
        })
    ));
    let empty: Vec<[f64; 3]> = Vec::new();
    assert!(matches!(
        Fmm::<Laplace, 3>::builder().sources(&empty).build(),
        Err(Error::Empty { what: "sources" })
    ));
    assert!(matches!(
        Fmm::<Laplace, 3>::builder().build(),
        Err(Error::Empty { what: "sources" })
    ));
    let mut bad = src.clone();
    bad[3][2] = f64::NAN;
    assert!(matches!(
        Fmm::<Laplace, 3>::builder().sources(&bad).build(),
        Err(Error::NonFinite {
            what: "sources",
            index: 3
        })
    ));
    assert!(matches!(
        Fmm::<Laplace, 3>::builder()
            .sources(&src)
            .max_points_per_leaf(0)
            .build(),
        Err(Error::InvalidParameter {
            name: "max_points_per_leaf",
            ..
        })
    ));
    assert!(matches!(
        Fmm::<Laplace, 3>::builder()
            .sources(&src)
            .threads(0)
            .build(),
        Err(Error::InvalidParameter {
            name: "threads",
            ..
        })
    ));
    assert!(matches!(
        Fmm::<Laplace, 3>::builder()
            .sources(&src)
            .targets(&empty)
            .build(),
        Err(Error::Empty { what: "targets" })
    ));
}

#[test]
fn fft_m2l_backend_is_accurate_and_agrees_with_svd() {
    for dist in [Distribution::Uniform, Distribution::Clusters] {
        let src = generate::<f64, 3>(dist, 6000, 3);
        let q = charges::<f64>(src.len(), 5);
        let exact = direct::<Laplace, 3, f64>(&Laplace, &src, &q, &src, false).unwrap();
        let run = |m2l| {
            Fmm::<Laplace, 6>::builder()
                .sources(&src)
                .max_points_per_leaf(30)
                .m2l(m2l)
                .cache(CacheMode::Off)
                .build()
                .unwrap()
                .evaluate(&q)
                .unwrap()
                .potentials
        };
        let (fft, svd) = (run(M2l::Fft), run(M2l::Svd));
        let (e_fft, e_svd) = (rel_l2(&fft, &exact), rel_l2(&svd, &exact));
        let agree = rel_l2(&fft, &svd);
        println!("{dist:?} p=6: fft {e_fft:.2e}, svd {e_svd:.2e}, fft vs svd {agree:.2e}");
        assert!(e_fft < 4e-6 && e_svd < 4e-6, "{e_fft:e} {e_svd:e}");
        assert!(
            agree < 2.0 * e_svd.max(e_fft),
            "backends disagree by {agree:e}"
        );
    }
    // f32 and the error falling with the order.
    let src = generate::<f32, 3>(Distribution::Sphere, 5000, 4);
    let q = charges::<f32>(src.len(), 6);
    let fmm = Fmm::<Laplace, 4, 3, f32>::builder()
        .sources(&src)
        .max_points_per_leaf(30)
        .m2l(M2l::Fft)
        .cache(CacheMode::Off)
        .build()
        .unwrap();
    let out = fmm.evaluate(&q).unwrap();
    let src64: Vec<[f64; 3]> = src.iter().map(|p| p.map(|x| x as f64)).collect();
    let q64: Vec<f64> = q.iter().map(|&x| x as f64).collect();
    let exact = direct::<Laplace, 3, f64>(&Laplace, &src64, &q64, &src64, false).unwrap();
    let e = rel_l2(&out.potentials, &exact);
    assert!(e < 1e-3, "f32 fft {e:e}");
    let e8 = {
        let src = generate::<f64, 3>(Distribution::Uniform, 4000, 3);
        let q = charges::<f64>(src.len(), 5);
        let exact = direct::<Laplace, 3, f64>(&Laplace, &src, &q, &src, false).unwrap();
        let out = Fmm::<Laplace, 8>::builder()
            .sources(&src)
            .max_points_per_leaf(40)
            .m2l(M2l::Fft)
            .cache(CacheMode::Off)
            .build()
            .unwrap()
            .evaluate(&q)
            .unwrap();
        rel_l2(&out.potentials, &exact)
    };
    assert!(e8 < 1e-7, "p = 8 fft {e8:e}");
}

#[test]
fn fft_backend_in_2d_is_a_typed_error() {
    let src = generate::<f64, 2>(Distribution::Uniform, 500, 3);
    let r = Fmm::<Laplace, 6, 2>::builder()
        .sources(&src)
        .m2l(M2l::Fft)
        .cache(CacheMode::Off)
        .build();
    assert!(matches!(
        r,
        Err(Error::InvalidParameter { name: "m2l", .. })
    ));
}

#[test]
fn concurrent_and_nested_evaluations_agree() {
    use rayon::prelude::*;
    let src = generate::<f64, 3>(Distribution::Uniform, 3000, 1);
    let fmm = Fmm::<Laplace, 4>::builder()
        .sources(&src)
        .max_points_per_leaf(40)
        .cache(CacheMode::Off)
        .build()
        .unwrap();
    let sets: Vec<Vec<f64>> = (0..6).map(|s| charges::<f64>(src.len(), s)).collect();
    let sequential: Vec<_> = sets.iter().map(|q| fmm.evaluate(q).unwrap()).collect();
    // evaluate inside rayon tasks, several at once: no deadlock, same bits.
    let parallel: Vec<_> = sets.par_iter().map(|q| fmm.evaluate(q).unwrap()).collect();
    assert_eq!(sequential, parallel);
}

#[test]
fn bad_operator_params_and_unwritable_cache() {
    let src = generate::<f64, 3>(Distribution::Uniform, 500, 1);
    let mut prm = oxifmm::OperatorParams::defaults(4, f64::EPSILON);
    prm.alpha_outer = 3.5;
    let r = Fmm::<Laplace, 4>::builder()
        .sources(&src)
        .operator_params(prm)
        .cache(CacheMode::Off)
        .build();
    assert!(matches!(
        r,
        Err(Error::InvalidParameter {
            name: "operator_params",
            ..
        })
    ));
    let mut prm = oxifmm::OperatorParams::defaults(4, f64::EPSILON);
    prm.m2l_tolerance = f64::NAN;
    let r = Fmm::<Laplace, 4>::builder()
        .sources(&src)
        .operator_params(prm)
        .cache(CacheMode::Off)
        .build();
    assert!(matches!(
        r,
        Err(Error::InvalidParameter {
            name: "operator_params",
            ..
        })
    ));
    // A cache directory below a regular file cannot be created: the FMM still works.
    let file = std::env::temp_dir().join(format!("oxifmm-not-a-dir-{}", std::process::id()));
    std::fs::write(&file, b"x").unwrap();
    let fmm = Fmm::<Laplace, 4>::builder()
        .sources(&src)
        .cache_dir(file.join("cache"))
        .build()
        .unwrap();
    assert!(
        matches!(fmm.build_report().cache, OperatorSource::Unusable { .. }),
        "{}",
        fmm.build_report().cache
    );
    let q = charges::<f64>(src.len(), 1);
    let reference = Fmm::<Laplace, 4>::builder()
        .sources(&src)
        .cache(CacheMode::Off)
        .build()
        .unwrap();
    assert_eq!(fmm.evaluate(&q).unwrap(), reference.evaluate(&q).unwrap());
    let _ = std::fs::remove_file(&file);
}

#[test]
fn f32_far_from_the_origin_keeps_its_accuracy() {
    // The same cloud at the origin and shifted by 1000: the FMM works relative to the domain.
    let base = generate::<f64, 3>(Distribution::Uniform, 5000, 8);
    let q = charges::<f32>(base.len(), 9);
    let q64: Vec<f64> = q.iter().map(|&x| x as f64).collect();
    let err = |offset: f64| {
        let pts64: Vec<[f64; 3]> = base.iter().map(|p| p.map(|x| x + offset)).collect();
        let pts: Vec<[f32; 3]> = pts64.iter().map(|p| p.map(|x| x as f32)).collect();
        // The reference sees the same (f32-rounded) points.
        let back: Vec<[f64; 3]> = pts.iter().map(|p| p.map(|x| x as f64)).collect();
        let exact = direct::<Laplace, 3, f64>(&Laplace, &back, &q64, &back, false).unwrap();
        let out = Fmm::<Laplace, 4, 3, f32>::builder()
            .sources(&pts)
            .max_points_per_leaf(40)
            .cache(CacheMode::Off)
            .build()
            .unwrap()
            .evaluate(&q)
            .unwrap();
        rel_l2(&out.potentials, &exact)
    };
    let (e0, e1) = (err(0.0), err(1000.0));
    println!("f32 p=4 at the origin {e0:.2e}, shifted by 1000 {e1:.2e}");
    assert!(e0 < 1e-3 && e1 < 3.0 * e0.max(1e-4), "{e0:e} {e1:e}");
}

/// `Debug` of the builder and of a built FMM names the setting and sizes, without dumping the
/// points.
#[test]
fn debug_output_is_a_summary() {
    let src = generate::<f64, 3>(Distribution::Uniform, 5000, 3);
    let b = Fmm::<Laplace, 4>::builder()
        .sources(&src)
        .max_points_per_leaf(64)
        .cache(CacheMode::Off);
    let s = format!("{b:?}");
    assert!(
        s.contains("order: 4") && s.contains("sources: Some(5000)"),
        "{s}"
    );
    assert!(s.len() < 1000, "{s}");
    let fmm = b.build().unwrap();
    let s = format!("{fmm:?}");
    assert!(s.contains("order: 4") && s.contains("sources: 5000"), "{s}");
    assert!(s.len() < 1000, "{s}");
}
