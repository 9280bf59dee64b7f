//! Tree construction and all four interaction lists for 1M points.
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use oxifmm::points::{Distribution, generate};
use oxifmm::{InteractionLists, LinearTree, TreeOptions};
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
}

criterion_group!(benches, bench);
criterion_main!(benches);
