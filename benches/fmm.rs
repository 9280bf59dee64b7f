//! The whole FMM: `evaluate` alone, and `build` with a warm operator cache, for 100k and 1M
//! points, uniform and on a sphere surface (Laplace 3D; f64 p = 6 and f32 p = 4), and per
//! kernel (group `fmm_kernels`, uniform points): Yukawa kappa = 20 and Helmholtz k = 10 (complex
//! charges), f64 p = 7 and f32 p = 4, the 1M-point target problems.
//!
//! `OXIFMM_BENCH_QUICK=1` limits it to 100k points.
use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main};
use oxifmm::points::{Distribution, charges, generate, values};
use oxifmm::{CacheMode, Expansion, Fmm, Helmholtz, Kernel, Laplace, Real, SupportedOrder, Yukawa};
use std::path::Path;
use std::time::Duration;

/// `evaluate` and a warm `build` of `kernel` at order `P`, precision `T`, `n` uniform points;
/// charges uniform in [-1, 1] (both parts for a complex kernel).
fn kernel_case<const P: usize, T: Real, K: Kernel<3>>(
    g: &mut BenchmarkGroup<'_, WallTime>,
    kernel: &K,
    label: &str,
    n: usize,
    dir: &Path,
) where
    Expansion<P, 3>: SupportedOrder,
{
    let pts = generate::<T, 3>(Distribution::Uniform, n, 1);
    let q = values::<K::Value<T>>(n, 2);
    let build = || {
        Fmm::<K, P, 3, T>::with_kernel(kernel.clone())
            .sources(&pts)
            .max_points_per_leaf(150)
            .cache(CacheMode::Dir(dir.to_path_buf()))
            .build()
            .unwrap()
    };
    // The first build computes the per-level operators into the cache; the benched ones load.
    let fmm = build();
    let prec = T::PRECISION.name();
    g.bench_function(format!("{label}_evaluate_{prec}_p{P}_uniform_{n}"), |b| {
        b.iter(|| fmm.evaluate(&q).unwrap())
    });
    g.bench_function(format!("{label}_build_warm_{prec}_p{P}_uniform_{n}"), |b| {
        b.iter(build)
    });
}

fn kernels(c: &mut Criterion) {
    let dir = std::env::temp_dir().join("oxifmm-bench-cache");
    let sizes: &[usize] = if std::env::var_os("OXIFMM_BENCH_QUICK").is_some() {
        &[100_000]
    } else {
        &[100_000, 1_000_000]
    };
    let mut g = c.benchmark_group("fmm_kernels");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(10))
        .warm_up_time(Duration::from_secs(1));
    let yukawa = Yukawa::new(20.0).unwrap();
    let helmholtz = Helmholtz::new(10.0).unwrap();
    for &n in sizes {
        g.throughput(Throughput::Elements(n as u64));
        kernel_case::<7, f64, _>(&mut g, &yukawa, "yukawa20", n, &dir);
        kernel_case::<4, f32, _>(&mut g, &yukawa, "yukawa20", n, &dir);
        kernel_case::<7, f64, _>(&mut g, &helmholtz, "helmholtz10", n, &dir);
        kernel_case::<4, f32, _>(&mut g, &helmholtz, "helmholtz10", n, &dir);
    }
    g.finish();
}

fn bench(c: &mut Criterion) {
    let dir = std::env::temp_dir().join("oxifmm-bench-cache");
    let sizes: &[usize] = if std::env::var_os("OXIFMM_BENCH_QUICK").is_some() {
        &[100_000]
    } else {
        &[100_000, 1_000_000]
    };
    let mut g = c.benchmark_group("fmm");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(10))
        .warm_up_time(Duration::from_secs(1));
    for &n in sizes {
        g.throughput(Throughput::Elements(n as u64));
        for (name, dist) in [
            ("uniform", Distribution::Uniform),
            ("sphere", Distribution::Sphere),
        ] {
            let pts = generate::<f64, 3>(dist, n, 1);
            let q = charges::<f64>(n, 2);
            let build = || {
                Fmm::<Laplace, 6>::builder()
                    .sources(&pts)
                    .max_points_per_leaf(150)
                    .cache(CacheMode::Dir(dir.clone()))
                    .build()
                    .unwrap()
            };
            let fmm = build();
            g.bench_function(format!("evaluate_f64_p6_{name}_{n}"), |b| {
                b.iter(|| fmm.evaluate(&q).unwrap())
            });
            g.bench_function(format!("build_warm_f64_p6_{name}_{n}"), |b| b.iter(build));
            let pts32 = generate::<f32, 3>(dist, n, 1);
            let q32 = charges::<f32>(n, 2);
            let fmm32 = Fmm::<Laplace, 4, 3, f32>::builder()
                .sources(&pts32)
                .max_points_per_leaf(150)
                .cache(CacheMode::Dir(dir.clone()))
                .build()
                .unwrap();
            g.bench_function(format!("evaluate_f32_p4_{name}_{n}"), |b| {
                b.iter(|| fmm32.evaluate(&q32).unwrap())
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench, kernels);
criterion_main!(benches);
