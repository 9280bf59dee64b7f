//! KIFMM operators: surfaces, check-to-equivalent pseudo-inverses, M2M/L2L, the
//! SVD-compressed M2L and the FFT M2L's transfer functions (on the DFT grid of `fft_grid.rs`),
//! computed in f64 and stored in the precision of the run.
//!
//! Geometry for a box of half-width `r` centred at `c` (order `p`, unit surface `g`: the
//! boundary points of a `p^D` grid on `[-1, 1]^D`):
//!
//! | surface | points | used by |
//! |---|---|---|
//! | upward equivalent | `c + alpha_inner r g` | M2M, M2L, M2P read the multipole here |
//! | upward check | `c + alpha_outer r g` | P2M, M2M |
//! | downward equivalent | `c + alpha_outer r g` | L2L, L2P read the local expansion here |
//! | downward check | `c + alpha_inner r g` | M2L, P2L, L2L write potentials here |
//!
//! Operators of one *level set* are computed for boxes of half-width `r`:
//! `uc2e`, `dc2e` (regularised pseudo-inverses, as two factors `a * b` when that is cheaper
//! than the dense product), `m2m` (`2^D` blocks: parent multipole from child `c`, already
//! including the parent's `uc2e`), `l2l` (`2^D` blocks: child's downward check potential
//! from the parent's local density), and the compressed M2L: `m2l_u` (n x k), `m2l_vt`
//! (k x n) and one `k x k` core per transfer vector, so that
//! `M2L_t ~= m2l_u * core_t * m2l_vt`.
//!
//! Homogeneous kernels (`K(s x, s y) = s^d K(x, y)`) need one level set, computed at `r = 1`,
//! and per-level scalars ([`LevelScales`]); other kernels get one level set per tree level.

pub mod c2e;
pub(crate) mod fft_grid;
pub mod level_set;
pub mod load;
pub(crate) mod m2l_fft;
pub mod m2l_svd;
pub mod params;
pub(crate) mod store;
pub mod translation;

pub use c2e::{Factored, kernel_matrix, pseudo_inverse};
pub use level_set::{LevelSet, level_set};
pub use load::{OperatorSource, cache_params};
pub use params::{LevelScales, OperatorParams};
