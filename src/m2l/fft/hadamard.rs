//! The Hadamard products of the FFT M2L (see [`super`]), as build.rs-generated SIMD
//! microkernels: one per 3D expansion order and precision, with the order's frequency count
//! a compile-time constant and the 8 source children of a sibling block unrolled.
//!
//! Data layout, per task (a chunk of sibling groups of one level), plane-major: frequency
//! `f = kx * PLANE + j` (`PLANE = N (N/2 + 1)`, one `kx` plane of the `N^3` grid) so that one
//! plane of the whole chunk (a few MB) is what the products touch at a time, and each
//! parent's plane is one contiguous run for the transforms that write and read it:
//! - `spec[kx][sp][j][16]`: source spectra, the 8 children of source parent `sp` in lanes,
//!   real parts in `0..8`, imaginary parts in `8..16`;
//! - `accum[kx][tp][j][16]`: the check-potential spectra of the 8 children of target parent
//!   `tp`, written (not accumulated) by the kernel;
//! - per frequency, the `8 x 8` complex block `M_T` of every parent offset `T` in use
//!   (`m[T][sc][re 8 | im 8]`, target children in lanes) is gathered from the transfer
//!   functions through `pair_table` and then serves every target parent of the task.
//!
//! The kernel keeps four independent accumulators per lane group (`re += mr qr`,
//! `re -= mi qi`, `im += mr qi`, `im += mi qr`) so the FMA chains stay short.

use crate::order::SupportedOrder;
use crate::scalar::{Precision, Real, same, same_mut};

/// The operands of one task's Hadamard products (see the module docs for layouts).
pub(crate) struct HadamardArgs<'a, T> {
    /// `[kx][tp][j][16]`, overwritten.
    pub accum: &'a mut [T],
    /// `[kx][sp][j][16]`.
    pub spec: &'a [T],
    /// Scratch for the `27 x 8 x 16` blocks of `HADAMARD_JB` frequencies.
    pub m: &'a mut [T],
    /// Transfer functions, real parts, `[f][transfer vector]`.
    pub gre: &'a [T],
    /// Transfer functions, imaginary parts.
    pub gim: &'a [T],
    /// Number of transfer vectors.
    pub nt: usize,
    /// Source parents in the task.
    pub ns: usize,
    /// Target parents in the task.
    pub ntp: usize,
    /// `ntp x 27`: source parent of each (target parent, offset), or `u32::MAX`.
    pub slots: &'a [u32],
    /// Offsets used by at least one target parent of the task.
    pub used: &'a [bool; 27],
    /// `27 x 64`: transfer vector of (offset, source child, target child), or `u32::MAX`.
    pub pair_table: &'a [u32],
}

include!(concat!(env!("OUT_DIR"), "/hadamard.rs"));

/// Plain loops, for lane counts the generated kernels do not handle (and as their reference).
pub(crate) fn hadamard_plain<T: Real>(h: HadamardArgs<'_, T>, n: usize, plane: usize) {
    let HadamardArgs {
        accum,
        spec,
        m,
        gre,
        gim,
        nt,
        ns,
        ntp,
        slots,
        used,
        pair_table,
    } = h;
    for f in 0..n * plane {
        let (kx, j) = (f / plane, f % plane);
        for ti in 0..27 {
            if !used[ti] {
                continue;
            }
            for pair in 0..64 {
                let tv = pair_table[ti * 64 + pair];
                let (sc, tc) = (pair / 8, pair % 8);
                let (vr, vi) = if tv == u32::MAX {
                    (T::ZERO, T::ZERO)
                } else {
                    (gre[f * nt + tv as usize], gim[f * nt + tv as usize])
                };
                m[ti * 128 + sc * 16 + tc] = vr;
                m[ti * 128 + sc * 16 + 8 + tc] = vi;
            }
        }
        for tp in 0..ntp {
            let mut a = [T::ZERO; 16];
            for ti in 0..27 {
                let sp = slots[tp * 27 + ti];
                if sp == u32::MAX {
                    continue;
                }
                let at = ((kx * ns + sp as usize) * plane + j) * 16;
                let q = &spec[at..at + 16];
                for sc in 0..8 {
                    let (qr, qi) = (q[sc], q[8 + sc]);
                    for tc in 0..8 {
                        let (mr, mi) = (m[ti * 128 + sc * 16 + tc], m[ti * 128 + sc * 16 + 8 + tc]);
                        a[tc] += mr * qr - mi * qi;
                        a[8 + tc] += mr * qi + mi * qr;
                    }
                }
            }
            let at = ((kx * ntp + tp) * plane + j) * 16;
            accum[at..at + 16].copy_from_slice(&a);
        }
    }
}

