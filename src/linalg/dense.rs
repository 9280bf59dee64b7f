//! Dense products: faer's GEMM, or a generated fixed-size kernel where the benchmark table
//! says it is faster.

use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};

use super::fixed::{self, Shape};
use super::mat::Mat;
use crate::order::SupportedOrder;
use crate::scalar::{Precision, Real, Value, same_mut};

/// `C = alpha * A * B` (or `C += ...` with `accumulate`), `C` column-major with stride `ldc`.
/// Sequential: it runs inside the task graph's own parallelism.
pub(crate) fn gemm<T: Real>(
    c: &mut [T],
    ldc: usize,
    a: Mat<T>,
    b: Mat<T>,
    alpha: T,
    accumulate: bool,
) {
    assert_eq!(a.cols, b.rows);
    match T::PRECISION {
        Precision::F64 => gemm_impl::<f64>(
            same_mut(c),
            ldc,
            a.cast(),
            b.cast(),
            alpha.to_f64(),
            accumulate,
        ),
        Precision::F32 => gemm_impl::<f32>(
            same_mut(c),
            ldc,
            a.cast(),
            b.cast(),
            alpha.to_f64() as f32,
            accumulate,
        ),
    }
}

fn gemm_impl<E: faer::traits::ComplexField + Copy>(
    c: &mut [E],
    ldc: usize,
    a: Mat<E>,
    b: Mat<E>,
    alpha: E,
    accumulate: bool,
) {
    if a.rows == 0 || b.cols == 0 {
        return;
    }
    let av = MatRef::from_column_major_slice_with_stride(a.data, a.rows, a.cols, a.ld);
    let bv = MatRef::from_column_major_slice_with_stride(b.data, b.rows, b.cols, b.ld);
    let cv = MatMut::from_column_major_slice_with_stride_mut(c, a.rows, b.cols, ldc);
    let beta = if accumulate {
        Accum::Add
    } else {
        Accum::Replace
    };
    matmul(cv, beta, av, bv, alpha, Par::Seq);
}

/// [`gemm`] for a product whose inner dimension is a multiple of the surface of order `O`
/// holding values `V` (one real per point, or two for a complex kernel), of the given shape:
/// the build.rs-generated kernel with that fixed inner dimension where the benchmark table says
/// it beats faer (the order trait's `FIXED_GEMV` / `FIXED_M2M` constants; measured for real
/// surfaces only, so a complex surface goes to faer), else faer. Every part of the choice is
/// made at compile time for each order, value type and precision.
#[inline(always)]
pub(crate) fn gemm_surface<O: SupportedOrder, V: Value>(
    c: &mut [V::Real],
    ldc: usize,
    a: Mat<V::Real>,
    b: Mat<V::Real>,
    alpha: V::Real,
    accumulate: bool,
    shape: Shape,
) {
    let precision = (V::Real::PRECISION == Precision::F64) as usize;
    let fixed = V::REALS == 1
        && match shape {
            Shape::Gemv => O::FIXED_GEMV[precision],
            Shape::M2m => O::FIXED_M2M[precision],
            Shape::Panel => false,
        };
    if fixed && fixed::gemm_fixed(c, ldc, a, b, alpha, accumulate, O::SURFACE_LEN) {
        return;
    }
    gemm(c, ldc, a, b, alpha, accumulate);
}
