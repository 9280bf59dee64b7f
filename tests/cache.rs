//! Tests of the memory-mapped operator cache.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Barrier};

use oxifmm::Error;
use oxifmm::cache::{
    ArrayRef, CacheOutcome, CacheParams, FORMAT_VERSION, NamedArray, OperatorCache, OwnedArray,
    OwnedData, STAMP_MARGIN, Verified, default_cache_dir, load_or_create, stamp_path, write_cache,
};

/// A fresh, unique directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        use std::sync::atomic::{AtomicU64, Ordering};
        static N: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let dir = std::env::temp_dir().join(format!(
            "oxifmm-cache-test-{tag}-{}-{}-{nanos}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// xorshift64*: deterministic finite random values, no crates needed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn f64(&mut self) -> f64 {
        // Finite values spread over many exponents and both signs.
        let u = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        let e = (self.next() % 40) as i32 - 20;
        let s = if self.next() & 1 == 0 { 1.0 } else { -1.0 };
        s * u * 2f64.powi(e)
    }
    fn f64s(&mut self, n: usize) -> Vec<f64> {
        (0..n).map(|_| self.f64()).collect()
    }
    fn f32s(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.f64() as f32).collect()
    }
}

fn params(order: u32) -> CacheParams {
    CacheParams {
        kernel: "laplace".to_string(),
        dim: 3,
        order,
        precision: "f64".to_string(),
        alpha_inner: 1.05,
        alpha_outer: 2.95,
        tolerance: 1e-12,
        extra: vec![("depth".to_string(), 4.0), ("svd_rank".to_string(), 37.0)],
    }
}

fn sample_arrays(seed: u64) -> Vec<OwnedArray> {
    let mut rng = Rng(seed | 1);
    vec![
        OwnedArray {
            name: "m2m".into(),
            shape: vec![7, 11, 13],
            data: OwnedData::F64(rng.f64s(7 * 11 * 13)),
        },
        OwnedArray {
            name: "odd_f32".into(),
            shape: vec![13],
            data: OwnedData::F32(rng.f32s(13)),
        },
        OwnedArray {
            name: "scalar".into(),
            shape: vec![],
            data: OwnedData::F64(rng.f64s(1)),
        },
        OwnedArray {
            name: "empty".into(),
            shape: vec![0, 5],
            data: OwnedData::F64(vec![]),
        },
        OwnedArray {
            name: "m2l_f32".into(),
            shape: vec![3, 333],
            data: OwnedData::F32(rng.f32s(999)),
        },
        OwnedArray {
            name: "odd_f64".into(),
            shape: vec![1001],
            data: OwnedData::F64(rng.f64s(1001)),
        },
    ]
}

fn write_owned(path: &Path, p: &CacheParams, arrays: &[OwnedArray]) {
    let views: Vec<NamedArray> = arrays.iter().map(OwnedArray::view).collect();
    write_cache(path, p, &views).unwrap();
}

/// Asserts that `cache` holds exactly `arrays`, bit for bit, in order, 64-byte aligned.
fn assert_same(cache: &OperatorCache, arrays: &[OwnedArray]) {
    let names: Vec<&str> = cache.names().collect();
    let expected: Vec<&str> = arrays.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, expected);
    for a in arrays {
        assert_eq!(cache.shape(&a.name), Some(a.shape.as_slice()), "{}", a.name);
        match &a.data {
            OwnedData::F64(d) => {
                let v = cache.f64(&a.name).unwrap();
                assert_eq!(v.as_ptr() as usize % 64, 0, "{} not aligned", a.name);
                assert_eq!(v.len(), d.len());
                assert!(v.iter().zip(d).all(|(x, y)| x.to_bits() == y.to_bits()));
                assert!(matches!(cache.f32(&a.name), Err(Error::Cache { .. })));
            }
            OwnedData::F32(d) => {
                let v = cache.f32(&a.name).unwrap();
                assert_eq!(v.as_ptr() as usize % 64, 0, "{} not aligned", a.name);
                assert_eq!(v.len(), d.len());
                assert!(v.iter().zip(d).all(|(x, y)| x.to_bits() == y.to_bits()));
                assert!(matches!(cache.f64(&a.name), Err(Error::Cache { .. })));
            }
        }
    }
}

