//! Small dense-matrix helpers over faer, for column-major slices of either precision.

use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};

use crate::real::{Precision, Real};

/// Reinterprets a slice of one [`Real`] type as another when they are the same type.
#[inline(always)]
pub(crate) fn same<T: Real, U: Real>(s: &[T]) -> &[U] {
    assert!(T::PRECISION == U::PRECISION, "precision mismatch");
    // SAFETY: `Real` is sealed and implemented only for f32 and f64, whose PRECISION values
    // differ, so equal PRECISION means T and U are the same type; the cast is the identity.
    unsafe { std::slice::from_raw_parts(s.as_ptr() as *const U, s.len()) }
}

/// Mutable version of [`same`].
#[inline(always)]
pub(crate) fn same_mut<T: Real, U: Real>(s: &mut [T]) -> &mut [U] {
    assert!(T::PRECISION == U::PRECISION, "precision mismatch");
    // SAFETY: as in `same`: T and U are the same type.
    unsafe { std::slice::from_raw_parts_mut(s.as_mut_ptr() as *mut U, s.len()) }
}

/// A column-major matrix operand: data, rows, columns, column stride.
#[derive(Clone, Copy)]
pub(crate) struct Mat<'a, T> {
    pub data: &'a [T],
    pub rows: usize,
    pub cols: usize,
    pub ld: usize,
}

impl<'a, T: Real> Mat<'a, T> {
    /// The same operand viewed as `U`, which must be the same type as `T`.
    fn cast<U: Real>(self) -> Mat<'a, U> {
        Mat {
            data: same(self.data),
            rows: self.rows,
            cols: self.cols,
            ld: self.ld,
        }
    }
}

impl<'a, T> Mat<'a, T> {
    /// A packed column-major matrix.
    pub fn new(data: &'a [T], rows: usize, cols: usize) -> Self {
        Self {
            data,
            rows,
            cols,
            ld: rows,
        }
    }
}

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

/// [`gemm`] for a product whose inner dimension is a multiple of the surface size `n`, of the
/// given shape: the build.rs-generated kernel with fixed inner dimension `n` where the
/// benchmark table ([`crate::gemm::use_generated`]) says it beats faer, else faer.
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm_n<T: Real>(
    c: &mut [T],
    ldc: usize,
    a: Mat<T>,
    b: Mat<T>,
    alpha: T,
    accumulate: bool,
    n: usize,
    shape: crate::gemm::Shape,
) {
    if crate::gemm::use_generated(n, T::PRECISION, shape)
        && crate::gemm::gemm_fixed(c, ldc, a, b, alpha, accumulate, n)
    {
        return;
    }
    gemm(c, ldc, a, b, alpha, accumulate);
}
