//! The run-time configured FMM (`DynFmm`) against the const-generic `Fmm` it dispatches to,
//! its conversions and errors, and the `eps` table (`order_for_eps`).

mod common;
use common::rel_l2;

use oxifmm::points::{Distribution, generate, values};
use oxifmm::{
    Accuracy, AnyKernel, CacheMode, Complex, Coords, DynFmm, Error, Fmm, FmmConfig, Helmholtz,
    Laplace, Precision, ValueVec, Values, Yukawa, direct_any, order_for_eps,
};

fn config(kernel: AnyKernel, order: usize) -> FmmConfig {
    FmmConfig {
        kernel,
        accuracy: Accuracy::Order(order),
        leaf: 64,
        cache: CacheMode::Off,
        gradients: true,
        ..FmmConfig::default()
    }
}

/// The same tree, operators and passes as the typed FMM: bit-identical results.
#[test]
fn dyn_fmm_equals_the_typed_fmm() {
    let pts = generate::<f64, 3>(Distribution::Clusters, 3000, 7);
    let q = values::<f64>(3000, 8);
    let typed = Fmm::<Laplace, 5>::builder()
        .sources(&pts)
        .max_points_per_leaf(64)
        .gradients(true)
        .cache(CacheMode::Off)
        .build()
        .unwrap()
        .evaluate(&q)
        .unwrap();
    let dynamic = DynFmm::build(
        &config(AnyKernel::Laplace, 5),
        3,
        Coords::F64(pts.as_flattened()),
        None,
    )
    .unwrap();
    assert_eq!((dynamic.order(), dynamic.dim()), (5, 3));
    assert_eq!(dynamic.precision(), Precision::F64);
    let out = dynamic.evaluate(Values::F64(&q)).unwrap();
    assert_eq!(out.potentials, ValueVec::F64(typed.potentials));
    assert_eq!(
        out.gradients,
        Some(ValueVec::F64(typed.gradients.as_flattened().to_vec()))
    );

    // Helmholtz, f32 from f64 coordinates, real charges widened.
    let h = Helmholtz::new(4.0).unwrap();
    let pts32: Vec<[f32; 3]> = pts.iter().map(|p| p.map(|x| x as f32)).collect();
    let qc: Vec<Complex<f32>> = q.iter().map(|&x| Complex::new(x as f32, 0.0)).collect();
    let typed = Fmm::<Helmholtz, 4, 3, f32>::with_kernel(h)
        .sources(&pts32)
        .max_points_per_leaf(64)
        .cache(CacheMode::Off)
        .build()
        .unwrap()
        .evaluate(&qc)
        .unwrap();
    let mut c = config(AnyKernel::Helmholtz(h), 4);
    c.precision = Some(Precision::F32);
    c.gradients = false;
    let dynamic = DynFmm::build(&c, 3, Coords::F64(pts.as_flattened()), None).unwrap();
    let out = dynamic.evaluate(Values::F64(&q)).unwrap();
    assert_eq!(out.potentials, ValueVec::C32(typed.potentials));
    assert_eq!(out.gradients, None);
}

/// Every shipped kernel in both precisions (and 2D Laplace) against the direct sum, through
/// the run-time entry points only.
#[test]
fn every_kernel_through_the_runtime_matches_direct_any() {
    let kernels = [
        (AnyKernel::Laplace, 2),
        (AnyKernel::Laplace, 3),
        (AnyKernel::Yukawa(Yukawa::new(5.0).unwrap()), 3),
        (AnyKernel::Helmholtz(Helmholtz::new(5.0).unwrap()), 3),
    ];
    for (kernel, dim) in kernels {
        for (precision, order, tol) in [(Precision::F64, 6, 2e-5), (Precision::F32, 4, 2e-3)] {
            let n = 2000;
            let pts: Vec<f64> = if dim == 3 {
                generate::<f64, 3>(Distribution::Sphere, n, 3)
                    .as_flattened()
                    .to_vec()
            } else {
                generate::<f64, 2>(Distribution::Sphere, n, 3)
                    .as_flattened()
                    .to_vec()
            };
            let q = values::<Complex<f64>>(n, 4);
            let qr: Vec<f64> = q.iter().map(|z| z.re).collect();
            let charges = if kernel.is_complex() {
                Values::C64(&q)
            } else {
                Values::F64(&qr)
            };
            let mut c = config(kernel, order);
            c.precision = Some(precision);
            let fmm = DynFmm::build(&c, dim, Coords::F64(&pts), None).unwrap();
            let out = fmm.evaluate(charges).unwrap();
            let exact = direct_any(
                &kernel,
                dim,
                Coords::F64(&pts),
                charges,
                Coords::F64(&pts),
                true,
            )
            .unwrap();
            let e = rel_l2(
                &out.potentials.to_f64_reals(),
                &exact.potentials.to_f64_reals(),
            );
            let g = rel_l2(
                &out.gradients.unwrap().to_f64_reals(),
                &exact.gradients.unwrap().to_f64_reals(),
            );
            assert!(
                e < tol && g < 30.0 * tol,
                "{kernel} {dim}D {precision:?}: {e:e} {g:e}"
            );
        }
    }
}

