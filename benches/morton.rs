//! Morton key operations: encode from a point, and colleagues.
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use oxifmm::points::{Distribution, generate};
use oxifmm::{Domain, MortonKey};
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    let n = 100_000;
    let pts = generate::<f64, 3>(Distribution::Uniform, n, 1);
    let domain = Domain::<3>::new([0.0; 3], 1.0).unwrap();
    let mut g = c.benchmark_group("morton");
    g.throughput(Throughput::Elements(n as u64));
    g.bench_function("encode_3d_level19", |b| {
        b.iter(|| {
            let mut acc = 0u64;
            for p in &pts {
                acc ^= MortonKey::<3>::from_point(black_box(p), &domain, 19).raw();
            }
            acc
        })
    });
    let mut out = vec![0u64; n];
    g.bench_function("encode_points_into_3d_1thread", |b| {
        b.iter(|| {
            oxifmm::geometry::morton::encode_points_into(&domain, black_box(&pts), &mut out);
            out[n / 2]
        })
    });
    g.bench_function("encode_points_3d_parallel", |b| {
        b.iter(|| oxifmm::geometry::morton::encode_points(&domain, black_box(&pts)))
    });
    let keys: Vec<MortonKey<3>> = pts
        .iter()
        .map(|p| MortonKey::from_point(p, &domain, 8))
        .collect();
    g.bench_function("colleagues_3d_level8", |b| {
        b.iter(|| {
            let mut acc = 0u64;
            for k in &keys {
                for c in black_box(k).colleagues() {
                    acc ^= c.raw();
                }
            }
            acc
        })
    });
    g.bench_function("parent_children_3d", |b| {
        b.iter(|| {
            let mut acc = 0u64;
            for k in &keys {
                for c in black_box(k).parent().children() {
                    acc ^= c.raw();
                }
            }
            acc
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
