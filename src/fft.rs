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
//! operators and kept in the operator cache, frequency-major (`[frequency][transfer vector]`,
//! real and imaginary parts apart). At run time, a target parent P and each of its 26
//! neighbours P' meet through an `8 x 8` block per frequency (target child x source child,
//! zero for adjacent pairs), applied with the target children in SIMD lanes by the
//! build.rs-generated kernels of `src/hadamard.rs`; each loaded transfer function serves
//! many pairs, and the task's spectra are laid out plane by plane (`kx`) and processed a few
//! frequencies at a time, so the data in use stays in L2.
//!
//! The DFTs are separable small matrix products that skip the zero padding: forward from the
//! `p^3` corner of the grid, inverse only to it.

use crate::real::Real;

/// Geometry and twiddles of the DFT on the `N^3` grid for order `p`.
#[derive(Clone, Debug)]
pub struct FftGrid {
    /// Expansion order.
    pub p: usize,
    /// Grid side `N = 2p`.
    pub n: usize,
    /// Frequencies kept along the last axis: `N / 2 + 1`.
    pub nz: usize,
    /// Number of stored frequencies: `N * N * (N / 2 + 1)`.
    pub nfreq: usize,
    /// Grid index `(x p + y) p + z` in the `p^3` cube of each surface point.
    pub surf_cube: Vec<usize>,
    /// `cos(2 pi k x / N)`, `[k][x]`, k < N, x < N.
    cos: Vec<f64>,
    /// `sin(2 pi k x / N)`, `[k][x]`.
    sin: Vec<f64>,
}

impl FftGrid {
    /// The grid for order `p` (3D).
    pub fn new(p: usize) -> Self {
        let n = 2 * p;
        let nz = n / 2 + 1;
        let mut surf_cube = Vec::new();
        for x in 0..p {
            for y in 0..p {
                for z in 0..p {
                    let b = |i: usize| i == 0 || i == p - 1;
                    if b(x) || b(y) || b(z) {
                        surf_cube.push((x * p + y) * p + z);
                    }
                }
            }
        }
        let mut cos = vec![0.0; n * n];
        let mut sin = vec![0.0; n * n];
        for k in 0..n {
            for x in 0..n {
                let a = std::f64::consts::TAU * ((k * x) % n) as f64 / n as f64;
                cos[k * n + x] = a.cos();
                sin[k * n + x] = a.sin();
            }
        }
        Self {
            p,
            n,
            nz,
            nfreq: n * n * nz,
            surf_cube,
            cos,
            sin,
        }
    }

    /// Twiddles in the run's precision: (cos, sin).
    pub fn twiddles<T: Real>(&self) -> (Vec<T>, Vec<T>) {
        (
            self.cos.iter().map(|&x| T::from_f64(x)).collect(),
            self.sin.iter().map(|&x| T::from_f64(x)).collect(),
        )
    }

    /// Scratch length (elements of T) needed by [`forward8`] and [`inverse8`].
    pub fn scratch_len(&self) -> usize {
        let (p, n, nz) = (self.p, self.n, self.nz);
        LANES * (p * p * p + 2 * (p * p * nz + p * n * nz) + 2 * n * nz)
    }
}

/// Densities transformed together: the 8 children of one parent, one per lane.
pub const LANES: usize = 8;

/// Twiddles of one precision, borrowed by the transforms.
pub struct Twiddles<'a, T> {
    /// `cos(2 pi k x / N)`.
    pub cos: &'a [T],
    /// `sin(2 pi k x / N)`.
    pub sin: &'a [T],
}

#[inline(always)]
fn lanes<T>(s: &[T], i: usize) -> &[T; LANES] {
    s[i * LANES..(i + 1) * LANES].try_into().unwrap()
}

#[inline(always)]
fn lanes_mut<T>(s: &mut [T], i: usize) -> &mut [T; LANES] {
    (&mut s[i * LANES..(i + 1) * LANES]).try_into().unwrap()
}

/// DFTs of up to 8 surface densities at once (the children of one parent, one per lane;
/// `None` is a zero density), each placed in the `p^3` corner of the `N^3` grid:
/// `Q_l(k) = sum_x q_l(x) exp(-2 pi i k.x / N)` for the `N * N * (N/2 + 1)` stored frequencies
/// `f = kx * plane + j`, `plane = N * nz`, `j = ky * nz + kz`. Frequency `(kx, j)` of lane `l`
/// goes to `out[kx * kx_stride + 16 j + l]` (real part) and `out[kx * kx_stride + 16 j + 8 + l]`
/// (imaginary part): each `kx` plane is one contiguous run, so that several densities can
/// share a plane-major layout.
///
/// The transform is separable: three passes of small complex products, each over all 8
/// lanes at once, so every inner loop is a fixed-length 8-wide loop that compiles to SIMD.
#[inline(always)]
pub fn forward8<T: Real>(
    g: &FftGrid,
    tw: &Twiddles<T>,
    surf: [Option<&[T]>; LANES],
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
                cube[c * LANES + l] = s[i];
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
/// scaled by `scale / N^3` and accumulated into `out[l]` (lanes with `None` are skipped).
#[inline(always)]
pub fn inverse8<T: Real>(
    g: &FftGrid,
    tw: &Twiddles<T>,
    spec: &[T],
    kx_stride: usize,
    out: [Option<&mut [T]>; LANES],
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
                o[s] += cube[c * LANES + l];
            }
        }
    }
}

