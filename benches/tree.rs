//! Tree construction and all four interaction lists for 1M points, and the radix sort that puts
//! the points into Morton order against rayon's parallel sorts (the measurement
//! behind keeping it hand-written).
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use oxifmm::bench_support::radix_sort_with_permutation;
use oxifmm::points::{Distribution, generate};
use oxifmm::{InteractionLists, LinearTree, TreeOptions};
use rayon::prelude::*;
use std::time::Duration;

fn bench(c: &mut Criterion) {
    let n = 1_000_000;
    let mut g = c.benchmark_group("tree_1M");
    g.sample_size(10).measurement_time(Duration::from_secs(8));
    g.throughput(Throughput::Elements(n as u64));
    for (name, dist) in [
        ("uniform", Distribution::Uniform),
        ("sphere", Distribution::Sphere),
    ] {
        let pts = generate::<f64, 3>(dist, n, 1);
        let opts = TreeOptions::adaptive(150, 16);
        g.bench_function(format!("tree_{name}"), |b| {
            b.iter(|| LinearTree::build(&pts, None, &opts).unwrap())
        });
        g.bench_function(format!("tree_and_lists_{name}"), |b| {
            b.iter(|| {
                let t = LinearTree::build(&pts, None, &opts).unwrap();
                let l = InteractionLists::build(&t);
                (t.len(), l.v.indices.len())
            })
        });
    }
    g.finish();

    // Finest-level Morton codes of 1M uniform points (57 significant bits in 3D), sorted with
    // the permutation that the tree keeps.
    let pts = generate::<f64, 3>(Distribution::Uniform, n, 1);
    let keys: Vec<u64> = pts
        .iter()
        .map(|p| {
            let q = p.map(|x| ((x * (1u64 << 19) as f64) as u64).min((1 << 19) - 1));
            (0..19).fold(0u64, |k, b| {
                k | (((q[0] >> b) & 1) << (3 * b + 2))
                    | (((q[1] >> b) & 1) << (3 * b + 1))
                    | (((q[2] >> b) & 1) << (3 * b))
            })
        })
        .collect();
    let mut g = c.benchmark_group("sort_1M");
    g.sample_size(10).measurement_time(Duration::from_secs(5));
    g.throughput(Throughput::Elements(n as u64));
    g.bench_function("radix_with_permutation", |b| {
        b.iter(|| radix_sort_with_permutation(&keys, 57))
    });
    g.bench_function("std_par_sort_by_key_stable", |b| {
        b.iter(|| {
            let mut v: Vec<(u64, u32)> = keys.iter().zip(0..).map(|(&k, i)| (k, i)).collect();
            v.par_sort_by_key(|e| e.0);
            v
        })
    });
    g.bench_function("std_par_sort_unstable", |b| {
        b.iter(|| {
            let mut v: Vec<(u64, u32)> = keys.iter().zip(0..).map(|(&k, i)| (k, i)).collect();
            v.par_sort_unstable();
            v
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
