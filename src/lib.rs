//! # oxifmm
//!
//! A kernel-independent fast multipole method (KIFMM) for Rust: `N`-body sums
//! `phi(x_i) = sum_j K(x_i, y_j) q_j` (and their gradients) in `O(N)`, to a known accuracy.
//! Kernel, expansion order and dimension are compile-time parameters: `Fmm::<Laplace, 6>` is
//! Laplace in 3D at order 6, `Fmm::<Laplace, 8, 2, f32>` Laplace in 2D at order 8 in single
//! precision.
//!
//! ```
//! use oxifmm::points::{Distribution, charges, generate};
//! use oxifmm::{CacheMode, Fmm, Laplace};
//!
//! let points = generate::<f64, 3>(Distribution::Uniform, 5_000, 1);
//! let q = charges::<f64>(points.len(), 2);
//! let fmm = Fmm::<Laplace, 6>::builder()
//!     .sources(&points)          // targets default to the sources
//!     .max_points_per_leaf(64)
//!     .gradients(true)
//!     .cache(CacheMode::Off)     // the default caches operators on disk
//!     .build()?;
//! let out = fmm.evaluate(&q)?;   // in the caller's order; call again with new charges
//!
//! // Against the direct sum at a few targets.
//! let sample: Vec<[f64; 3]> = points[..10].to_vec();
//! let exact = oxifmm::direct(&Laplace, &points, &q, &sample, false)?;
//! let err = (0..10).map(|i| (out.potentials[i] - exact[i]).powi(2)).sum::<f64>().sqrt()
//!     / exact.iter().map(|x| x * x).sum::<f64>().sqrt();
//! assert!(err < 1e-4, "relative error {err}");
//! # Ok::<(), oxifmm::Error>(())
//! ```
//!
//! ## Architecture
//!
//! One direction of data flow, a module per stage:
//! points → [`geometry`] (domain, Morton keys) → [`tree`] (linear tree, interaction lists) →
//! [`operators`] (from the [`cache`] or computed; dense algebra in `linalg`) → [`m2l`] (the
//! M2L backend's plan) → [`eval`] (the static task graph and the passes its tasks run) →
//! [`fmm`] (builder, `evaluate`, reports). [`kernel`] holds the kernels and their generated
//! SIMD P2P; [`order`] the compile-time orders; [`io`] the data files of the command line.
#![warn(missing_docs, missing_debug_implementations)]

// First, so that its generated `with_order!` is in scope for every module below.
#[macro_use]
pub mod order;

#[doc(hidden)]
pub mod bench_support;
pub mod cache;
pub mod error;
pub mod eval;
pub mod fmm;
pub mod fs;
pub mod geometry;
pub mod io;
pub mod kernel;
mod linalg;
pub mod m2l;
pub mod operators;
pub mod points;
pub mod scalar;
pub mod tree;

pub use cache::{CacheMode, CacheOutcome, CacheParams, OperatorCache};
pub use error::{Error, Result};
pub use fmm::{
    Accuracy, AnyKernel, BuildReport, Coords, DynFmm, DynOutput, EpsPlan, EvalReport, Fmm,
    FmmBuilder, FmmConfig, FmmOutput, TOLERANCE_STEPS, ValueVec, Values, direct_any,
    measured_error, order_for_eps, plan_for_eps,
};
pub use geometry::{Domain, MortonKey};
pub use kernel::{
    Helmholtz, Kernel, KernelId, Laplace, Scaling, Yukawa, direct, relative_l2, sampled_error,
};
pub use m2l::M2l;
pub use operators::{OperatorParams, OperatorSource};
pub use order::{Expansion, SupportedOrder};
pub use scalar::{Complex, Precision, Real, Value};
pub use tree::{Csr, InteractionLists, LinearTree, Refinement, TreeOptions};
