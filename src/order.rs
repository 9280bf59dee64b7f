//! Compile-time expansion orders.
//!
//! `Fmm::<Laplace, P, D>` requires `Expansion<P, D>: SupportedOrder`; build.rs implements it
//! for every supported order (3D: 2..=12, 2D: 2..=16), so an unsupported order is a compile
//! error that names the supported range:
//!
//! ```compile_fail
//! use oxifmm::{Fmm, Laplace};
//! let _ = Fmm::<Laplace, 13>::builder(); // error: order 13 is not supported in 3D
//! ```

/// An expansion of order `P` in `D` dimensions (a marker type).
pub struct Expansion<const P: usize, const D: usize>;

/// Implemented (by build.rs) for every supported `Expansion<P, D>`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not supported: oxifmm supports expansion orders 2..=12 in 3D and 2..=16 in 2D",
    label = "unsupported expansion order or dimension"
)]
pub trait SupportedOrder {
    /// Points on the equivalent/check surfaces: `P^D - (P - 2)^D`.
    const SURFACE_LEN: usize;
}

include!(concat!(env!("OUT_DIR"), "/orders.rs"));