fn cache_reason(e: &Error) -> &str {
    match e {
        Error::Cache { reason, .. } => reason,
        other => panic!("expected Error::Cache, got {other:?}"),
    }
}

#[test]
fn round_trip_bit_for_bit() {
    let dir = TempDir::new("roundtrip");
    let p = params(6);
    let path = dir.path().join(p.file_name());
    let arrays = sample_arrays(42);
    write_owned(&path, &p, &arrays);
    let cache = OperatorCache::open(&path, &p).unwrap();
    assert_same(&cache, &arrays);
    assert_eq!(cache.params(), &p);
    assert_eq!(cache.path(), path.as_path());
    assert_eq!(
        cache.byte_len() as u64,
        std::fs::metadata(&path).unwrap().len()
    );
    assert_eq!(cache.byte_len() % 64, 0);
    assert!(cache.shape("nope").is_none());
    let e = cache.f64("nope").unwrap_err();
    assert!(cache_reason(&e).contains("no array"), "{e}");
    // Only the cache file is left in the directory.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn borrowed_arrays_and_no_arrays() {
    let dir = TempDir::new("borrowed");
    let p = params(3);
    let path = dir.path().join("x.oxc");
    let a = [1.0f64, 2.0, 3.0];
    let b = [1.5f32; 5];
    write_cache(
        &path,
        &p,
        &[
            NamedArray {
                name: "a",
                shape: vec![3],
                data: ArrayRef::F64(&a),
            },
            NamedArray {
                name: "b",
                shape: vec![5, 1],
                data: ArrayRef::F32(&b),
            },
        ],
    )
    .unwrap();
    let c = OperatorCache::open(&path, &p).unwrap();
    assert_eq!(c.f64("a").unwrap(), &a);
    assert_eq!(c.f32("b").unwrap(), &b);

    write_cache(&path, &p, &[]).unwrap();
    let c = OperatorCache::open(&path, &p).unwrap();
    assert_eq!(c.names().count(), 0);

    // Shape/length mismatch and duplicates are typed errors.
    let bad = write_cache(
        &path,
        &p,
        &[NamedArray {
            name: "a",
            shape: vec![2],
            data: ArrayRef::F64(&a),
        }],
    );
    assert!(
        matches!(bad, Err(Error::InvalidParameter { .. })),
        "{bad:?}"
    );
    let dup = write_cache(
        &path,
        &p,
        &[
            NamedArray {
                name: "a",
                shape: vec![3],
                data: ArrayRef::F64(&a),
            },
            NamedArray {
                name: "a",
                shape: vec![3],
                data: ArrayRef::F64(&a),
            },
        ],
    );
    assert!(
        matches!(dup, Err(Error::InvalidParameter { .. })),
        "{dup:?}"
    );
}

#[test]
fn file_name_is_deterministic_and_distinct() {
    let a = params(6);
    assert_eq!(a.file_name(), params(6).file_name());
    assert!(
        a.file_name().starts_with("laplace-d3-p6-f64-"),
        "{}",
        a.file_name()
    );
    assert!(a.file_name().ends_with(".oxc"));
    assert_ne!(a.file_name(), params(7).file_name());
    let mut b = params(6);
    b.tolerance = 1e-11;
    assert_ne!(a.file_name(), b.file_name());
    let mut c = params(6);
    c.extra[0].1 = 5.0;
    assert_ne!(a.file_name(), c.file_name());
    let mut d = params(6);
    d.kernel = "helm/holtz x".into();
    assert!(
        d.file_name().starts_with("helm_holtz_x-"),
        "{}",
        d.file_name()
    );
}

#[test]
fn default_dir_ends_in_oxifmm_or_env() {
    let d = default_cache_dir();
    match std::env::var_os("OXIFMM_CACHE_DIR").filter(|v| !v.is_empty()) {
        Some(v) => assert_eq!(d, PathBuf::from(v)),
        None => assert!(d.ends_with("oxifmm"), "{}", d.display()),
    }
}

/// `open` followed by `verify_all`: the full check that `load_or_create` does.
fn open_verified(path: &Path, p: &CacheParams) -> oxifmm::Result<OperatorCache> {
    let c = OperatorCache::open(path, p)?;
    c.verify_all()?;
    Ok(c)
}

