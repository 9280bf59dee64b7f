//! Kernels other than Laplace through the FMM, against the direct sum (relative L2 error):
//! the modified Helmholtz (Yukawa) kernel on uniform, sphere and clustered points, f32 and
//! f64, with its error falling as the order rises; its per-level operator cache written,
//! then loaded, and keyed by its parameter; a kernel defined in this file.

mod common;
use common::Case;

use oxifmm::points::{Distribution, charges, generate};
use oxifmm::{
    CacheMode, Complex, Fmm, Helmholtz, Kernel, KernelId, OperatorSource, Scaling, Yukawa,
};

#[test]
fn yukawa_f64_error_falls_with_order_on_every_distribution() {
    for kappa in [1.0, 20.0] {
        let k = Yukawa::new(kappa).unwrap();
        for dist in [
            Distribution::Uniform,
            Distribution::Sphere,
            Distribution::Clusters,
        ] {
            let mut case = Case::new(dist, 6000);
            case.gradients = true;
            let (p4, g4) = case.errors::<Yukawa, 4, 3, f64>(&k);
            let (p6, g6) = case.errors::<Yukawa, 6, 3, f64>(&k);
            println!(
                "yukawa kappa={kappa} {dist:?}: p=4 {p4:.2e} (grad {g4:.2e}), p=6 {p6:.2e} (grad {g6:.2e})"
            );
            assert!(p6 < 0.3 * p4 && g6 < 0.3 * g4, "no fall with order");
            assert!(p6 < 1e-5 && g6 < 1e-4, "p = 6: {p6:e} / {g6:e}");
        }
    }
}

#[test]
fn yukawa_f32_and_separate_targets() {
    let k = Yukawa::new(20.0).unwrap();
    let mut case = Case::new(Distribution::Uniform, 6000);
    case.gradients = true;
    case.separate_targets = true;
    let (p, g) = case.errors::<Yukawa, 5, 3, f32>(&k);
    println!("yukawa f32 p=5 separate targets: {p:.2e} (grad {g:.2e})");
    assert!(p < 1e-4 && g < 1e-3, "{p:e} / {g:e}");
    let (p, g) = case.errors::<Yukawa, 5, 3, f64>(&k);
    assert!(p < 1e-4 && g < 1e-3, "{p:e} / {g:e}");
}

