//! Operator precomputation (p = 6 and 10, Laplace 3D, f64) and warm-cache load: the whole
//! `build()` over a few points, `OperatorCache::open` alone (header validation, payload
//! mapped but not read), `open` + `verify` (a stamped file: the stamp checked, the payload
//! not read) and `open` + `verify_all` (every array checksum: the first load of a new file).
use criterion::{Criterion, criterion_group, criterion_main};
use oxifmm::cache::{OperatorCache, STAMP_MARGIN, Verified};
use oxifmm::operators::cache_params;
use oxifmm::operators::{OperatorParams, level_set};
use oxifmm::points::{Distribution, generate};
use oxifmm::{CacheMode, Fmm, Laplace};
use std::time::Duration;

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("operators");
    g.sample_size(10).warm_up_time(Duration::from_millis(100));
    for p in [6usize, 10] {
        g.measurement_time(Duration::from_secs(if p == 6 { 15 } else { 60 }));
        let prm = OperatorParams::defaults(p, f64::EPSILON);
        g.bench_function(format!("precompute_laplace3d_f64_p{p}"), |b| {
            b.iter(|| level_set::<Laplace, 3>(&Laplace, p, 1.0, &prm).unwrap())
        });
    }
    // Warm load: the whole build over a handful of points is dominated by opening the cache.
    let dir = std::env::temp_dir().join("oxifmm-bench-operators");
    let pts = generate::<f64, 3>(Distribution::Uniform, 64, 1);
    g.measurement_time(Duration::from_secs(5));
    macro_rules! warm {
        ($p:literal) => {
            let build = || {
                Fmm::<Laplace, $p>::builder()
                    .sources(&pts)
                    .max_points_per_leaf(100)
                    .cache(CacheMode::Dir(dir.clone()))
                    .build()
                    .unwrap()
            };
            build();
            // The file `build()` uses (default operator parameters, as in `build()`).
            let prm = OperatorParams::defaults($p, f64::EPSILON);
            let params = cache_params::<Laplace, 3, f64>(&Laplace, $p, &prm);
            let path = dir.join(params.file_name());
            let verified_by = || {
                OperatorCache::open(&path, &params)
                    .unwrap()
                    .verify()
                    .unwrap()
            };
            // Warm means a file from an earlier run: one just written is not stamped yet.
            if verified_by() != Verified::ByStamp {
                std::thread::sleep(STAMP_MARGIN);
                build();
            }
            // Stamps need a unix file identity; elsewhere `verify` always checks every array.
            let stamped = verified_by() == Verified::ByStamp;
            g.bench_function(concat!("warm_load_p", $p), |b| b.iter(build));
            let mb = OperatorCache::open(&path, &params).unwrap().byte_len() as f64 / 1e6;
            eprintln!("p = {}: cache file {} ({mb:.1} MB)", $p, path.display());
            g.bench_function(concat!("load_open_p", $p), |b| {
                b.iter(|| OperatorCache::open(&path, &params).unwrap())
            });
            if stamped {
                g.bench_function(concat!("load_open_verify_stamped_p", $p), |b| {
                    b.iter(|| {
                        let c = OperatorCache::open(&path, &params).unwrap();
                        c.verify().unwrap();
                        c
                    })
                });
            }
            g.bench_function(concat!("load_open_verify_all_p", $p), |b| {
                b.iter(|| {
                    let c = OperatorCache::open(&path, &params).unwrap();
                    c.verify_all().unwrap();
                    c
                })
            });
        };
    }
    warm!(6);
    warm!(10);
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