/// Asserts that no array of `arrays` is handed out by a fresh `open` of `path` with
/// different bits than written: each access either fails or returns the original values.
fn assert_no_corrupt_data_served(path: &Path, p: &CacheParams, arrays: &[OwnedArray]) {
    let Ok(cache) = OperatorCache::open(path, p) else {
        return;
    };
    for a in arrays {
        match &a.data {
            OwnedData::F64(d) => {
                if let Ok(v) = cache.f64(&a.name) {
                    assert!(v.iter().zip(d).all(|(x, y)| x.to_bits() == y.to_bits()));
                }
            }
            OwnedData::F32(d) => {
                if let Ok(v) = cache.f32(&a.name) {
                    assert!(v.iter().zip(d).all(|(x, y)| x.to_bits() == y.to_bits()));
                }
            }
        }
    }
}

/// Writes a valid cache, corrupts it with `corrupt`, checks that `open` + `verify_all`
/// fails naming `needle` (and that no corrupt data is served), then that `load_or_create`
/// replaces it with a valid file.
fn check_detected(tag: &str, needle: &str, corrupt: impl FnOnce(&Path, &CacheParams)) {
    let dir = TempDir::new(tag);
    let p = params(6);
    let path = dir.path().join(p.file_name());
    let arrays = sample_arrays(7);
    write_owned(&path, &p, &arrays);
    open_verified(&path, &p).unwrap();
    corrupt(&path, &p);

    assert_no_corrupt_data_served(&path, &p, &arrays);
    let e = open_verified(&path, &p).unwrap_err();
    let reason = cache_reason(&e);
    assert!(
        reason.contains(needle),
        "{tag}: {reason:?} lacks {needle:?}"
    );

    let mut computed = false;
    let (cache, outcome) = load_or_create(&path, &p, || {
        computed = true;
        Ok(arrays.clone())
    })
    .unwrap();
    assert!(computed);
    match outcome {
        CacheOutcome::Replaced { reason } => assert!(reason.contains(needle), "{reason}"),
        other => panic!("{tag}: expected Replaced, got {other:?}"),
    }
    assert_same(&cache, &arrays);
    drop(cache);
    // And the file on disk is valid now: the next call loads it without computing.
    let (cache, outcome) =
        load_or_create(&path, &p, || panic!("must not recompute a valid cache")).unwrap();
    assert_eq!(outcome, CacheOutcome::Loaded);
    assert_same(&cache, &arrays);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

fn modify(path: &Path, f: impl FnOnce(&mut Vec<u8>)) {
    let mut bytes = std::fs::read(path).unwrap();
    f(&mut bytes);
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn truncated_file_is_detected() {
    check_detected("trunc", "truncated", |path, _| {
        modify(path, |b| b.truncate(b.len() - 100))
    });
    check_detected("trunc-head", "truncated", |path, _| {
        modify(path, |b| b.truncate(40))
    });
    check_detected("trunc-empty", "truncated", |path, _| {
        modify(path, |b| b.clear())
    });
}

/// Byte offset of the first element of `a` in the file `bytes` (found by its bit pattern).
fn data_offset(bytes: &[u8], a: &OwnedArray) -> usize {
    let first: Vec<u8> = match &a.data {
        OwnedData::F64(d) => d[..4].iter().flat_map(|x| x.to_le_bytes()).collect(),
        OwnedData::F32(d) => d[..4].iter().flat_map(|x| x.to_le_bytes()).collect(),
    };
    let hits: Vec<usize> = bytes
        .windows(first.len())
        .enumerate()
        .filter(|(_, w)| *w == first.as_slice())
        .map(|(i, _)| i)
        .collect();
    assert_eq!(hits.len(), 1, "array {} not found once", a.name);
    hits[0]
}

#[test]
fn flipped_payload_byte_is_detected() {
    // The last array, "odd_f64" (1001 values), holds byte len - 300.
    check_detected(
        "payload",
        "array \"odd_f64\" checksum mismatch",
        |path, _| {
            modify(path, |b| {
                let i = b.len() - 300;
                b[i] ^= 0x10;
            })
        },
    );
    // A byte of the zero padding after an array is covered by that array's checksum.
    check_detected(
        "padding",
        "array \"odd_f64\" checksum mismatch",
        |path, _| {
            modify(path, |b| {
                let i = b.len() - 1;
                assert_eq!(b[i], 0);
                b[i] = 1;
            })
        },
    );
}

#[test]
fn flipped_byte_in_one_array_is_reported_on_access_to_that_array_only() {
    let dir = TempDir::new("lazy");
    let p = params(6);
    let path = dir.path().join(p.file_name());
    let arrays = sample_arrays(21);
    write_owned(&path, &p, &arrays);
    let (a, b) = (&arrays[0], &arrays[4]); // "m2m" (f64) and "m2l_f32" (f32)
    modify(&path, |bytes| {
        let i = data_offset(bytes, b) + 4 * 500 + 2;
        bytes[i] ^= 0x01;
    });
    // The header is intact: open succeeds without looking at the data.
    let cache = OperatorCache::open(&path, &p).unwrap();
    // A is verified and readable, bit for bit.
    let OwnedData::F64(da) = &a.data else {
        unreachable!()
    };
    let va = cache.f64(&a.name).unwrap();
    assert!(va.iter().zip(da).all(|(x, y)| x.to_bits() == y.to_bits()));
    // B is reported when accessed, every time.
    for _ in 0..2 {
        let e = cache.f32(&b.name).unwrap_err();
        let reason = cache_reason(&e);
        assert!(
            reason.contains("array \"m2l_f32\" checksum mismatch"),
            "{reason}"
        );
        assert!(reason.contains("corrupt"), "{reason}");
    }
    // A is still readable after B failed, and so are the other intact arrays.
    assert_eq!(cache.f64(&a.name).unwrap().as_ptr(), va.as_ptr());
    assert!(cache.f32("odd_f32").is_ok());
    assert!(cache.f64("odd_f64").is_ok());
    // verify_all reports B too.
    let e = cache.verify_all().unwrap_err();
    assert!(cache_reason(&e).contains("\"m2l_f32\""), "{e}");
    // Shape and dtype queries need no data and still work.
    assert_eq!(cache.shape(&b.name), Some(&[3usize, 333][..]));
}

#[test]
fn verify_all_reports_the_first_corrupt_array_in_table_order() {
    let dir = TempDir::new("firstbad");
    let p = params(6);
    let path = dir.path().join(p.file_name());
    let arrays = sample_arrays(23);
    write_owned(&path, &p, &arrays);
    modify(&path, |bytes| {
        for k in [5, 1] {
            // "odd_f64", then "odd_f32" (earlier in the table)
            let i = data_offset(bytes, &arrays[k]) + 3;
            bytes[i] ^= 0x80;
        }
    });
    for _ in 0..3 {
        let cache = OperatorCache::open(&path, &p).unwrap();
        let e = cache.verify_all().unwrap_err();
        assert!(cache_reason(&e).contains("\"odd_f32\""), "{e}");
        // Already-computed results are kept: the same failure again, and the other one.
        assert!(cache_reason(&cache.verify_all().unwrap_err()).contains("\"odd_f32\""));
        assert!(cache.f64("odd_f64").is_err());
        assert!(cache.f64("m2m").is_ok());
    }
}

#[test]
fn concurrent_first_access_verifies_once_and_agrees() {
    let dir = TempDir::new("concurrent-access");
    let p = params(6);
    let path = dir.path().join(p.file_name());
    let arrays = sample_arrays(29);
    write_owned(&path, &p, &arrays);
    let cache = OperatorCache::open(&path, &p).unwrap();
    std::thread::scope(|s| {
        for t in 0..4 {
            let (cache, arrays) = (&cache, &arrays);
            s.spawn(move || {
                if t == 0 {
                    cache.verify_all().unwrap();
                }
                assert_same(cache, arrays);
            });
        }
    });
}

#[test]
fn flipped_header_byte_is_detected() {
    check_detected("header", "header checksum", |path, _| {
        modify(path, |b| b[20] ^= 0x01)
    });
}

#[test]
fn wrong_format_version_is_detected() {
    let older = format!("format version is {}", FORMAT_VERSION - 1);
    check_detected("version", &older, |path, _| {
        modify(path, |b| {
            b[8..12].copy_from_slice(&(FORMAT_VERSION - 1).to_le_bytes())
        })
    });
    check_detected("version-new", "format version", |path, _| {
        modify(path, |b| {
            b[8..12].copy_from_slice(&(FORMAT_VERSION + 1).to_le_bytes())
        })
    });
}

#[test]
fn other_parameters_are_detected() {
    check_detected("params", "order is 5, expected 6", |path, _| {
        let other = params(5);
        write_owned(path, &other, &sample_arrays(3));
    });
}

#[test]
fn every_single_byte_flip_is_detected() {
    let dir = TempDir::new("allbytes");
    let p = params(2);
    let path = dir.path().join("small.oxc");
    let arrays = vec![
        OwnedArray {
            name: "a".into(),
            shape: vec![9],
            data: OwnedData::F64(Rng(5).f64s(9)),
        },
        OwnedArray {
            name: "b".into(),
            shape: vec![3],
            data: OwnedData::F32(Rng(9).f32s(3)),
        },
    ];
    write_owned(&path, &p, &arrays);
    let good = std::fs::read(&path).unwrap();
    let mut lazily = 0;
    for i in 0..good.len() {
        for bit in [0x04u8, 0x80] {
            let mut bad = good.clone();
            bad[i] ^= bit;
            std::fs::write(&path, &bad).unwrap();
            let r = open_verified(&path, &p);
            assert!(
                matches!(r, Err(Error::Cache { .. })),
                "flip at byte {i} of {} not detected",
                good.len()
            );
            // Whatever `open` accepts, the array holding the flipped byte is refused.
            if OperatorCache::open(&path, &p).is_ok() {
                lazily += 1;
                assert_no_corrupt_data_served(&path, &p, &arrays);
                let c = OperatorCache::open(&path, &p).unwrap();
                assert!(
                    c.f64("a").is_err() || c.f32("b").is_err(),
                    "flip at byte {i} not detected on access"
                );
            }
        }
    }
    // The payload (9 * 8 and 3 * 4 bytes, padded to 128 and 64) is only checked lazily.
    assert_eq!(lazily, 2 * (128 + 64));
}

#[test]
fn concurrent_load_or_create_ends_with_one_valid_file() {
    let dir = TempDir::new("concurrent");
    let p = params(6);
    let path = dir.path().join(p.file_name());
    let arrays = sample_arrays(11);
    let barrier = Arc::new(Barrier::new(4));
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let (barrier, path, p, arrays) =
                (barrier.clone(), path.clone(), p.clone(), arrays.clone());
            std::thread::spawn(move || {
                barrier.wait();
                let (cache, outcome) = load_or_create(&path, &p, || {
                    std::thread::sleep(std::time::Duration::from_millis(30));
                    Ok(arrays.clone())
                })
                .unwrap();
                assert_same(&cache, &arrays);
                outcome
            })
        })
        .collect();
    for h in handles {
        let outcome = h.join().unwrap();
        assert!(
            matches!(outcome, CacheOutcome::Created | CacheOutcome::Loaded),
            "{outcome:?}"
        );
    }
    let cache = OperatorCache::open(&path, &p).unwrap();
    assert_same(&cache, &arrays);
    // One file, no temporaries left behind.
    let entries: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
}

