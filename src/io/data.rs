//! The vocabulary of the data files: the error type, element types, arrays as read.

use std::path::{Path, PathBuf};

use crate::scalar::Precision;

/// What went wrong with a data file, classified as a bad input or a failed output.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// A file that cannot be read or does not hold what it must (missing datasets, wrong
    /// shapes or dtypes, NaN values, an HDF5 file without the `hdf5` feature).
    #[error("bad input {}: {reason}", path.display())]
    Input {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A file that cannot be written.
    #[error("cannot write {}: {reason}", path.display())]
    Output {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
}

pub(crate) fn input_err(path: &Path, reason: impl Into<String>) -> DataError {
    DataError::Input {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

pub(crate) fn output_err(path: &Path, reason: impl Into<String>) -> DataError {
    DataError::Output {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// Element type of a stored array.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dtype {
    /// `float32` (`'<f4'`).
    F32,
    /// `float64` (`'<f8'`).
    F64,
    /// `complex64` (`'<c8'`): two `float32`, real part first.
    C64,
    /// `complex128` (`'<c16'`): two `float64`, real part first.
    C128,
}

impl Dtype {
    /// The NumPy descriptor string: `'<f4'`, `'<f8'`, `'<c8'` or `'<c16'`.
    pub fn descr(self) -> &'static str {
        match self {
            Dtype::F32 => "<f4",
            Dtype::F64 => "<f8",
            Dtype::C64 => "<c8",
            Dtype::C128 => "<c16",
        }
    }
    /// The real type of `precision`.
    pub fn of_precision(precision: Precision) -> Dtype {
        match precision {
            Precision::F32 => Dtype::F32,
            Precision::F64 => Dtype::F64,
        }
    }
    /// The precision of its reals.
    pub fn precision(self) -> Precision {
        match self.real() {
            Dtype::F32 => Precision::F32,
            _ => Precision::F64,
        }
    }
    /// Whether elements are complex (two reals each).
    pub fn is_complex(self) -> bool {
        matches!(self, Dtype::C64 | Dtype::C128)
    }
    /// Reals per element: 1, or 2 for a complex type.
    pub fn reals(self) -> usize {
        if self.is_complex() { 2 } else { 1 }
    }
    /// The real type of the same precision (`C64` -> `F32`, `C128` -> `F64`).
    pub fn real(self) -> Dtype {
        match self {
            Dtype::F32 | Dtype::C64 => Dtype::F32,
            Dtype::F64 | Dtype::C128 => Dtype::F64,
        }
    }
    /// The complex type of the same precision (`F32` -> `C64`, `F64` -> `C128`).
    pub fn complex(self) -> Dtype {
        match self {
            Dtype::F32 | Dtype::C64 => Dtype::C64,
            Dtype::F64 | Dtype::C128 => Dtype::C128,
        }
    }
    /// `self.complex()` when `complex`, else `self.real()`.
    pub fn with_complex(self, complex: bool) -> Dtype {
        if complex { self.complex() } else { self.real() }
    }
    /// Bytes per element.
    pub(crate) fn size(self) -> usize {
        match self {
            Dtype::F32 => 4,
            Dtype::F64 | Dtype::C64 => 8,
            Dtype::C128 => 16,
        }
    }
    /// Bytes per real (4 or 8).
    pub(crate) fn real_size(self) -> usize {
        self.real().size()
    }
}

/// An array read from a file: its shape, its element type, and its values widened to f64
/// (exact for `f32`). A complex array holds each element as two reals, real part first, so
/// `data.len()` is the product of `shape` times [`Dtype::reals`].
#[derive(Clone, Debug, PartialEq)]
pub struct Array {
    /// The shape (C order).
    pub shape: Vec<usize>,
    /// The stored element type.
    pub dtype: Dtype,
    /// The values, row-major; (re, im) pairs for a complex type.
    pub data: Vec<f64>,
}

/// Whether `path` names an HDF5 file (extension `.h5` or `.hdf5`, any case).
pub fn is_hdf5(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("h5") || e.eq_ignore_ascii_case("hdf5"))
}
