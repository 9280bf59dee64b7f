//! The column-major matrix operand of the dense products.

use crate::scalar::{Real, same};

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
    pub(crate) fn cast<U: Real>(self) -> Mat<'a, U> {
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