#[test]
fn missing_directories_are_created() {
    let dir = TempDir::new("mkdir");
    let p = params(4);
    let path = dir.path().join("a").join("b").join(p.file_name());
    let arrays = sample_arrays(1);
    let (cache, outcome) = load_or_create(&path, &p, || Ok(arrays.clone())).unwrap();
    assert_eq!(outcome, CacheOutcome::Created);
    assert_same(&cache, &arrays);
    assert!(path.is_file());
}

#[test]
fn unwritable_paths_give_typed_errors_and_leave_no_temp_file() {
    let dir = TempDir::new("unwritable");
    let p = params(4);
    let arrays = sample_arrays(2);

    // A regular file where a directory must be created.
    let blocker = dir.path().join("blocker");
    std::fs::write(&blocker, b"not a directory").unwrap();
    let path = blocker.join("sub").join("x.oxc");
    let r = load_or_create(&path, &p, || Ok(arrays.clone()));
    assert!(matches!(r, Err(Error::Io { .. })), "{r:?}");

    // The target is an existing (non-empty) directory: the rename fails.
    let target = dir.path().join("target.oxc");
    std::fs::create_dir(&target).unwrap();
    std::fs::write(target.join("keep"), b"x").unwrap();
    let views: Vec<NamedArray> = arrays.iter().map(OwnedArray::view).collect();
    let r = write_cache(&target, &p, &views);
    assert!(matches!(r, Err(Error::Io { .. })), "{r:?}");
    let r = load_or_create(&target, &p, || Ok(arrays.clone()));
    assert!(matches!(r, Err(Error::Io { .. })), "{r:?}");

    let mut names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["blocker", "target.oxc"], "temp files left behind");
}

