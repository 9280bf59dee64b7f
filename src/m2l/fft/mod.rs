//! FFT-based M2L (3D): the translation from a source box's upward equivalent density to a
//! target box's downward check potential is a convolution on the order-`p` surface grid, so it
//! becomes a Hadamard product in the frequency domain.
//!
//! Both surfaces (upward equivalent of the source, downward check of the target) are boundary
//! points of a `p^3` grid with spacing `h = 2 alpha_inner r / (p - 1)`. For source box A at
//! centre `c_B + 2 r t`, `x_i - y_j = h (i - j) - 2 r t`, so
//! `phi_i = sum_j G_t(i - j) q_j` with `G_t(d) = K(h d - 2 r t)`, `d` in `[-(p-1), p-1]^3`.
//! Embedded circularly in an `N^3` grid (`N = 2p`, no aliasing), that is
//! `phi = IDFT(DFT(G_t) . DFT(q))`.
//!
//! The transfer functions `DFT(G_t)` (one per transfer vector) are precomputed with the other
//! operators (`operators/m2l_fft.rs`, on the grid of `operators/fft_grid.rs`) and kept in the
//! operator cache, frequency-major (`[frequency][transfer vector]`,
//! real and imaginary parts apart). At run time, a target parent P and each of its 26
//! neighbours P' meet through an `8 x 8` block per frequency (target child x source child,
//! zero for adjacent pairs), applied with the target children in SIMD lanes by the
//! build.rs-generated kernels of [`hadamard`]; each loaded transfer function serves
//! many pairs, and the task's spectra are laid out plane by plane (`kx`) and processed a few
//! frequencies at a time, so the data in use stays in L2.
//!
//! The DFTs are separable small matrix products that skip the zero padding: forward from the
//! `p^3` corner of the grid, inverse only to it.

pub(crate) mod complex;
pub(crate) mod hadamard;
pub(crate) mod plan;
pub(crate) mod transforms;
