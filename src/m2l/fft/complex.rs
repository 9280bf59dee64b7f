//! The FFT M2L for complex kernels (Helmholtz): the transforms stay those of real densities,
//! and a complex density is carried as the half spectra of its two parts.
//!
//! For a complex signal `x = a + i b` (`a`, `b` real, with half spectra `A`, `B`), the full
//! spectrum at a stored frequency `k` and at `-k` (which the half spectrum does not store) is
//! `X(k) = A(k) + i B(k)` and `X(-k) = conj(A(k)) + i conj(B(k))` ([`pair`]). So, with
//! `G_t(k)` and `G_t(-k)` of the complex kernel grid precomputed per transfer vector, the
//! convolution `phi = G_t * q` is two Hadamard products over the stored frequencies (one at
//! `k`, one at `-k`) with the real kernel's generated microkernel unchanged, and the half
//! spectra of the result's parts follow from `Phi(k)` and `Phi(-k)` ([`unpair_spectra`]):
//! `2 R(k) = Phi(k) + conj(Phi(-k))`, `2 I(k) = -i (Phi(k) - conj(Phi(-k)))`.
//!
//! That is two complex products per stored frequency and pair of boxes, where writing the
//! complex kernel as a `2 x 2` block of real kernels would take four.

use crate::operators::fft_grid::pair;
use crate::scalar::Real;

/// In place over two spectra in the lane layout of the transforms (blocks of 8 real parts
/// then 8 imaginary parts): `a` holds the half spectrum of the real parts and becomes
/// `X(k)`; `b` holds that of the imaginary parts and becomes `X(-k)`.
#[inline(always)]
pub(crate) fn pair_spectra<T: Real>(a: &mut [T], b: &mut [T]) {
    for (x, y) in a.chunks_exact_mut(16).zip(b.chunks_exact_mut(16)) {
        let (xr, xi) = x.split_at_mut(8);
        let (yr, yi) = y.split_at_mut(8);
        for l in 0..8 {
            let ((pr, pi), (mr, mi)) = pair((xr[l], xi[l]), (yr[l], yi[l]));
            (xr[l], xi[l], yr[l], yi[l]) = (pr, pi, mr, mi);
        }
    }
}