#[test]
fn compute_errors_are_passed_through() {
    let dir = TempDir::new("computeerr");
    let p = params(4);
    let path = dir.path().join("x.oxc");
    let r = load_or_create(&path, &p, || {
        Err(Error::InvalidParameter {
            name: "order",
            reason: "test".into(),
        })
    });
    assert!(matches!(r, Err(Error::InvalidParameter { .. })), "{r:?}");
    assert!(!path.exists());
}

#[cfg(feature = "hdf5")]
mod hdf5_tests {
    use super::*;
    use oxifmm::cache::{export_hdf5, import_hdf5};

    #[test]
    fn export_import_round_trip_bit_for_bit() {
        let dir = TempDir::new("h5");
        let p = params(6);
        let path = dir.path().join(p.file_name());
        let arrays = sample_arrays(99);
        write_owned(&path, &p, &arrays);
        let cache = OperatorCache::open(&path, &p).unwrap();
        let h5 = dir.path().join("out").join("ops.h5");
        export_hdf5(&cache, &h5).unwrap();
        let back_path = dir.path().join("back.oxc");
        let back = import_hdf5(&h5, &back_path).unwrap();
        assert_eq!(back.params(), &p);
        assert_same(&back, &arrays);
        // No temporaries next to the exported file.
        assert_eq!(std::fs::read_dir(h5.parent().unwrap()).unwrap().count(), 1);

        // No extra parameters also round-trips.
        let mut q = params(3);
        q.extra.clear();
        let path_q = dir.path().join(q.file_name());
        write_owned(&path_q, &q, &arrays[..2]);
        let cache_q = OperatorCache::open(&path_q, &q).unwrap();
        export_hdf5(&cache_q, &h5).unwrap();
        let back_q = import_hdf5(&h5, &dir.path().join("back_q.oxc")).unwrap();
        assert_eq!(back_q.params(), &q);
        assert_same(&back_q, &arrays[..2]);
    }

