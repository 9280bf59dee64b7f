//! # oxifmm
//!
//! A kernel-independent fast multipole method (KIFMM) for Rust.
#![warn(missing_docs)]

pub mod cache;
pub mod error;
pub mod kernel;
pub mod lists;
pub mod morton;
pub mod points;
pub mod real;
mod sort;
pub mod tree;

pub use cache::{CacheOutcome, CacheParams, OperatorCache};
pub use error::{Error, Result};
pub use kernel::{Kernel, Laplace};
pub use lists::{Csr, InteractionLists};
pub use morton::{Domain, MortonKey};
pub use real::{Precision, Real};
pub use tree::{LinearTree, Refinement, TreeOptions};
