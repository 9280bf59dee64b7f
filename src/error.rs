//! The crate's one error type.

use std::path::PathBuf;

/// Everything that can go wrong in oxifmm, each variant naming what is wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An input that must hold at least one entry is empty.
    #[error("{what} is empty")]
    Empty {
        /// Which input.
        what: &'static str,
    },
    /// Two inputs whose lengths must agree do not.
    #[error("length mismatch: {what} has {got} entries, expected {expected}")]
    LengthMismatch {
        /// Which input.
        what: &'static str,
        /// The length it must have.
        expected: usize,
        /// The length it has.
        got: usize,
    },
    /// A NaN or infinite value.
    #[error("non-finite value in {what} at index {index}")]
    NonFinite {
        /// Which input.
        what: &'static str,
        /// Index of the offending entry (point index for coordinates).
        index: usize,
    },
    /// A point outside an explicitly given domain.
    #[error("{what} point {index} lies outside the domain")]
    OutsideDomain {
        /// Which point set.
        what: &'static str,
        /// Index of the point.
        index: usize,
    },
    /// A parameter with a value that cannot be used.
    #[error("invalid parameter `{name}`: {reason}")]
    InvalidParameter {
        /// The parameter's name.
        name: &'static str,
        /// Why it is rejected.
        reason: String,
    },
    /// An operator cache file that cannot be used.
    #[error("operator cache {path}: {reason}")]
    Cache {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// An I/O failure on a file.
    #[error("i/o error on {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A failure reading or writing an HDF5 file.
    #[error("hdf5 file {path}: {reason}")]
    Hdf5 {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
}

/// Result with the crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A constructor of [`Error::Io`] for failures on `path`, for `map_err`.
    pub(crate) fn io(path: &std::path::Path) -> impl Fn(std::io::Error) -> Error + '_ {
        move |source| Error::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
