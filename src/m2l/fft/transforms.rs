//! The batched DFTs of the FFT M2L: 8 densities (the children of one parent) at once, one per
//! SIMD lane, as separable small products that skip the zero padding. Hand-written: the sizes
//! are tiny (`N = 2p <= 24`) and fixed, where a general FFT library's planning and strides cost
//! more than the transform (kept by the M2L bench, `cargo bench --bench m2l`).

use crate::operators::fft_grid::{FftGrid, LANES, Twiddles};
use crate::scalar::Real;

#[inline(always)]
fn lanes<T>(s: &[T], i: usize) -> &[T; LANES] {
    s[i * LANES..(i + 1) * LANES].try_into().unwrap()
}

#[inline(always)]
fn lanes_mut<T>(s: &mut [T], i: usize) -> &mut [T; LANES] {
    (&mut s[i * LANES..(i + 1) * LANES]).try_into().unwrap()
}

/// DFTs of up to 8 surface densities at once (the children of one parent, one per lane;
/// `None` is a zero density; surface point `i` of lane `l` is `surf[l][i * stride]`, so that
/// one part of interleaved complex values can be read in place), each placed in the `p^3`
/// corner of the `N^3` grid:
/// `Q_l(k) = sum_x q_l(x) exp(-2 pi i k.x / N)` for the `N * N * (N/2 + 1)` stored frequencies
/// `f = kx * plane + j`, `plane = N * nz`, `j = ky * nz + kz`. Frequency `(kx, j)` of lane `l`
/// goes to `out[kx * kx_stride + 16 j + l]` (real part) and `out[kx * kx_stride + 16 j + 8 + l]`
/// (imaginary part): each `kx` plane is one contiguous run, so that several densities can
/// share a plane-major layout.
///
/// The transform is separable: three passes of small complex products, each over all 8
/// lanes at once, so every inner loop is a fixed-length 8-wide loop that compiles to SIMD.
#[inline(always)]
pub(crate) fn forward8<T: Real>(
    g: &FftGrid,
    tw: &Twiddles<T>,
    surf: [Option<&[T]>; LANES],
    stride: usize,
    out: &mut [T],
    kx_stride: usize,
    scratch: &mut [T],
) {
    let (p, n, nz) = (g.p, g.n, g.nz);
    let plane = n * nz;
    let (cube, rest) = scratch.split_at_mut(LANES * p * p * p);
    let (a_re, rest) = rest.split_at_mut(LANES * p * p * nz);
    let (a_im, rest) = rest.split_at_mut(LANES * p * p * nz);
    let (b_re, rest) = rest.split_at_mut(LANES * p * plane);
    let (b_im, rest) = rest.split_at_mut(LANES * p * plane);
    let (o_re, rest) = rest.split_at_mut(LANES * plane);
    let (o_im, _) = rest.split_at_mut(LANES * plane);
    cube.fill(T::ZERO);
    for (l, s) in surf.iter().enumerate() {
        if let Some(s) = s {
            for (i, &c) in g.surf_cube.iter().enumerate() {
                cube[c * LANES + l] = s[i * stride];
            }
        }
    }
    // z -> kz (real input): a[x][y][kz].
    for xy in 0..p * p {
        for kz in 0..nz {
            let mut sr = [T::ZERO; LANES];
            let mut si = [T::ZERO; LANES];
            for z in 0..p {
                let (c, s) = (tw.cos[kz * n + z], tw.sin[kz * n + z]);
                let v = lanes(cube, xy * p + z);
                for l in 0..LANES {
                    sr[l] += v[l] * c;
                    si[l] -= v[l] * s;
                }
            }
            *lanes_mut(a_re, xy * nz + kz) = sr;
            *lanes_mut(a_im, xy * nz + kz) = si;
        }
    }
    // y -> ky: b[x][ky][kz].
    b_re.fill(T::ZERO);
    b_im.fill(T::ZERO);
    for x in 0..p {
        for y in 0..p {
            for ky in 0..n {
                let (c, s) = (tw.cos[ky * n + y], tw.sin[ky * n + y]);
                for kz in 0..nz {
                    let src = (x * p + y) * nz + kz;
                    let dst = (x * n + ky) * nz + kz;
                    let (ar, ai) = (*lanes(a_re, src), *lanes(a_im, src));
                    let br = lanes_mut(b_re, dst);
                    for l in 0..LANES {
                        // (ar + i ai)(c - i s)
                        br[l] += ar[l] * c + ai[l] * s;
                    }
                    let bi = lanes_mut(b_im, dst);
                    for l in 0..LANES {
                        bi[l] += ai[l] * c - ar[l] * s;
                    }
                }
            }
        }
    }
    // x -> kx: out[kx][ky][kz], one kx plane at a time.
    for kx in 0..n {
        o_re.fill(T::ZERO);
        o_im.fill(T::ZERO);
        for x in 0..p {
            let (c, s) = (tw.cos[kx * n + x], tw.sin[kx * n + x]);
            for f in 0..plane {
                let (br, bi) = (*lanes(b_re, x * plane + f), *lanes(b_im, x * plane + f));
                let or = lanes_mut(o_re, f);
                for l in 0..LANES {
                    or[l] += br[l] * c + bi[l] * s;
                }
                let oi = lanes_mut(o_im, f);
                for l in 0..LANES {
                    oi[l] += bi[l] * c - br[l] * s;
                }
            }
        }
        for f in 0..plane {
            let o = kx * kx_stride + f * 2 * LANES;
            out[o..o + LANES].copy_from_slice(lanes(o_re, f));
            out[o + LANES..o + 2 * LANES].copy_from_slice(lanes(o_im, f));
        }
    }
}

