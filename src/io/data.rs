//! The vocabulary of the data files: the error type, element types, arrays as read.

use std::path::{Path, PathBuf};

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
}

impl Dtype {
    /// The NumPy descriptor string: `'<f4'` or `'<f8'`.
    pub fn descr(self) -> &'static str {
        match self {
            Dtype::F32 => "<f4",
            Dtype::F64 => "<f8",
        }
    }
    pub(crate) fn size(self) -> usize {
        match self {
            Dtype::F32 => 4,
            Dtype::F64 => 8,
        }
    }
}

/// An array read from a file: its shape, its element type, and its values widened to f64
/// (exact for `f32`).
#[derive(Clone, Debug, PartialEq)]
pub struct Array {
    /// The shape (C order).
    pub shape: Vec<usize>,
    /// The stored element type.
    pub dtype: Dtype,
    /// The values, row-major.
    pub data: Vec<f64>,
}

/// Whether `path` names an HDF5 file (extension `.h5` or `.hdf5`, any case).
pub fn is_hdf5(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("h5") || e.eq_ignore_ascii_case("hdf5"))
}