/// Transfer functions `DFT(G_t)` of every transfer vector, for boxes of half-width `r`:
/// `(re, im)`, each `[frequency][transfer vector]`.
/// Generic over `D` so that dimension-generic code can call it; `D` must be 3.
pub fn transfer_functions<K: crate::kernel::Kernel<D>, const D: usize>(
    p: usize,
    r: f64,
    alpha_inner: f64,
) -> (Vec<f64>, Vec<f64>) {
    assert_eq!(D, 3, "the FFT M2L is 3D only");
    let g = FftGrid::new(p);
    let tv = crate::operators::transfer_vectors::<D>();
    let nt = tv.len();
    let n = g.n;
    let h = 2.0 * alpha_inner * r / (p - 1) as f64;
    let mut re = vec![0.0; g.nfreq * nt];
    let mut im = vec![0.0; g.nfreq * nt];
    let per_t: Vec<(Vec<f64>, Vec<f64>)> = {
        use rayon::prelude::*;
        tv.par_iter()
            .map(|t| {
                // Full complex 3D DFT of the kernel grid, only kz <= N/2 kept.
                let pi = p as i64;
                let mut grid = vec![0.0; n * n * n];
                for dx in -(pi - 1)..pi {
                    for dy in -(pi - 1)..pi {
                        for dz in -(pi - 1)..pi {
                            let d = [dx, dy, dz];
                            let x: [f64; D] =
                                std::array::from_fn(|k| h * d[k] as f64 - 2.0 * r * t[k] as f64);
                            let idx = |d: i64| d.rem_euclid(n as i64) as usize;
                            grid[(idx(dx) * n + idx(dy)) * n + idx(dz)] = K::eval(&x, &[0.0; D]);
                        }
                    }
                }
                dft3_real(&g, &grid)
            })
            .collect()
    };
    for (ti, (r_, i_)) in per_t.iter().enumerate() {
        for f in 0..g.nfreq {
            re[f * nt + ti] = r_[f];
            im[f * nt + ti] = i_[f];
        }
    }
    (re, im)
}

/// Plain O(N^4) separable DFT of a real `N^3` grid (precomputation only).
fn dft3_real(g: &FftGrid, grid: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let (n, nz) = (g.n, g.nz);
    let mut a = vec![(0.0, 0.0); n * n * nz];
    for xy in 0..n * n {
        for kz in 0..nz {
            let (mut sr, mut si) = (0.0, 0.0);
            for z in 0..n {
                sr += grid[xy * n + z] * g.cos[kz * n + z];
                si -= grid[xy * n + z] * g.sin[kz * n + z];
            }
            a[xy * nz + kz] = (sr, si);
        }
    }
    let mut b = vec![(0.0, 0.0); n * n * nz];
    for x in 0..n {
        for ky in 0..n {
            for kz in 0..nz {
                let (mut sr, mut si) = (0.0, 0.0);
                for y in 0..n {
                    let (ar, ai) = a[(x * n + y) * nz + kz];
                    let (c, s) = (g.cos[ky * n + y], g.sin[ky * n + y]);
                    sr += ar * c + ai * s;
                    si += ai * c - ar * s;
                }
                b[(x * n + ky) * nz + kz] = (sr, si);
            }
        }
    }
    let mut re = vec![0.0; n * n * nz];
    let mut im = vec![0.0; n * n * nz];
    for kx in 0..n {
        for yz in 0..n * nz {
            let (mut sr, mut si) = (0.0, 0.0);
            for x in 0..n {
                let (br, bi) = b[x * n * nz + yz];
                let (c, s) = (g.cos[kx * n + x], g.sin[kx * n + x]);
                sr += br * c + bi * s;
                si += bi * c - br * s;
            }
            re[kx * n * nz + yz] = sr;
            im[kx * n * nz + yz] = si;
        }
    }
    (re, im)
}

/// For parent offset `T` (index `0..27`, `(Tx + 1) * 9 + (Ty + 1) * 3 + Tz + 1`), target child
/// `tc` and source child `sc`: the transfer-vector index, or `u32::MAX` for adjacent pairs.
pub fn child_pair_table() -> Vec<u32> {
    let tv = crate::operators::transfer_vectors::<3>();
    let mut out = vec![u32::MAX; 27 * 64];
    for ti in 0..27 {
        let big = [
            (ti / 9) as i64 - 1,
            ((ti / 3) % 3) as i64 - 1,
            (ti % 3) as i64 - 1,
        ];
        for tc in 0..8 {
            for sc in 0..8 {
                let bit = |c: usize, k: usize| ((c >> (2 - k)) & 1) as i64;
                let t: [i64; 3] = std::array::from_fn(|k| 2 * big[k] + bit(sc, k) - bit(tc, k));
                if let Some(i) = tv.iter().position(|v| *v == t) {
                    out[ti * 64 + sc * 8 + tc] = i as u32;
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::{Kernel, Laplace};
    use crate::operators::{transfer_vectors, unit_surface};

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
            let (tre, tim) = transfer_functions::<Laplace, 3>(p, 1.0, alpha);
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
            forward8(&g, &tw, inputs, &mut spec, kx_stride, &mut scratch);
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
                inverse8(&g, &tw, &prod, kx_stride, outs, 1.0, &mut scratch);
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
                            s += <Laplace as Kernel<3>>::eval(&xi, &yj) * qs[l][j];
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

    #[test]
    fn child_pairs_cover_exactly_the_v_list_offsets() {
        let tab = child_pair_table();
        // T = 0 (siblings): all adjacent.
        assert!(tab[13 * 64..14 * 64].iter().all(|&x| x == u32::MAX));
        // Every transfer vector appears, and each pair of children of adjacent parents that is
        // not adjacent has one.
        let mut seen = vec![false; 316];
        for &x in &tab {
            if x != u32::MAX {
                seen[x as usize] = true;
            }
        }
        assert!(seen.iter().all(|&s| s));
    }
}
