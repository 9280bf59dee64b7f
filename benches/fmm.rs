//! The whole FMM: `evaluate` alone, and `build` with a warm operator cache, for 100k and 1M
//! points, uniform and on a sphere surface (Laplace 3D; f64 p = 6 and f32 p = 4).
//!
//! `OXIFMM_BENCH_QUICK=1` limits it to 100k points.
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use oxifmm::points::{Distribution, charges, generate};
use oxifmm::{CacheMode, Fmm, Laplace};
use std::time::Duration;

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

criterion_group!(benches, bench);
criterion_main!(benches);