/// Inverse DFTs of 8 Hermitian spectra at once (lane `l` of frequency `(kx, j)` at
/// `spec[kx * kx_stride + 16 j + l]`, imaginary part at `+ 8`, the layout [`forward8`]
/// writes), evaluated only at the surface points,
/// scaled by `scale / N^3` and accumulated into `out[l][i * stride]` for surface point `i`
/// (lanes with `None` are skipped).
// The arguments mirror forward8's plus the output scale: bundling them would only rename them.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(crate) fn inverse8<T: Real>(
    g: &FftGrid,
    tw: &Twiddles<T>,
    spec: &[T],
    kx_stride: usize,
    out: [Option<&mut [T]>; LANES],
    stride: usize,
    scale: T,
    scratch: &mut [T],
) {
    let (p, n, nz) = (g.p, g.n, g.nz);
    let plane = n * nz;
    let (cube, rest) = scratch.split_at_mut(LANES * p * p * p);
    let (a_re, rest) = rest.split_at_mut(LANES * p * p * nz);
    let (a_im, rest) = rest.split_at_mut(LANES * p * p * nz);
    let (b_re, rest) = rest.split_at_mut(LANES * p * plane);
    let (b_im, _) = rest.split_at_mut(LANES * p * plane);
    // kx -> x (x < p): b[x][ky][kz], reading each input frequency once.
    b_re.fill(T::ZERO);
    b_im.fill(T::ZERO);
    for kx in 0..n {
        for f in 0..plane {
            let o = kx * kx_stride + f * 2 * LANES;
            let r: [T; LANES] = spec[o..o + LANES].try_into().unwrap();
            let i: [T; LANES] = spec[o + LANES..o + 2 * LANES].try_into().unwrap();
            for x in 0..p {
                let (c, s) = (tw.cos[kx * n + x], tw.sin[kx * n + x]);
                let br = lanes_mut(b_re, x * plane + f);
                for l in 0..LANES {
                    // (r + i i)(c + i s)
                    br[l] += r[l] * c - i[l] * s;
                }
                let bi = lanes_mut(b_im, x * plane + f);
                for l in 0..LANES {
                    bi[l] += i[l] * c + r[l] * s;
                }
            }
        }
    }
    // ky -> y (y < p): a[x][y][kz].
    a_re.fill(T::ZERO);
    a_im.fill(T::ZERO);
    for x in 0..p {
        for ky in 0..n {
            for y in 0..p {
                let (c, s) = (tw.cos[ky * n + y], tw.sin[ky * n + y]);
                for kz in 0..nz {
                    let src = (x * n + ky) * nz + kz;
                    let dst = (x * p + y) * nz + kz;
                    let (br, bi) = (*lanes(b_re, src), *lanes(b_im, src));
                    let ar = lanes_mut(a_re, dst);
                    for l in 0..LANES {
                        ar[l] += br[l] * c - bi[l] * s;
                    }
                    let ai = lanes_mut(a_im, dst);
                    for l in 0..LANES {
                        ai[l] += bi[l] * c + br[l] * s;
                    }
                }
            }
        }
    }
    // kz -> z (real output, Hermitian weights 1, 2, ..., 2, 1).
    let norm = scale / T::from_f64((n * n * n) as f64);
    let two = T::from_f64(2.0);
    for xy in 0..p * p {
        for z in 0..p {
            let mut acc = [T::ZERO; LANES];
            for kz in 0..nz {
                let w = if kz == 0 || kz == n / 2 { T::ONE } else { two };
                let (c, s) = (w * tw.cos[kz * n + z], w * tw.sin[kz * n + z]);
                let (ar, ai) = (lanes(a_re, xy * nz + kz), lanes(a_im, xy * nz + kz));
                for l in 0..LANES {
                    acc[l] += ar[l] * c - ai[l] * s;
                }
            }
            let v = lanes_mut(cube, xy * p + z);
            for l in 0..LANES {
                v[l] = acc[l] * norm;
            }
        }
    }
    for (l, o) in out.into_iter().enumerate() {
        if let Some(o) = o {
            for (s, &c) in g.surf_cube.iter().enumerate() {
                o[s * stride] += cube[c * LANES + l];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{forward8, inverse8};
    use crate::geometry::surface::unit_surface;
    use crate::geometry::transfer::transfer_vectors;
    use crate::kernel::{Kernel, Laplace};
    use crate::operators::fft_grid::{FftGrid, LANES, Twiddles};
    use crate::operators::m2l_fft::transfer_functions;

    /// The transforms with the precomputed transfer functions against the dense kernel matrix.
    #[test]
    fn fft_m2l_matches_dense_kernel_matrix() {
        for p in [3usize, 4, 6] {
            let g = FftGrid::new(p);
            let unit = unit_surface::<3>(p);
            assert_eq!(unit.len(), g.surf_cube.len());
            let (cos, sin) = g.twiddles::<f64>();
            let tw = Twiddles {
                cos: &cos,
                sin: &sin,
            };
            let alpha = 1.05;
            let (tre, tim) = transfer_functions::<Laplace, 3>(&Laplace, p, 1.0, alpha);
            let tv = transfer_vectors::<3>();
            let nt = tv.len();
            // Eight different densities, one per lane (lane 5 empty), each translated by its
            // own transfer vector.
            let qs: Vec<Vec<f64>> = (0..LANES)
                .map(|l| {
                    (0..unit.len())
                        .map(|i| ((i * 7919 + 31 * l) % 13) as f64 - 6.0)
                        .collect()
                })
                .collect();
            let stride = 2 * LANES;
            let kx_stride = g.n * g.nz * stride;
            let mut spec = vec![0.0; g.nfreq * stride];
            let mut scratch = vec![0.0; g.scratch_len()];
            let inputs: [Option<&[f64]>; LANES] =
                std::array::from_fn(|l| (l != 5).then_some(qs[l].as_slice()));
            forward8(&g, &tw, inputs, 1, &mut spec, kx_stride, &mut scratch);
            let tis: [usize; LANES] = [0, 17, nt / 2, nt - 1, 100, 200, 250, 3];
            let mut prod = vec![0.0; g.nfreq * stride];
            for f in 0..g.nfreq {
                for (l, &ti) in tis.iter().enumerate() {
                    let (a, b) = (tre[f * nt + ti], tim[f * nt + ti]);
                    let (sr, si) = (spec[f * stride + l], spec[f * stride + LANES + l]);
                    prod[f * stride + l] = a * sr - b * si;
                    prod[f * stride + LANES + l] = a * si + b * sr;
                }
            }
            let mut phis = vec![vec![1.0; unit.len()]; LANES];
            {
                let mut it = phis.iter_mut();
                let outs: [Option<&mut [f64]>; LANES] =
                    std::array::from_fn(|_| it.next().map(|v| v.as_mut_slice()));
                inverse8(&g, &tw, &prod, kx_stride, outs, 1, 1.0, &mut scratch);
            }
            for (l, &ti) in tis.iter().enumerate() {
                let t = tv[ti];
                // Dense: target check surface at the origin, source equivalent at 2 t.
                let mut maxerr: f64 = 0.0;
                let mut maxval: f64 = 0.0;
                for (i, x) in unit.iter().enumerate() {
                    let xi = [alpha * x[0], alpha * x[1], alpha * x[2]];
                    let mut s = 0.0;
                    if l != 5 {
                        for (j, y) in unit.iter().enumerate() {
                            let yj = [
                                2.0 * t[0] as f64 + alpha * y[0],
                                2.0 * t[1] as f64 + alpha * y[1],
                                2.0 * t[2] as f64 + alpha * y[2],
                            ];
                            s += Kernel::<3>::eval(&Laplace, &xi, &yj) * qs[l][j];
                        }
                    }
                    // The outputs started at 1: inverse8 accumulates.
                    maxerr = maxerr.max((s + 1.0 - phis[l][i]).abs());
                    maxval = maxval.max(s.abs()).max(1.0);
                }
                assert!(
                    maxerr < 1e-12 * maxval,
                    "p {p} lane {l} t {t:?}: {maxerr:e} vs {maxval:e}"
                );
            }
        }
    }
}
