//! Warm-cache `OperatorCache::open` time (header validation; arrays are verified lazily)
//! and `open` + `verify_all` (every array checksum) for ~2 MB and ~40 MB of arrays, and raw
//! checksum throughput.

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use oxifmm::cache::{
    CacheParams, NamedArray, OperatorCache, OwnedArray, OwnedData, checksum, write_cache,
};

fn params() -> CacheParams {
    CacheParams {
        kernel: "laplace".into(),
        dim: 3,
        order: 6,
        precision: "f64".into(),
        alpha_inner: 1.05,
        alpha_outer: 2.95,
        tolerance: 1e-12,
        extra: vec![("depth".into(), 5.0)],
    }
}

/// `n_arrays` f64 arrays totalling about `mb` megabytes.
fn arrays(mb: usize, n_arrays: usize) -> Vec<OwnedArray> {
    let per = mb * 1_000_000 / 8 / n_arrays;
    (0..n_arrays)
        .map(|k| OwnedArray {
            name: format!("op{k}"),
            shape: vec![per],
            data: OwnedData::F64(
                (0..per)
                    .map(|i| (i as f64 * 0.37 + k as f64).sin())
                    .collect(),
            ),
        })
        .collect()
}

fn bench_open(c: &mut Criterion) {
    let dir: PathBuf =
        std::env::temp_dir().join(format!("oxifmm-cache-bench-{}", std::process::id()));
    let p = params();
    let mut g = c.benchmark_group("cache_open");
    for mb in [2usize, 40] {
        let path = dir.join(format!("bench-{mb}mb.oxc"));
        let owned = arrays(mb, 16);
        let views: Vec<NamedArray> = owned.iter().map(OwnedArray::view).collect();
        write_cache(&path, &p, &views).unwrap();
        let len = OperatorCache::open(&path, &p).unwrap().byte_len();
        g.throughput(Throughput::Bytes(len as u64));
        g.bench_with_input(
            BenchmarkId::new("open", format!("{mb}MB")),
            &path,
            |b, path| b.iter(|| OperatorCache::open(black_box(path), &p).unwrap()),
        );
        g.bench_with_input(
            BenchmarkId::new("open_verify_all", format!("{mb}MB")),
            &path,
            |b, path| {
                b.iter(|| {
                    let c = OperatorCache::open(black_box(path), &p).unwrap();
                    c.verify_all().unwrap();
                    black_box(c.f64("op0").unwrap()[0])
                })
            },
        );
    }
    g.finish();

    let mut g = c.benchmark_group("cache_checksum");
    let data: Vec<u8> = (0..40_000_000u32)
        .map(|i| (i * 2_654_435_761) as u8)
        .collect();
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.bench_function("checksum_40MB_in_memory", |b| {
        b.iter(|| checksum(black_box(&data)))
    });
    g.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bench_open
}
criterion_main!(benches);
