//! The FFT M2L's precomputed operators: the transfer functions `DFT(G_t)` of every transfer
//! vector, and the table from (parent offset, source child, target child) to transfer vector.

use super::fft_grid::FftGrid;
use crate::geometry::transfer::{
    child_offset, offset_at, offset_index, transfer_table, transfer_vectors,
};
use crate::kernel::Kernel;
use crate::scalar::Value;

/// Transfer functions `DFT(G_t)` of every transfer vector, for boxes of half-width `r`:
/// `(re, im)`, each `[frequency][transfer vector]`. A real kernel has `nfreq` rows (the
/// half spectrum of a real grid); a complex kernel `2 nfreq`: `G_t(k)` for the stored
/// frequencies `k`, then `G_t(-k)` for the same `k` (see `m2l/fft/complex.rs`).
/// Generic over `D` so that dimension-generic code can call it; `D` must be 3.
pub fn transfer_functions<K: Kernel<D>, const D: usize>(
    kernel: &K,
    p: usize,
    r: f64,
    alpha_inner: f64,
) -> (Vec<f64>, Vec<f64>) {
    assert_eq!(D, 3, "the FFT M2L is 3D only");
    let reals = <K::Value<f64> as Value>::REALS;
    let g = FftGrid::new(p);
    let tv = transfer_vectors::<D>();
    let nt = tv.len();
    let n = g.n;
    let h = 2.0 * alpha_inner * r / (p - 1) as f64;
    let nf = g.nfreq;
    let mut re = vec![0.0; reals * nf * nt];
    let mut im = vec![0.0; reals * nf * nt];
    // Per transfer vector, the half spectra of the kernel grid's parts.
    let per_t: Vec<Vec<(Vec<f64>, Vec<f64>)>> = {
        use rayon::prelude::*;
        tv.par_iter()
            .map(|t| {
                let pi = p as i64;
                let mut grids = vec![vec![0.0; n * n * n]; reals];
                for dx in -(pi - 1)..pi {
                    for dy in -(pi - 1)..pi {
                        for dz in -(pi - 1)..pi {
                            let d = [dx, dy, dz];
                            let x: [f64; D] =
                                std::array::from_fn(|k| h * d[k] as f64 - 2.0 * r * t[k] as f64);
                            let idx = |d: i64| d.rem_euclid(n as i64) as usize;
                            let at = (idx(dx) * n + idx(dy)) * n + idx(dz);
                            let v = kernel.eval(&x, &[0.0; D]);
                            grids[0][at] = v.re();
                            if reals == 2 {
                                grids[1][at] = v.im();
                            }
                        }
                    }
                }
                grids.iter().map(|grid| dft3_real(&g, grid)).collect()
            })
            .collect()
    };
    for (ti, parts) in per_t.iter().enumerate() {
        for f in 0..nf {
            if reals == 1 {
                re[f * nt + ti] = parts[0].0[f];
                im[f * nt + ti] = parts[0].1[f];
            } else {
                let a = (parts[0].0[f], parts[0].1[f]);
                let b = (parts[1].0[f], parts[1].1[f]);
                let (plus, minus) = super::fft_grid::pair(a, b);
                re[f * nt + ti] = plus.0;
                im[f * nt + ti] = plus.1;
                re[(nf + f) * nt + ti] = minus.0;
                im[(nf + f) * nt + ti] = minus.1;
            }
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
    let table = transfer_table::<3>();
    let mut out = vec![u32::MAX; 27 * 64];
    for ti in 0..27 {
        let big = offset_at::<3>(ti, 1);
        for tc in 0..8 {
            for sc in 0..8 {
                let (s, c) = (child_offset::<3>(sc), child_offset::<3>(tc));
                let t: [i64; 3] = std::array::from_fn(|k| 2 * big[k] + s[k] - c[k]);
                if t.iter().all(|x| x.abs() <= 3) {
                    out[ti * 64 + sc * 8 + tc] = table[offset_index(t, 3)];
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

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