/// The per-level sets are saved by the first build and loaded by the second; another `kappa`
/// (same name, other parameter) never loads them.
#[test]
fn yukawa_per_level_cache_is_keyed_by_kappa() {
    let dir = std::env::temp_dir().join(format!("oxifmm-kernels-cache-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let pts = generate::<f64, 3>(Distribution::Uniform, 3000, 1);
    let q = charges::<f64>(pts.len(), 2);
    let build = |kappa: f64| {
        Fmm::<Yukawa, 4>::with_kernel(Yukawa::new(kappa).unwrap())
            .sources(&pts)
            .max_points_per_leaf(50)
            .cache(CacheMode::Dir(dir.clone()))
            .build()
            .unwrap()
    };
    let sets = |fmm: &Fmm<Yukawa, 4>| match &fmm.build_report().cache {
        OperatorSource::PerLevel { sets } => sets.clone(),
        other => panic!("expected per-level sets, got {other:?}"),
    };
    let first = build(5.0);
    let levels = first.tree().depth() as usize + 1;
    let s1 = sets(&first);
    assert_eq!(s1.len(), levels);
    assert!(
        s1.iter().all(|s| matches!(s, OperatorSource::Saved { .. })),
        "{s1:?}"
    );
    let files = || std::fs::read_dir(&dir).unwrap().count();
    let after_first = files();
    let second = build(5.0);
    let s2 = sets(&second);
    assert!(
        s2.iter()
            .all(|s| matches!(s, OperatorSource::Loaded { .. })),
        "{s2:?}"
    );
    assert_eq!(files(), after_first, "the second build wrote nothing");
    assert_eq!(
        first.evaluate(&q).unwrap(),
        second.evaluate(&q).unwrap(),
        "loaded operators give the computed ones' results"
    );
    // Same kernel name, other kappa: every set is new.
    let other = build(6.0);
    let s3 = sets(&other);
    assert!(
        s3.iter().all(|s| matches!(s, OperatorSource::Saved { .. })),
        "{s3:?}"
    );
    let p1: Vec<_> = s1.iter().map(|s| s.path().unwrap().to_path_buf()).collect();
    assert!(
        s3.iter()
            .all(|s| !p1.contains(&s.path().unwrap().to_path_buf()))
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A kernel defined outside the crate (here: this test file), through the scalar path: the
/// Laplace kernel of an anisotropic medium, the Green's function of `-div(S grad u) = delta`
/// for a diagonal conductivity `S = diag(s)`: `1 / (4 pi sqrt(s0 s1 s2) |S^-1/2 (x - y)|)`.
/// Homogeneous of degree -1, symmetric; its operators are cached under its conductivities.
/// (The interaction lists measure separation isotropically: in the medium's own metric boxes
/// are stretched by `sqrt(max s / min s)`, so the accuracy holds for mild anisotropy only:
/// measured at p = 6 on clusters, 3.6e-6 for s = (1, 0.9, 1.1), 9.6e-6 for (1, 0.8, 1.25),
/// 1.3e-2 for (1, 0.5, 2).)
#[derive(Clone, Copy, Debug)]
struct Anisotropic {
    s: [f64; 3],
}

impl Anisotropic {
    /// `(K, grad_x K)`; 0 where the points coincide.
    fn value(&self, x: &[f64; 3], y: &[f64; 3]) -> (f64, [f64; 3]) {
        let d: [f64; 3] = std::array::from_fn(|k| x[k] - y[k]);
        let rho2: f64 = (0..3).map(|k| d[k] * d[k] / self.s[k]).sum();
        if rho2 < f64::MIN_POSITIVE {
            return (0.0, [0.0; 3]);
        }
        let c = 1.0 / (4.0 * std::f64::consts::PI * (self.s[0] * self.s[1] * self.s[2]).sqrt());
        let inv = 1.0 / rho2.sqrt();
        let g = -c * inv * inv * inv;
        (c * inv, std::array::from_fn(|k| g * d[k] / self.s[k]))
    }
}

impl Kernel<3> for Anisotropic {
    type Value<T: oxifmm::Real> = T;
    fn id(&self) -> KernelId {
        KernelId::new("anisotropic-laplace-test", 1)
            .param("s0", self.s[0])
            .param("s1", self.s[1])
            .param("s2", self.s[2])
    }
    fn scaling(&self) -> Scaling {
        Scaling::Homogeneous { degree: -1 }
    }
    fn eval(&self, x: &[f64; 3], y: &[f64; 3]) -> f64 {
        self.value(x, y).0
    }
    fn eval_with_gradient(&self, x: &[f64; 3], y: &[f64; 3]) -> (f64, [f64; 3]) {
        self.value(x, y)
    }
    fn p2p<T: oxifmm::Real>(
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
fn a_kernel_defined_outside_the_crate_runs_through_the_fmm() {
    let k = Anisotropic { s: [1.0, 0.9, 1.1] };
    let mut case = Case::new(Distribution::Clusters, 4000);
    case.gradients = true;
    let (p4, _) = case.errors::<Anisotropic, 4, 3, f64>(&k);
    let (p, g) = case.errors::<Anisotropic, 6, 3, f64>(&k);
    println!("anisotropic clusters: p=4 {p4:.2e}, p=6 {p:.2e} (grad {g:.2e})");
    assert!(p < 0.3 * p4, "no fall with order");
    assert!(p < 1e-5 && g < 1e-4, "{p:e} / {g:e}");
}

/// Two kernels with the same name and different parameters get different cache files, and
/// each build loads only its own.
#[test]
fn same_name_other_parameters_never_share_a_cache_file() {
    let dir = std::env::temp_dir().join(format!("oxifmm-kernels-same-name-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let pts = generate::<f64, 3>(Distribution::Uniform, 2000, 7);
    let q = charges::<f64>(pts.len(), 8);
    let build = |s: [f64; 3]| {
        Fmm::<Anisotropic, 4>::with_kernel(Anisotropic { s })
            .sources(&pts)
            .max_points_per_leaf(50)
            .cache(CacheMode::Dir(dir.clone()))
            .build()
            .unwrap()
    };
    let path = |fmm: &Fmm<Anisotropic, 4>| match &fmm.build_report().cache {
        OperatorSource::Saved { path } => (path.clone(), false),
        OperatorSource::Loaded { path } => (path.clone(), true),
        other => panic!("{other:?}"),
    };
    let a = build([1.0, 1.0, 1.0]);
    let b = build([1.0, 1.0, 3.0]);
    let (pa, loaded_a) = path(&a);
    let (pb, loaded_b) = path(&b);
    assert!(!loaded_a && !loaded_b, "both computed");
    assert_ne!(pa, pb);
    let (pa2, loaded) = path(&build([1.0, 1.0, 1.0]));
    assert!(loaded && pa2 == pa);
    // And the results differ as the kernels do (isotropic: exactly Laplace).
    let la = oxifmm::direct(&k_iso(), &pts, &q, &pts, false).unwrap();
    let fa = a.evaluate(&q).unwrap().potentials;
    let fb = b.evaluate(&q).unwrap().potentials;
    assert!(common::rel_l2(&fa, &la) < 1e-3);
    assert!(common::rel_l2(&fb, &la) > 0.1);
    let _ = std::fs::remove_dir_all(&dir);
}

fn k_iso() -> Anisotropic {
    Anisotropic { s: [1.0; 3] }
}

/// Helmholtz, real and complex wavenumbers, root box about 0.5 and 2 wavelengths across:
/// against the direct sum, the error falling with the order, potentials and gradients.
#[test]
fn helmholtz_f64_error_falls_with_order() {
    // The root box is 1.0625 wide (the unit cube's, rounded up to the width grid).
    let per_wavelength = 2.0 * std::f64::consts::PI / 1.0625;
    for (wavelengths, im) in [(0.5, 0.0), (0.5, 1.0), (2.0, 0.0), (2.0, 3.0)] {
        let k = Helmholtz::complex(Complex::new(wavelengths * per_wavelength, im)).unwrap();
        for dist in [Distribution::Uniform, Distribution::Sphere] {
            let mut case = Case::new(dist, 4000);
            case.gradients = true;
            let (p4, g4) = case.errors::<Helmholtz, 4, 3, f64>(&k);
            let (p6, g6) = case.errors::<Helmholtz, 6, 3, f64>(&k);
            println!(
                "helmholtz {wavelengths} wavelengths, Im k {im}, {dist:?}: p=4 {p4:.2e} (grad {g4:.2e}), p=6 {p6:.2e} (grad {g6:.2e})"
            );
            assert!(p6 < 0.3 * p4 && g6 < 0.3 * g4, "no fall with order");
            assert!(p6 < 3e-5 && g6 < 1e-4, "p = 6: {p6:e} / {g6:e}");
        }
    }
}

#[test]
fn helmholtz_f32_clusters_and_separate_targets() {
    let k = Helmholtz::complex(Complex::new(10.0, 0.5)).unwrap();
    let mut case = Case::new(Distribution::Clusters, 4000);
    case.gradients = true;
    let (p, g) = case.errors::<Helmholtz, 5, 3, f32>(&k);
    println!("helmholtz f32 p=5 clusters: {p:.2e} (grad {g:.2e})");
    assert!(p < 2e-4 && g < 1e-3, "{p:e} / {g:e}");
    let mut case = Case::new(Distribution::Uniform, 4000);
    case.separate_targets = true;
    let (p, _) = case.errors::<Helmholtz, 5, 3, f64>(&k);
    assert!(p < 1e-4, "{p:e}");
}

/// The FFT M2L with Helmholtz (complex transfer functions, the paired spectra of the complex
/// densities): against the direct sum for real and complex k, f64 and f32, potentials and
/// gradients, the error falling with the order and level with the SVD backend's.
#[test]
fn helmholtz_fft_m2l_matches_direct_and_the_svd_backend() {
    use oxifmm::M2l;
    for (k, dist) in [
        (Helmholtz::new(6.0).unwrap(), Distribution::Uniform),
        (
            Helmholtz::complex(Complex::new(5.0, 2.0)).unwrap(),
            Distribution::Sphere,
        ),
    ] {
        let mut case = Case::new(dist, 4000);
        case.gradients = true;
        case.m2l = M2l::Fft;
        let (f4, _) = case.errors::<Helmholtz, 4, 3, f64>(&k);
        let (f6, fg6) = case.errors::<Helmholtz, 6, 3, f64>(&k);
        let (s4, _) = case.errors::<Helmholtz, 4, 3, f32>(&k);
        case.m2l = M2l::Svd;
        let (v6, vg6) = case.errors::<Helmholtz, 6, 3, f64>(&k);
        println!(
            "helmholtz fft {k:?} {dist:?}: p=4 {f4:.2e}, p=6 {f6:.2e} (grad {fg6:.2e}), f32 p=4 {s4:.2e}; svd p=6 {v6:.2e} (grad {vg6:.2e})"
        );
        assert!(f6 < 0.3 * f4, "no fall with order: {f4:e} -> {f6:e}");
        assert!(f6 < 3e-5 && fg6 < 1e-4, "p = 6: {f6:e} / {fg6:e}");
        assert!(
            f6 < 3.0 * v6 + 1e-7 && fg6 < 3.0 * vg6 + 1e-7,
            "fft {f6:e} svd {v6:e}"
        );
        assert!(s4 < 3.0 * f4 + 1e-5, "f32 p = 4: {s4:e} (f64 {f4:e})");
    }
}

/// A tree too many wavelengths across for the order is reported (the build still runs); a
/// low-frequency one is not.
#[test]
fn helmholtz_warns_when_boxes_are_too_many_wavelengths_across() {
    let pts = generate::<f64, 3>(Distribution::Uniform, 3000, 1);
    let build = |k: f64| {
        Fmm::<Helmholtz, 4>::with_kernel(Helmholtz::new(k).unwrap())
            .sources(&pts)
            .max_points_per_leaf(50)
            .cache(CacheMode::Off)
            .build()
            .unwrap()
    };
    let high = build(40.0);
    let w = &high.build_report().warnings;
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0].contains("wavelengths across") && w[0].contains("raise the order"));
    assert!(high.build_report().to_string().contains("warning: "));
    assert!(build(3.0).build_report().warnings.is_empty());
}

/// Helmholtz at 5 wavelengths across the root box (`k w` about 8 at level 2): order 6 is past
/// its range, order 8 holds the accuracy (real k only here: the order-8 operators of each
/// level take a minute to compute; complex k is checked at 0.5 and 2 wavelengths above).
/// `M2l::Auto` is the SVD backend at p = 6 and the FFT backend at p = 8 (complex f64).
#[test]
fn helmholtz_f64_five_wavelengths_needs_order_8() {
    let per_wavelength = 2.0 * std::f64::consts::PI / 1.0625;
    let k = Helmholtz::new(5.0 * per_wavelength).unwrap();
    let case = Case::new(Distribution::Uniform, 4000);
    let (p6, _) = case.errors::<Helmholtz, 6, 3, f64>(&k);
    let (p8, _) = case.errors::<Helmholtz, 8, 3, f64>(&k);
    println!("helmholtz 5 wavelengths: p=6 {p6:.2e}, p=8 {p8:.2e}");
    assert!(p8 < 0.3 * p6, "no fall with order: {p6:e} -> {p8:e}");
    assert!(p8 < 1e-5, "p = 8: {p8:e}");
}
