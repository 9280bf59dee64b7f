//! # oxifmm
//!
//! A kernel-independent fast multipole method (KIFMM) for Rust.
#![warn(missing_docs)]

pub mod cache;
pub mod error;
pub mod kernel;
pub mod real;

pub use cache::{CacheOutcome, CacheParams, OperatorCache};
pub use error::{Error, Result};
pub use kernel::{Kernel, Laplace};
pub use real::{Precision, Real};