    #[test]
    fn corrupt_hdf5_is_an_error() {
        let dir = TempDir::new("h5bad");
        let h5 = dir.path().join("bad.h5");
        let mut rng = Rng(1234);
        let bytes: Vec<u8> = (0..4096).map(|_| rng.next() as u8).collect();
        std::fs::write(&h5, bytes).unwrap();
        let r = import_hdf5(&h5, &dir.path().join("x.oxc"));
        assert!(matches!(r, Err(Error::Hdf5 { .. })), "{r:?}");
        assert!(!dir.path().join("x.oxc").exists());

        let r = import_hdf5(&dir.path().join("missing.h5"), &dir.path().join("x.oxc"));
        assert!(matches!(r, Err(Error::Hdf5 { .. })), "{r:?}");
    }

    #[test]
    fn hdf5_with_missing_datasets_is_an_error() {
        let dir = TempDir::new("h5missing");
        let p = params(6);
        let path = dir.path().join(p.file_name());
        write_owned(&path, &p, &sample_arrays(5));
        let cache = OperatorCache::open(&path, &p).unwrap();
        let h5 = dir.path().join("ops.h5");
        export_hdf5(&cache, &h5).unwrap();
        // Truncating the HDF5 file loses its datasets.
        let bytes = std::fs::read(&h5).unwrap();
        std::fs::write(&h5, &bytes[..bytes.len() / 2]).unwrap();
        let r = import_hdf5(&h5, &dir.path().join("x.oxc"));
        assert!(matches!(r, Err(Error::Hdf5 { .. })), "{r:?}");
    }
}

