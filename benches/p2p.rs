//! P2P microkernel throughput, single thread: pair interactions per second.
//!
//! `cargo bench --bench p2p`; for the peak build add `RUSTFLAGS="-C target-cpu=native"` (with its
//! own target directory).

use std::time::Duration;

use criterion::{
    BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};
use oxifmm::{Helmholtz, Kernel, Laplace, Real, Value, Yukawa};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

fn points<T: Real, const D: usize>(rng: &mut StdRng, n: usize) -> [Vec<T>; D] {
    std::array::from_fn(|_| {
        (0..n)
            .map(|_| T::from_f64(rng.random_range(0.0..1.0)))
            .collect()
    })
}

/// One benchmark: `nt` targets against `ns` sources.
fn case<K: Kernel<D>, const D: usize, T: Real>(
    c: &mut Criterion,
    kernel: &K,
    group: &str,
    nt: usize,
    ns: usize,
    big: bool,
) {
    let mut rng = StdRng::seed_from_u64(1);
    let targets = points::<T, D>(&mut rng, nt);
    let sources = points::<T, D>(&mut rng, ns);
    let charges: Vec<K::Value<T>> = (0..ns)
        .map(|_| {
            let (re, im) = (rng.random_range(-1.0..1.0), rng.random_range(-1.0..1.0));
            K::Value::<T>::from_parts(T::from_f64(re), T::from_f64(im))
        })
        .collect();
    let tr: [&[T]; D] = std::array::from_fn(|k| targets[k].as_slice());
    let sr: [&[T]; D] = std::array::from_fn(|k| sources[k].as_slice());

    let mut g = c.benchmark_group(group);
    g.throughput(Throughput::Elements((nt * ns) as u64));
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(if big { 3 } else { 2 }));
    if big {
        g.sample_size(10).sampling_mode(SamplingMode::Flat);
    }
    for gradients in [false, true] {
        let width = if gradients { 1 + D } else { 1 };
        let mut out = vec![K::Value::<T>::default(); width * nt];
        let name = format!(
            "{}/{}",
            T::PRECISION.name(),
            if gradients { "gradient" } else { "potential" }
        );
        g.bench_function(BenchmarkId::new(name, format!("{nt}x{ns}")), |b| {
            b.iter(|| kernel.p2p(sr, &charges, tr, &mut out, gradients))
        });
    }
    g.finish();
}

fn p2p(c: &mut Criterion) {
    case::<Laplace, 3, f32>(c, &Laplace, "laplace3d_20k", 20_000, 20_000, true);
    case::<Laplace, 3, f64>(c, &Laplace, "laplace3d_20k", 20_000, 20_000, true);
    case::<Laplace, 3, f32>(c, &Laplace, "laplace3d_leaf", 150, 4_000, false);
    case::<Laplace, 3, f64>(c, &Laplace, "laplace3d_leaf", 150, 4_000, false);
    case::<Laplace, 2, f32>(c, &Laplace, "laplace2d_leaf", 150, 4_000, false);
    case::<Laplace, 2, f64>(c, &Laplace, "laplace2d_leaf", 150, 4_000, false);
    let yukawa = Yukawa::new(20.0).expect("a valid kappa");
    case::<Yukawa, 3, f32>(c, &yukawa, "yukawa3d_leaf", 150, 4_000, false);
    case::<Yukawa, 3, f64>(c, &yukawa, "yukawa3d_leaf", 150, 4_000, false);
    let helmholtz = Helmholtz::new(10.0).expect("a valid wavenumber");
    case::<Helmholtz, 3, f32>(c, &helmholtz, "helmholtz3d_leaf", 150, 4_000, false);
    case::<Helmholtz, 3, f64>(c, &helmholtz, "helmholtz3d_leaf", 150, 4_000, false);
}

criterion_group!(benches, p2p);
criterion_main!(benches);
