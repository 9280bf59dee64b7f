//! # oxifmm
//!
//! A kernel-independent fast multipole method (KIFMM) for Rust.
#![warn(missing_docs)]

pub mod direct;
pub mod error;
pub mod kernel;
pub mod microkernels;
pub mod real;

pub use direct::direct;
pub use error::{Error, Result};
pub use kernel::{Kernel, Laplace};
pub use real::{Precision, Real};
