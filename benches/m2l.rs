//! M2L alone, per target box, on real level data: the SVD/GEMM backend and the FFT/Hadamard
//! backend side by side, p = 4, 6, 8, f32 and f64 (Laplace 3D, 200k uniform points).
//!
//! Throughput is in target boxes per second. Flops per box (printed at start-up):
//! SVD `2 k^2 |V|` (k = M2L rank, |V| <= 189) plus the two basis products `4 n k`;
//! FFT `26 * 64 * F * 8 / 8` Hadamard (F = (2p)^2 (p + 1) frequencies) plus the DFTs.
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use oxifmm::points::{Distribution, charges, generate};
use oxifmm::{CacheMode, Fmm, Laplace, M2l, Real};
use std::time::Duration;

fn run<const P: usize, T: Real>(c: &mut Criterion, dir: &std::path::Path)
where
    oxifmm::Expansion<P, 3>: oxifmm::SupportedOrder,
{
    let n = 200_000;
    let pts = generate::<T, 3>(Distribution::Uniform, n, 1);
    let q = charges::<T>(n, 2);
    let mut g = c.benchmark_group("m2l");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(4))
        .warm_up_time(Duration::from_millis(500));
    for backend in [M2l::Svd, M2l::Fft] {
        let fmm = Fmm::<Laplace, P, 3, T>::builder()
            .sources(&pts)
            .max_points_per_leaf(150)
            .m2l(backend)
            .cache(CacheMode::Dir(dir.to_path_buf()))
            .build()
            .unwrap();
        fmm.evaluate(&q).unwrap();
        let boxes = fmm.run_m2l_only();
        let nf = (2 * P) * (2 * P) * (P + 1);
        let k = fmm.build_report().m2l_rank[0];
        let flops = match backend {
            M2l::Fft => 26.0 * 64.0 * nf as f64,
            _ => 2.0 * (k * k) as f64 * 189.0,
        };
        println!(
            "m2l {backend:?} p={P} {}: {boxes} target boxes, ~{:.2} MFLOP per box (rank {k})",
            T::PRECISION.name(),
            flops / 1e6
        );
        g.throughput(Throughput::Elements(boxes as u64));
        g.bench_function(format!("{backend:?}_p{P}_{}", T::PRECISION.name()), |b| {
            b.iter(|| fmm.run_m2l_only())
        });
    }
    g.finish();
}

fn bench(c: &mut Criterion) {
    let dir = std::env::temp_dir().join("oxifmm-bench-m2l");
    run::<4, f32>(c, &dir);
    run::<4, f64>(c, &dir);
    run::<6, f32>(c, &dir);
    run::<6, f64>(c, &dir);
    run::<8, f32>(c, &dir);
    run::<8, f64>(c, &dir);
}

criterion_group!(benches, bench);
criterion_main!(benches);
