//! Decides where the FMM uses the build.rs-generated dense microkernels instead of faer's
//! matmul (the table in `oxifmm::bench_support::use_generated`, i.e. `src/linalg/fixed.rs`).
//!
//! For f32 and f64, on the FMM's real shapes. Matrix-vector, for every 3D order p = 2..=12
//! (surface size n = 6 (p - 1)^2 + 2):
//!
//! - `m2m`:  `n x 8n` times `8n x 1` (one parent from its 8 children), kernel `K = n`, 8 blocks;
//! - `l2l`:  `n x n` times `n x 1`, accumulated (also the leaf P2M check-to-equivalent), `K = n`.
//!
//! Many columns, for p = 4, 6, 8 (n = 56, 152, 296):
//!
//! - `c2e`:  `n x n` times `n x 64` (downward check-to-equivalent over a chunk), `K = n`;
//! - `vt`:   `k x n` times `n x 64` (M2L compression of a chunk's multipoles), `K = n`;
//! - `core{m}`: `k x k` times `k x m`, m = 16, 64, 200 (one M2L transfer vector applied to the
//!   gathered multipoles), run-time inner dimension (`K = 1`);
//! - `u`:    `n x k` times `k x 64` (M2L decompression), `K = 1`;
//!
//! with `k = round(0.76 n)` (the M2L rank at p = 6 in f64 is 116 = 0.76 * 152). Throughput is
//! in flop/s (`2 m kdim cols` per product): criterion's `elem/s` column reads as FLOP/s.
//!
//! Run: `cargo bench --bench microkernels`.
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use oxifmm::Real;
use oxifmm::bench_support::{faer_gemm, generated_gemm};
use std::hint::black_box;
use std::time::Duration;

fn data<T: Real>(len: usize, seed: usize) -> Vec<T> {
    (0..len)
        .map(|i| T::from_f64((((i * 7919 + seed * 104_729) % 1000) as f64) / 500.0 - 1.0))
        .collect()
}

/// One shape: `m x kdim` times `kdim x cols`, generated kernel with fixed inner dimension `k`.
#[allow(clippy::too_many_arguments)]
fn shape<T: Real>(
    c: &mut Criterion,
    name: &str,
    m: usize,
    kdim: usize,
    cols: usize,
    k: usize,
    accumulate: bool,
) {
    let a = data::<T>(m * kdim, 1);
    let b = data::<T>(kdim * cols, 2);
    let mut out = data::<T>(m * cols, 3);
    let mut g = c.benchmark_group(format!("gemm/{}/{name}", T::PRECISION.name()));
    g.sample_size(10)
        .measurement_time(Duration::from_millis(700))
        .warm_up_time(Duration::from_millis(200))
        .throughput(Throughput::Elements((2 * m * kdim * cols) as u64));
    let label = format!("{m}x{kdim}x{cols}");
    g.bench_function(BenchmarkId::new("faer", &label), |bch| {
        bch.iter(|| {
            faer_gemm(
                &mut out,
                black_box(&a),
                m,
                kdim,
                &b,
                cols,
                T::ONE,
                accumulate,
            );
        })
    });
    g.bench_function(BenchmarkId::new("generated", &label), |bch| {
        bch.iter(|| {
            assert!(generated_gemm(
                &mut out,
                black_box(&a),
                m,
                kdim,
                &b,
                cols,
                T::ONE,
                accumulate,
                k
            ));
        })
    });
    g.finish();
}

/// The matrix-vector shapes, for every 3D order.
fn gemv<T: Real>(c: &mut Criterion, p: usize) {
    let n = 6 * (p - 1) * (p - 1) + 2;
    shape::<T>(c, &format!("p{p}/m2m"), n, 8 * n, 1, n, false);
    shape::<T>(c, &format!("p{p}/l2l"), n, n, 1, n, true);
}

/// The many-column shapes, for p = 4, 6, 8.
fn panels<T: Real>(c: &mut Criterion, p: usize) {
    let n = 6 * (p - 1) * (p - 1) + 2;
    let k = (0.76 * n as f64).round() as usize;
    shape::<T>(c, &format!("p{p}/c2e"), n, n, 64, n, false);
    shape::<T>(c, &format!("p{p}/vt"), k, n, 64, n, false);
    for m in [16, 64, 200] {
        shape::<T>(c, &format!("p{p}/core{m}"), k, k, m, 1, false);
    }
    shape::<T>(c, &format!("p{p}/u"), n, k, 64, 1, false);
}

fn bench(c: &mut Criterion) {
    for p in oxifmm::order::supported_orders(3) {
        gemv::<f32>(c, p);
        gemv::<f64>(c, p);
    }
    for p in [4, 6, 8] {
        panels::<f32>(c, p);
        panels::<f64>(c, p);
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