#[test]
fn bad_configurations_are_typed_errors() {
    let pts = generate::<f64, 3>(Distribution::Uniform, 200, 1);
    let flat = pts.as_flattened();
    let build = |c: &FmmConfig, dim: usize, coords: &[f64]| {
        DynFmm::build(c, dim, Coords::F64(coords), None).unwrap_err()
    };
    let param = |e: Error| match e {
        Error::InvalidParameter { name, reason } => format!("{name}: {reason}"),
        other => panic!("expected InvalidParameter, got {other}"),
    };
    let lap = config(AnyKernel::Laplace, 6);
    assert!(param(build(&config(AnyKernel::Laplace, 13), 3, flat)).contains("not supported"));
    assert!(param(build(&lap, 4, flat)).contains("2D or 3D"));
    assert!(param(build(&lap, 3, &flat[..599])).contains("multiple of 3"));
    let y = config(AnyKernel::Yukawa(Yukawa::new(1.0).unwrap()), 6);
    assert!(param(build(&y, 2, &flat[..400])).contains("Yukawa kernel is 3D"));
    let mut e = lap.clone();
    e.accuracy = Accuracy::Eps(0.0);
    assert!(param(build(&e, 3, flat)).starts_with("eps"));
    let fmm = DynFmm::build(&lap, 3, Coords::F64(flat), None).unwrap();
    let qc = vec![Complex::new(1.0, 1.0); 200];
    assert!(param(fmm.evaluate(Values::C64(&qc)).unwrap_err()).contains("complex"));
    assert!(matches!(
        fmm.evaluate(Values::F64(&[1.0; 199])).unwrap_err(),
        Error::LengthMismatch { .. }
    ));
    assert!(matches!(
        fmm.evaluate(Values::F64(&[f64::NAN; 200])).unwrap_err(),
        Error::NonFinite { .. }
    ));
    for bad in [
        "stokes",
        "yukawa",
        "yukawa:-1",
        "helmholtz:1,-1",
        "laplace:3",
    ] {
        assert!(bad.parse::<AnyKernel>().is_err(), "{bad}");
    }
}

/// `eps` picks the lowest order whose tabulated error meets it, and rises as eps falls; an
/// eps below the precision's floor is refused with the best the table has.
#[test]
fn order_for_eps_follows_the_table() {
    let f64_orders: Vec<usize> = [1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8]
        .iter()
        .map(|&e| order_for_eps(&AnyKernel::Laplace, 3, Precision::F64, e).unwrap())
        .collect();
    assert!(f64_orders.windows(2).all(|w| w[0] < w[1]), "{f64_orders:?}");
    let y = AnyKernel::Yukawa(Yukawa::new(20.0).unwrap());
    let h = AnyKernel::Helmholtz(Helmholtz::new(10.0).unwrap());
    for k in [AnyKernel::Laplace, y, h] {
        for p in [Precision::F64, Precision::F32] {
            assert!(order_for_eps(&k, 3, p, 1e-3).is_ok(), "{k} {p:?}");
        }
    }
    assert!(order_for_eps(&AnyKernel::Laplace, 2, Precision::F64, 1e-8).is_ok());
    let e = order_for_eps(&AnyKernel::Laplace, 3, Precision::F32, 1e-9).unwrap_err();
    assert!(e.to_string().contains("use f64"), "{e}");
    assert!(order_for_eps(&AnyKernel::Laplace, 3, Precision::F64, f64::NAN).is_err());
}