/// Runs the generated kernel of order `O` (chosen at compile time: `O::ORDER` is a constant of
/// the monomorphised body) and `T` under the best instruction set the CPU has.
///
/// # Panics
/// When `O` has no generated kernel (not a 3D order; the builder allows the FFT M2L in 3D only).
pub(crate) fn hadamard<O: SupportedOrder, T: Real>(h: HadamardArgs<'_, T>) {
    struct Run<'a, O, T> {
        h: HadamardArgs<'a, T>,
        _order: std::marker::PhantomData<O>,
    }
    impl<O: SupportedOrder, T: Real> pulp::WithSimd for Run<'_, O, T> {
        type Output = bool;
        #[inline(always)]
        fn with_simd<S: pulp::Simd>(self, simd: S) -> bool {
            let h = self.h;
            // The same arguments viewed as the concrete precision `T` is.
            macro_rules! cast {
                ($u:ty) => {
                    HadamardArgs {
                        accum: same_mut::<T, $u>(h.accum),
                        spec: same::<T, $u>(h.spec),
                        m: same_mut::<T, $u>(h.m),
                        gre: same::<T, $u>(h.gre),
                        gim: same::<T, $u>(h.gim),
                        nt: h.nt,
                        ns: h.ns,
                        ntp: h.ntp,
                        slots: h.slots,
                        used: h.used,
                        pair_table: h.pair_table,
                    }
                };
            }
            match T::PRECISION {
                Precision::F64 => run_f64(simd, O::ORDER, cast!(f64)),
                Precision::F32 => run_f32(simd, O::ORDER, cast!(f32)),
            }
        }
    }
    let ok = crate::kernel::simd::arch_avx2().dispatch(Run::<O, T> {
        h,
        _order: std::marker::PhantomData,
    });
    assert!(ok, "no generated Hadamard kernel for order {}", O::ORDER);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The generated kernels against the plain loops, every order, both precisions, with
    /// empty slots and unused offsets.
    fn check<T: Real>(tol: f64) {
        let mut seed = 12345u64;
        let mut rnd = move || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((seed >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
        };
        let pair_table = crate::operators::m2l_fft::child_pair_table();
        for p in crate::order::supported_orders(3) {
            let n = 2 * p;
            let nf = n * n * (p + 1);
            let (ns, ntp, nt) = (11, 3, 316);
            let spec: Vec<T> = (0..nf * ns * 16).map(|_| T::from_f64(rnd())).collect();
            let gre: Vec<T> = (0..nf * nt).map(|_| T::from_f64(rnd())).collect();
            let gim: Vec<T> = (0..nf * nt).map(|_| T::from_f64(rnd())).collect();
            let slots: Vec<u32> = (0..ntp * 27)
                .map(|i| {
                    if i % 27 == 13 || i % 5 == 0 || (i % 27 == 4) {
                        u32::MAX
                    } else {
                        (i % ns) as u32
                    }
                })
                .collect();
            let mut used = [false; 27];
            for (ti, u) in used.iter_mut().enumerate() {
                *u = (0..ntp).any(|tp| slots[tp * 27 + ti] != u32::MAX);
            }
            let run = |generated: bool| {
                let mut accum = vec![T::from_f64(7.0); nf * ntp * 16];
                let mut m = vec![T::ZERO; HADAMARD_JB * 27 * 128];
                let h = HadamardArgs {
                    accum: &mut accum,
                    spec: &spec,
                    m: &mut m,
                    gre: &gre,
                    gim: &gim,
                    nt,
                    ns,
                    ntp,
                    slots: &slots,
                    used: &used,
                    pair_table: &pair_table,
                };
                if generated {
                    with_order!(3, p, |P, D| hadamard::<crate::Expansion<P, D>, T>(h))
                        .expect("a supported order");
                } else {
                    hadamard_plain(h, n, n * (p + 1));
                }
                accum
            };
            let (a, b) = (run(true), run(false));
            let scale = b.iter().map(|x| x.to_f64().abs()).fold(0.0, f64::max);
            for (x, y) in a.iter().zip(&b) {
                assert!(
                    (x.to_f64() - y.to_f64()).abs() <= tol * scale,
                    "p {p}: {} vs {}",
                    x.to_f64(),
                    y.to_f64()
                );
            }
        }
    }

    #[test]
    fn generated_kernels_match_plain_loops() {
        check::<f64>(1e-13);
        check::<f32>(1e-5);
    }
}
