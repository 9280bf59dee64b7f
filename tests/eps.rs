//! The accuracy knob against the truth: for every `eps` the project promises, the plan that
//! `plan_for_eps` picks delivers a relative L2 error of the potential in `[eps / 10, eps]`
//! on uniform, sphere and clustered points (measured against the direct sum, the table's
//! problem: 20000 points, 2000 sampled targets); an `eps` below the floor is refused.

use oxifmm::points::Distribution;
use oxifmm::{
    Accuracy, AnyKernel, CacheMode, Error, FmmConfig, Precision, measured_error, plan_for_eps,
};

const SETS: [Distribution; 3] = [
    Distribution::Uniform,
    Distribution::Sphere,
    Distribution::Clusters,
];

/// Checks the window for each `eps` of a case: the plan claims it and each set delivers it.
fn delivers(dim: usize, precision: Precision, epss: &[f64]) {
    let cache = tempfile::tempdir().unwrap();
    for &eps in epss {
        let plan = plan_for_eps(&AnyKernel::Laplace, dim, precision, eps).unwrap();
        assert!(
            plan.max_error <= eps && plan.min_error >= eps / 10.0,
            "{dim}D {precision:?} eps {eps:e}: the table has no plan within [eps/10, eps]: {plan:?}"
        );
        let config = FmmConfig {
            accuracy: Accuracy::Eps(eps),
            precision: Some(precision),
            cache: CacheMode::Dir(cache.path().to_path_buf()),
            ..FmmConfig::default()
        };
        for dist in SETS {
            let e = measured_error(&config, dim, dist, 20_000, 2000).unwrap();
            assert!(
                e <= eps && e >= eps / 10.0,
                "{dim}D {precision:?} eps {eps:e} {dist:?}: order {}, M2L tolerance {:e} \
                 delivers {e:e}",
                plan.order,
                plan.params.m2l_tolerance
            );
        }
    }
}

#[test]
fn laplace_3d_f64_delivers_eps_within_a_factor_of_ten() {
    delivers(3, Precision::F64, &[1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8]);
}

#[test]
fn laplace_3d_f64_between_the_decades() {
    delivers(3, Precision::F64, &[3e-3, 3e-4, 3e-5, 3e-6, 3e-7, 5e-9]);
}

#[test]
fn laplace_2d_f64_delivers_eps_within_a_factor_of_ten() {
    delivers(2, Precision::F64, &[1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8]);
}

#[test]
fn laplace_f32_delivers_eps_within_a_factor_of_ten() {
    delivers(3, Precision::F32, &[1e-2, 1e-3, 1e-4]);
    delivers(2, Precision::F32, &[1e-2, 1e-3, 1e-4, 1e-5]);
}

/// Below what the table reaches (f64: the floor of the regularised check-to-equivalent
/// solves, about 3e-9; f32 3D: the roundoff of summing in f32 on the sphere, about 6e-5),
/// `eps` is refused with the best error on offer, not silently missed.
#[test]
fn eps_below_the_floor_is_refused() {
    for (dim, precision, eps) in [
        (3, Precision::F64, 1e-9),
        (3, Precision::F64, 1e-10),
        (2, Precision::F64, 1e-10),
        (3, Precision::F32, 1e-5),
    ] {
        let e = plan_for_eps(&AnyKernel::Laplace, dim, precision, eps).unwrap_err();
        assert!(
            matches!(&e, Error::InvalidParameter { name: "eps", reason } if reason.contains("best measured")),
            "{e}"
        );
    }
}
