//! # oxifmm
//!
//! A kernel-independent fast multipole method (KIFMM) for Rust.
#![warn(missing_docs)]

#[doc(hidden)]
pub mod bench_support;
pub mod cache;
pub mod direct;
pub mod error;
pub mod fft;
pub mod fmm;
mod gemm;
pub mod graph;
mod hadamard;
pub mod io;
pub mod kernel;
mod linalg;
pub mod lists;
pub mod microkernels;
pub mod morton;
pub mod operators;
pub mod order;
pub mod points;
pub mod real;
mod sort;
pub mod tree;

pub use cache::{CacheOutcome, CacheParams, OperatorCache};
pub use direct::direct;
pub use error::{Error, Result};
pub use fmm::{BuildReport, CacheMode, EvalReport, Fmm, FmmBuilder, FmmOutput, M2l};
pub use kernel::{Kernel, Laplace};
pub use lists::{Csr, InteractionLists};
pub use morton::{Domain, MortonKey};
pub use operators::OperatorParams;
pub use order::{Expansion, SupportedOrder};
pub use real::{Precision, Real};
pub use tree::{LinearTree, Refinement, TreeOptions};
