//! Compile-time expansion orders.
//!
//! `Fmm::<Laplace, P, D>` requires `Expansion<P, D>: SupportedOrder`; build.rs implements it
//! for every supported order (the one list is `build/orders.rs`; today 2..=12 in 3D and
//! 2..=16 in 2D, see [`SUPPORTED_ORDERS`]), so an unsupported order is a compile error that
//! names the supported range:
//!
//! ```compile_fail
//! use oxifmm::{Fmm, Laplace};
//! let _ = Fmm::<Laplace, 13>::builder(); // error: order 13 is not supported in 3D
//! ```
//!
//! What the order as a type buys: every size that follows from it (the surface length, and
//! with it every operator and expansion stride) is a constant of [`SupportedOrder`], so the
//! evaluation passes are compiled per order, with the generated fixed-size kernels for that
//! order chosen at compile time rather than looked up per call. Code that receives the order
//! at run time (the command line, Python) turns it into a type once, with [`with_order!`](crate::with_order).

/// An expansion of order `P` in `D` dimensions (a marker type).
#[derive(Clone, Copy, Debug, Default)]
pub struct Expansion<const P: usize, const D: usize>;

include!(concat!(env!("OUT_DIR"), "/orders.rs"));
