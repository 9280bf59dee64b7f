//! M2L alone, on real level data (3D, 200k uniform points, one thread): the SVD/GEMM backend
//! and the FFT/Hadamard backend side by side, Laplace and Helmholtz (k = 10, complex charges),
//! p = 4, 6, 8, f32 and f64: the measurements behind [`oxifmm::M2l::Auto`].
//!
//! Criterion reports target boxes per second. Before each group a summary line gives the
//! M2L work per evaluate (`BuildReport::m2l_flops`), the achieved GFLOP/s (median of 5
//! timed runs) and its ratio to this machine's single-thread GEMM speed in the same
//! precision (faer, best of square sizes 384, 512 and 768, measured at start-up): the physical limit the GEMM-based
//! backend can approach, and the yardstick for the Hadamard kernels. The FFT backend does
//! fewer flops per box, so compare boxes/s between backends and GFLOP/s against GEMM.
//!
//! `cargo bench --bench m2l` (the README's backend table comes from its output);
//! `cargo bench --bench m2l -- helmholtz` for one kernel's groups.
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use oxifmm::bench_support::{best_secs, median_secs};
use oxifmm::points::{Distribution, generate, values};
use oxifmm::{CacheMode, Fmm, Helmholtz, Kernel, Laplace, M2l, Real};
use std::time::Duration;

/// Single-thread GEMM speed in GFLOP/s for `T`: faer on square sizes 384, 512 and 768, the
/// fastest of 5 runs of each (the peak this core reaches: the yardstick).
fn gemm_gflops<T: faer::traits::ComplexField + Real>() -> f64 {
    use faer::{Accum, Mat, Par, linalg::matmul::matmul};
    [384usize, 512, 768]
        .iter()
        .map(|&n| {
            let a = Mat::<T>::from_fn(n, n, |i, j| {
                T::from_f64(((i * 7 + j * 3) % 11) as f64 - 5.0)
            });
            let b = Mat::<T>::from_fn(n, n, |i, j| T::from_f64(((i * 5 + j) % 13) as f64 - 6.0));
            let mut c = Mat::<T>::zeros(n, n);
            let s = best_secs(5, || {
                matmul(
                    c.as_mut(),
                    Accum::Replace,
                    a.as_ref(),
                    b.as_ref(),
                    T::from_f64(1.0),
                    Par::Seq,
                )
            });
            2.0 * (n * n * n) as f64 / s / 1e9
        })
        .fold(0.0, f64::max)
}

fn run<const P: usize, T: Real + faer::traits::ComplexField, K: Kernel<3>>(
    c: &mut Criterion,
    dir: &std::path::Path,
    gemm: f64,
    kernel: &K,
    label: &str,
) where
    oxifmm::Expansion<P, 3>: oxifmm::SupportedOrder,
{
    let n = 200_000;
    let pts = generate::<T, 3>(Distribution::Uniform, n, 1);
    let q = values::<K::Value<T>>(n, 2);
    let mut g = c.benchmark_group(format!("m2l_{label}"));
    g.sample_size(10)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_millis(300));
    for backend in [M2l::Svd, M2l::Fft] {
        let fmm = Fmm::<K, P, 3, T>::with_kernel(kernel.clone())
            .sources(&pts)
            .max_points_per_leaf(150)
            .threads(1)
            .m2l(backend)
            .cache(CacheMode::Dir(dir.to_path_buf()))
            .build()
            .unwrap();
        fmm.evaluate(&q).unwrap();
        let boxes = fmm.run_m2l_only();
        let flops = fmm.build_report().m2l_flops;
        let secs = median_secs(5, || {
            fmm.run_m2l_only();
        });
        let k = fmm.build_report().m2l_rank[0];
        println!(
            "m2l summary {label} {backend:?} p={P} {}: {boxes} target boxes, {:.2} MFLOP/box (rank {k}), \
             {:.0} boxes/s, {:.1} GFLOP/s = {:.0}% of GEMM ({gemm:.1} GFLOP/s)",
            T::PRECISION.name(),
            flops / boxes as f64 / 1e6,
            boxes as f64 / secs,
            flops / secs / 1e9,
            100.0 * flops / secs / 1e9 / gemm
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
    let (g32, g64) = (gemm_gflops::<f32>(), gemm_gflops::<f64>());
    println!(
        "single-thread GEMM (faer, best of 384^3, 512^3, 768^3): f32 {g32:.1} GFLOP/s, f64 {g64:.1} GFLOP/s"
    );
    // The set-up and summary lines of a kernel run only when criterion's filter (the first
    // argument that is not an option) could select its groups.
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let wanted = |label: &str| {
        filter
            .as_deref()
            .is_none_or(|f| format!("m2l_{label}").contains(f) || f.contains(label))
    };
    if wanted("laplace") {
        every_order(c, &dir, (g32, g64), &Laplace, "laplace");
    }
    // Complex values: GEMM on the realified operators, so the real GEMM speed is the yardstick.
    if wanted("helmholtz") {
        let h = Helmholtz::new(10.0).expect("a valid wavenumber");
        every_order(c, &dir, (g32, g64), &h, "helmholtz");
    }
}

/// Both backends for `kernel` at p = 4, 6, 8, f32 and f64 (with the f32 and f64 GEMM speeds).
fn every_order<K: Kernel<3>>(
    c: &mut Criterion,
    dir: &std::path::Path,
    (g32, g64): (f64, f64),
    kernel: &K,
    label: &str,
) {
    run::<4, f32, _>(c, dir, g32, kernel, label);
    run::<4, f64, _>(c, dir, g64, kernel, label);
    run::<6, f32, _>(c, dir, g32, kernel, label);
    run::<6, f64, _>(c, dir, g64, kernel, label);
    run::<8, f32, _>(c, dir, g32, kernel, label);
    run::<8, f64, _>(c, dir, g64, kernel, label);
}

criterion_group!(benches, bench);
criterion_main!(benches);