/// The inverse of [`pair_spectra`] up to a factor 2: `a` holds `Phi(k)` and becomes twice
/// the half spectrum of the real parts; `b` holds `Phi(-k)` and becomes twice that of the
/// imaginary parts.
#[inline(always)]
pub(crate) fn unpair_spectra<T: Real>(a: &mut [T], b: &mut [T]) {
    for (x, y) in a.chunks_exact_mut(16).zip(b.chunks_exact_mut(16)) {
        let (xr, xi) = x.split_at_mut(8);
        let (yr, yi) = y.split_at_mut(8);
        for l in 0..8 {
            let (pr, pi, qr, qi) = (xr[l], xi[l], yr[l], yi[l]);
            (xr[l], xi[l], yr[l], yi[l]) = (pr + qr, pi - qi, pi + qi, qr - pr);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::transforms::{forward8, inverse8};
    use super::*;
    use crate::geometry::surface::unit_surface;
    use crate::geometry::transfer::transfer_vectors;
    use crate::kernel::{Helmholtz, Kernel};
    use crate::operators::fft_grid::{FftGrid, LANES, Twiddles};
    use crate::operators::m2l_fft::transfer_functions;
    use crate::scalar::Complex;

    /// Complex densities through the paired spectra, the complex transfer functions and the
    /// two Hadamard products, against the dense complex kernel matrix.
    #[test]
    fn complex_fft_m2l_matches_dense_kernel_matrix() {
        for (p, k) in [
            (4usize, Complex::new(3.0, 0.0)),
            (6, Complex::new(5.0, 2.0)),
        ] {
            let kernel = Helmholtz::complex(k).unwrap();
            let g = FftGrid::new(p);
            let unit = unit_surface::<3>(p);
            let (cos, sin) = g.twiddles::<f64>();
            let tw = Twiddles {
                cos: &cos,
                sin: &sin,
            };
            let (alpha, r) = (1.05, 0.25);
            let (tre, tim) = transfer_functions::<Helmholtz, 3>(&kernel, p, r, alpha);
            let nf = g.nfreq;
            let tv = transfer_vectors::<3>();
            let nt = tv.len();
            assert_eq!(tre.len(), 2 * nf * nt);
            // Interleaved complex densities, one per lane (lane 2 empty).
            let qs: Vec<Vec<f64>> = (0..LANES)
                .map(|l| {
                    (0..2 * unit.len())
                        .map(|i| ((i * 7919 + 31 * l) % 13) as f64 - 6.0)
                        .collect()
                })
                .collect();
            let stride = 2 * LANES;
            let kx_stride = g.n * g.nz * stride;
            let mut scratch = vec![0.0; g.scratch_len()];
            let mut spec = vec![vec![0.0; nf * stride]; 2];
            for (part, s) in spec.iter_mut().enumerate() {
                let inputs: [Option<&[f64]>; LANES] =
                    std::array::from_fn(|l| (l != 2).then_some(&qs[l][part..]));
                forward8(&g, &tw, inputs, 2, s, kx_stride, &mut scratch);
            }
            let (sa, sb) = spec.split_at_mut(1);
            pair_spectra(&mut sa[0], &mut sb[0]);
            let tis: [usize; LANES] = [0, 17, nt / 2, nt - 1, 100, 200, 250, 3];
            let mut prod = vec![vec![0.0; nf * stride]; 2];
            for (half, pr) in prod.iter_mut().enumerate() {
                for f in 0..nf {
                    for (l, &ti) in tis.iter().enumerate() {
                        let row = (half * nf + f) * nt + ti;
                        let (a, b) = (tre[row], tim[row]);
                        let q = &spec[half][f * stride..];
                        let (sr, si) = (q[l], q[LANES + l]);
                        pr[f * stride + l] = a * sr - b * si;
                        pr[f * stride + LANES + l] = a * si + b * sr;
                    }
                }
            }
            let (pa, pb) = prod.split_at_mut(1);
            unpair_spectra(&mut pa[0], &mut pb[0]);
            let mut phis = vec![vec![0.0; 2 * unit.len()]; LANES];
            for (part, pr) in prod.iter().enumerate() {
                let mut it = phis.iter_mut();
                let outs: [Option<&mut [f64]>; LANES] =
                    std::array::from_fn(|_| it.next().map(|v| &mut v[part..]));
                inverse8(&g, &tw, pr, kx_stride, outs, 2, 0.5, &mut scratch);
            }
            for (l, &ti) in tis.iter().enumerate() {
                let t = tv[ti];
                let (mut maxerr, mut maxval) = (0.0f64, 0.0f64);
                for (i, x) in unit.iter().enumerate() {
                    let xi: [f64; 3] = std::array::from_fn(|d| alpha * r * x[d]);
                    let mut s = Complex::new(0.0, 0.0);
                    if l != 2 {
                        for (j, y) in unit.iter().enumerate() {
                            let yj: [f64; 3] =
                                std::array::from_fn(|d| 2.0 * r * t[d] as f64 + alpha * r * y[d]);
                            let q = Complex::new(qs[l][2 * j], qs[l][2 * j + 1]);
                            s += kernel.eval(&xi, &yj) * q;
                        }
                    }
                    let got = Complex::new(phis[l][2 * i], phis[l][2 * i + 1]);
                    maxerr = maxerr.max((s - got).norm());
                    maxval = maxval.max(s.norm());
                }
                // The empty lane must come out exactly zero.
                assert!(
                    maxerr <= 1e-12 * maxval,
                    "p {p} k {k} lane {l} t {t:?}: {maxerr:e} vs {maxval:e}"
                );
            }
        }
    }
}
