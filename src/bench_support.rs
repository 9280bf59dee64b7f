//! Hooks for the benches, `oxifmm bench-report` and the microkernel tests: a thin public view of the
//! crate-private dense products. Not a stable API (hidden from the docs).

use crate::linalg::{Mat, gemm};
use crate::scalar::Real;

pub use crate::linalg::fixed::{FIXED_K, Shape, use_generated};
pub use crate::tree::sort::radix_sort_with_permutation;

/// faer (the FMM's default path): `C = alpha * A * B`, or `C += ...` with `accumulate`, all
/// packed column-major: `A` is `m x kdim`, `B` is `kdim x cols`, `C` is `m x cols`.
///
/// # Panics
///
/// When a slice is shorter than its matrix.
#[allow(clippy::too_many_arguments)]
pub fn faer_gemm<T: Real>(
    c: &mut [T],
    a: &[T],
    m: usize,
    kdim: usize,
    b: &[T],
    cols: usize,
    alpha: T,
    accumulate: bool,
) {
    gemm(
        c,
        m,
        Mat::new(a, m, kdim),
        Mat::new(b, kdim, cols),
        alpha,
        accumulate,
    );
}

/// The generated kernel with fixed inner dimension `k` (one of [`FIXED_K`]; `kdim` must be a
/// multiple of it), same operands as [`faer_gemm`]. Returns `false`, computing nothing, when
/// there is no kernel for `k`.
///
/// # Panics
///
/// When a slice is shorter than its matrix or `kdim` is not a multiple of `k`.
#[allow(clippy::too_many_arguments)]
pub fn generated_gemm<T: Real>(
    c: &mut [T],
    a: &[T],
    m: usize,
    kdim: usize,
    b: &[T],
    cols: usize,
    alpha: T,
    accumulate: bool,
    k: usize,
) -> bool {
    crate::linalg::fixed::gemm_fixed(
        c,
        m,
        Mat::new(a, m, kdim),
        Mat::new(b, kdim, cols),
        alpha,
        accumulate,
        k,
    )
}

/// Fastest of `reps` calls of `f`, in seconds (benchmark summaries and `oxifmm bench-report`).
pub fn best_secs(reps: usize, mut f: impl FnMut()) -> f64 {
    (0..reps)
        .map(|_| {
            let t0 = std::time::Instant::now();
            f();
            t0.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

/// Median of `reps` calls of `f`, in seconds.
pub fn median_secs(reps: usize, mut f: impl FnMut()) -> f64 {
    let mut t: Vec<f64> = (0..reps)
        .map(|_| {
            let t0 = std::time::Instant::now();
            f();
            t0.elapsed().as_secs_f64()
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[reps / 2]
}