/// Waits until a file written now is old enough for its verification to be stamped.
fn settle() {
    std::thread::sleep(STAMP_MARGIN + std::time::Duration::from_millis(200));
}

/// `open` + `verify` of `path`: how the whole file was found intact.
fn verified_by(path: &Path, p: &CacheParams) -> Verified {
    OperatorCache::open(path, p).unwrap().verify().unwrap()
}

/// Flips a payload byte of `path` (300 bytes before its end) and sets its modification time
/// back to `mtime`.
fn flip_keeping_mtime(path: &Path, mtime: std::time::SystemTime) {
    modify(path, |b| {
        let i = b.len() - 300;
        b[i] ^= 0x04;
    });
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
}

/// `open` + `verify` of `path` fails with a checksum mismatch, and no corrupt data is served.
fn assert_flip_found(path: &Path, p: &CacheParams, arrays: &[OwnedArray]) {
    assert_no_corrupt_data_served(path, p, arrays);
    let e = OperatorCache::open(path, p).unwrap().verify().unwrap_err();
    assert!(cache_reason(&e).contains("checksum mismatch"), "{e}");
}

// Stamps need the file identity that unix reports (elsewhere every load checks every array).
#[cfg(unix)]
#[test]
fn full_verification_is_stamped_and_later_changes_are_still_detected() {
    let dir = TempDir::new("stamp");
    let p = params(6);
    let path = dir.path().join(p.file_name());
    let stamp = stamp_path(&path);
    let arrays = sample_arrays(31);
    write_owned(&path, &p, &arrays);

    // Just written: checked in full, not stamped (the change time could still be reused).
    assert_eq!(verified_by(&path, &p), Verified::ByChecksums);
    assert!(!stamp.exists());

    settle();
    assert_eq!(verified_by(&path, &p), Verified::ByChecksums);
    assert!(stamp.exists(), "a settled file's full check is stamped");

    // Stamped: verified without reading the payload, data bit for bit.
    let c = OperatorCache::open(&path, &p).unwrap();
    assert_eq!(c.verify().unwrap(), Verified::ByStamp);
    assert_same(&c, &arrays);
    drop(c);
    let (c, outcome) = load_or_create(&path, &p, || panic!("must not recompute")).unwrap();
    assert_eq!(outcome, CacheOutcome::Loaded);
    assert_same(&c, &arrays);
    drop(c);

    // A garbled stamp is ignored (full check, stamp rewritten).
    std::fs::write(&stamp, "oxifmm-verified-v1 not a stamp\n").unwrap();
    assert_eq!(verified_by(&path, &p), Verified::ByChecksums);
    assert_eq!(verified_by(&path, &p), Verified::ByStamp);

    // A copy with a flipped payload byte, its modification time set to the original's, renamed
    // over the original (the stamp stays): another inode, so the flip is found.
    let mtime = std::fs::metadata(&path).unwrap().modified().unwrap();
    let copy = dir.path().join("copy.tmp");
    std::fs::copy(&path, &copy).unwrap();
    flip_keeping_mtime(&copy, mtime);
    std::fs::rename(&copy, &path).unwrap();
    assert!(stamp.exists());
    assert_flip_found(&path, &p, &arrays);
    let (c, _) = load_or_create(&path, &p, || Ok(arrays.clone())).unwrap();
    drop(c);
    settle();
    assert_eq!(verified_by(&path, &p), Verified::ByChecksums);
    assert_eq!(verified_by(&path, &p), Verified::ByStamp);

    // A payload byte flipped in place, same length, modification time set back: the change
    // time still moves, so the stamp no longer matches and the flip is found.
    let mtime = std::fs::metadata(&path).unwrap().modified().unwrap();
    flip_keeping_mtime(&path, mtime);
    assert_flip_found(&path, &p, &arrays);

    // Replacing the file removes the old stamp; the new file is checked in full.
    let (c, outcome) = load_or_create(&path, &p, || Ok(arrays.clone())).unwrap();
    assert!(
        matches!(outcome, CacheOutcome::Replaced { .. }),
        "{outcome:?}"
    );
    assert_same(&c, &arrays);
    assert!(!stamp.exists());
}
