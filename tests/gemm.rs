//! The generated dense microkernels (build.rs, `build/gemm.rs`) against faer's matmul on random
//! data: several orders' fixed inner dimensions and the run-time one, f32 and f64, every
//! column/row tail, overwrite and accumulate.
use oxifmm::Real;
use oxifmm::bench_support::{FIXED_K, faer_gemm, generated_gemm};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

fn random<T: Real>(rng: &mut StdRng, n: usize) -> Vec<T> {
    (0..n)
        .map(|_| T::from_f64(rng.random_range(-1.0..1.0)))
        .collect()
}

/// Max-norm error of the generated kernel relative to faer, scaled by the max-norm of faer's C.
fn compare<T: Real>(seed: u64, k: usize, kblocks: usize, m: usize, cols: usize, acc: bool) -> f64 {
    let mut rng = StdRng::seed_from_u64(seed);
    let kdim = k * kblocks;
    let a = random::<T>(&mut rng, m * kdim);
    let b = random::<T>(&mut rng, kdim * cols);
    let c0 = random::<T>(&mut rng, m * cols);
    let alpha = T::from_f64(rng.random_range(0.5..2.0));
    let mut want = c0.clone();
    faer_gemm(&mut want, &a, m, kdim, &b, cols, alpha, acc);
    let mut got = c0.clone();
    assert!(generated_gemm(
        &mut got, &a, m, kdim, &b, cols, alpha, acc, k
    ));
    let scale = want.iter().fold(0.0f64, |s, v| s.max(v.to_f64().abs()));
    let err = want
        .iter()
        .zip(&got)
        .fold(0.0f64, |s, (w, g)| s.max((w.to_f64() - g.to_f64()).abs()));
    err / scale.max(f64::MIN_POSITIVE)
}

#[test]
fn generated_matches_faer() {
    // Surface sizes of 3D orders 2, 3, 4, 6, 8 and 12, and the run-time inner dimension.
    let ks = [8, 26, 56, 152, 296, 728, 1];
    for &k in &ks {
        assert!(FIXED_K.contains(&k), "no kernel for K = {k}");
        let kblocks_list: &[usize] = if k == 1 { &[1, 37, 116] } else { &[1, 8] };
        for &kblocks in kblocks_list {
            for &m in &[1usize, 3, 7, 17, 56, 116, 152] {
                for &cols in &[1usize, 2, 3, 4, 5, 8, 13] {
                    for acc in [false, true] {
                        let seed = (k * 1_000_003 + kblocks * 10_007 + m * 101 + cols) as u64;
                        let e64 = compare::<f64>(seed, k, kblocks, m, cols, acc);
                        assert!(
                            e64 < 1e-13,
                            "f64 K={k} x{kblocks} m={m} cols={cols}: {e64:e}"
                        );
                        let e32 = compare::<f32>(seed, k, kblocks, m, cols, acc);
                        assert!(
                            e32 < 2e-5,
                            "f32 K={k} x{kblocks} m={m} cols={cols}: {e32:e}"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn missing_kernel_and_empty_shapes() {
    let mut c = vec![1.0f64; 4];
    // No kernel for K = 7: nothing computed.
    assert!(!generated_gemm(
        &mut c, &[0.0; 28], 4, 7, &[0.0; 7], 1, 1.0, false, 7
    ));
    assert_eq!(c, vec![1.0; 4]);
    // Empty inner dimension: C = 0 (overwrite) or unchanged (accumulate), as faer.
    assert!(generated_gemm(&mut c, &[], 4, 0, &[], 1, 2.0, true, 1));
    assert_eq!(c, vec![1.0; 4]);
    assert!(generated_gemm(&mut c, &[], 4, 0, &[], 1, 2.0, false, 1));
    assert_eq!(c, vec![0.0; 4]);
}

#[test]
#[should_panic]
fn short_slice_panics() {
    let mut c = vec![0.0f64; 56];
    let _ = generated_gemm(
        &mut c,
        &[0.0; 56 * 55],
        56,
        56,
        &[0.0; 56],
        1,
        1.0,
        false,
        56,
    );
}
