//! The M2L pass, for either backend: the SVD backend applies each transfer vector's core to the
//! gathered multipoles that share it (two thin products, then a scatter-add); the FFT backend
//! transforms the source children, multiplies in the frequency domain and transforms back.

use super::context::{Clock, Ctx, T_M2L};
use super::graph::Task;
use crate::kernel::Kernel;
use crate::linalg::{Mat, gemm};
use crate::m2l::fft::complex::{pair_spectra, unpair_spectra};
use crate::m2l::fft::hadamard::{HADAMARD_JB, HadamardArgs, hadamard};
use crate::m2l::fft::plan::FftChunk;
use crate::m2l::fft::transforms::{forward8, inverse8};
use crate::operators::fft_grid::{FftGrid, Twiddles};
use crate::order::SupportedOrder;
use crate::scalar::Real;

/// Forward DFTs of the source children of an FFT M2L task, 8 siblings at a time, into the
/// task's plane-major spectra (run through pulp's dispatch so that the 8-lane loops of
/// [`forward8`] compile to the machine's SIMD). A complex kernel's densities are transformed
/// part by part into the two halves of `spec`, which are then paired (see
/// [`crate::m2l::fft::complex`]).
struct Forward<'a, 'c, K, O, const D: usize, T> {
    ctx: &'a Ctx<'c, K, O, D, T>,
    plan: &'a FftChunk,
    g: &'a FftGrid,
    tw: &'a Twiddles<'a, T>,
    spec: &'a mut [T],
    scratch: &'a mut [T],
}

impl<K: Kernel<D>, O: SupportedOrder, const D: usize, T: Real> pulp::WithSimd
    for Forward<'_, '_, K, O, D, T>
{
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) -> Self::Output {
        let Forward {
            ctx,
            plan,
            g,
            tw,
            spec,
            scratch,
        } = self;
        let nv = ctx.nv;
        let reals = nv / O::SURFACE_LEN;
        let ns = plan.sparents.len();
        let plane = g.n * g.nz;
        let len = spec.len() / reals;
        for (part, spec) in spec.chunks_exact_mut(len).enumerate() {
            for (li, &sp) in plan.sparents.iter().enumerate() {
                let first = ctx.tree.first_children()[sp as usize] as usize;
                let inputs: [Option<&[T]>; 8] = std::array::from_fn(|sc| {
                    let b = first + sc;
                    // SAFETY: the source children's upward tasks are predecessors of this task
                    // (in `run_m2l_only`: no task writes `up_equiv` at all).
                    (!ctx.tree.sources(b).is_empty())
                        .then(|| unsafe { ctx.up_equiv.get(b * nv + part..(b + 1) * nv) })
                });
                forward8(
                    g,
                    tw,
                    inputs,
                    reals,
                    &mut spec[li * plane * 16..],
                    ns * plane * 16,
                    scratch,
                );
            }
        }
        if reals == 2 {
            let (a, b) = spec.split_at_mut(len);
            pair_spectra(a, b);
        }
    }
}

/// Inverse DFTs of an FFT M2L task, 8 target siblings at a time, into their check
/// potentials (dispatched like [`Forward`]); a complex kernel's two halves of `accum` are
/// first unpaired into the spectra of the potentials' parts.
struct Inverse<'a, 'c, K, O, const D: usize, T> {
    ctx: &'a Ctx<'c, K, O, D, T>,
    plan: &'a FftChunk,
    g: &'a FftGrid,
    tw: &'a Twiddles<'a, T>,
    accum: &'a mut [T],
    /// Check potentials of the task's nodes, `nv` reals per node from `first`.
    dst: &'a mut [T],
    first: usize,
    scale: T,
    scratch: &'a mut [T],
}

impl<K: Kernel<D>, O: SupportedOrder, const D: usize, T: Real> pulp::WithSimd
    for Inverse<'_, '_, K, O, D, T>
{
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) -> Self::Output {
        let Inverse {
            ctx,
            plan,
            g,
            tw,
            accum,
            dst,
            first,
            mut scale,
            scratch,
        } = self;
        let nv = ctx.nv;
        let reals = nv / O::SURFACE_LEN;
        let ntp = plan.tparents.len();
        let plane = g.n * g.nz;
        let len = accum.len() / reals;
        if reals == 2 {
            let (a, b) = accum.split_at_mut(len);
            unpair_spectra(a, b);
            // Unpairing doubles the spectra.
            scale *= T::from_f64(0.5);
        }
        for (part, accum) in accum.chunks_exact(len).enumerate() {
            for (tp, &p) in plan.tparents.iter().enumerate() {
                let c0 = ctx.tree.first_children()[p as usize] as usize;
                let block = &mut dst[(c0 - first) * nv..(c0 - first + 8) * nv];
                let mut it = block.chunks_exact_mut(nv).enumerate();
                let outs: [Option<&mut [T]>; 8] = std::array::from_fn(|_| {
                    let (tc, o) = it.next().expect("8 children");
                    (!ctx.tree.targets(c0 + tc).is_empty()).then_some(&mut o[part..])
                });
                inverse8(
                    g,
                    tw,
                    &accum[tp * plane * 16..],
                    ntp * plane * 16,
                    outs,
                    reals,
                    scale,
                    scratch,
                );
            }
        }
    }
}

impl<K: Kernel<D>, O: SupportedOrder, const D: usize, T: Real> Ctx<'_, K, O, D, T> {
    pub(super) fn m2l(&self, task: &Task, acc: &mut [u64; 8]) {
        let c = task.chunk as usize;
        let g = &self.plan.groups[c];
        let level = task.level as usize;
        let set = &self.views[self.ops.set_of_level[level]];
        let k = set.k;
        let kmax = self.ops.max_rank;
        let r = task.nodes.start as usize..task.nodes.end as usize;
        let mut clock = Clock::start();
        // SAFETY: this task is the only writer of down_hat for its range; the downward task of
        // the same chunk reads it after (edge).
        let dst = unsafe { self.down_hat.get_mut(r.start * kmax..r.end * kmax) };
        dst.fill(T::ZERO);
        let mg = g.max_group;
        let rmax = set.core_ranks.iter().copied().max().unwrap_or(0);
        {
            let mut buf = self.scratch(2 * k * mg + rmax * mg);
            let (gathered, rest) = buf.split_at_mut(k * mg);
            let (product, coeffs) = rest.split_at_mut(k * mg);
            for (gi, &t) in g.t.iter().enumerate() {
                let pairs = &g.pairs[g.offsets[gi] as usize..g.offsets[gi + 1] as usize];
                let m = pairs.len();
                for (j, &(_, a)) in pairs.iter().enumerate() {
                    let a = a as usize;
                    // SAFETY: the source's upward task is a predecessor (edge from the plan; in
                    // `run_m2l_only` no task writes `up_hat`).
                    let src = unsafe { self.up_hat.get(a * kmax..a * kmax + k) };
                    gathered[j * k..(j + 1) * k].copy_from_slice(src);
                }
                // C_t X = A_t (B_t^T X): two thin products through the core's own rank.
                let t = t as usize;
                let (rt, off) = (set.core_ranks[t], set.core_offsets[t]);
                let coeffs = &mut coeffs[..rt * m];
                gemm(
                    coeffs,
                    rt,
                    Mat::new(&set.m2l_core_bt[off..off + rt * k], rt, k),
                    Mat::new(&gathered[..k * m], k, m),
                    T::ONE,
                    false,
                );
                gemm(
                    &mut product[..k * m],
                    k,
                    Mat::new(&set.m2l_core_a[off..off + k * rt], k, rt),
                    Mat::new(coeffs, rt, m),
                    T::ONE,
                    false,
                );
                for (j, &(b, _)) in pairs.iter().enumerate() {
                    let off = (b as usize - r.start) * kmax;
                    for (d, s) in dst[off..off + k]
                        .iter_mut()
                        .zip(&product[j * k..(j + 1) * k])
                    {
                        *d += *s;
                    }
                }
            }
        }
        clock.lap(acc, T_M2L);
    }

    pub(super) fn m2l_fft(&self, task: &Task, acc: &mut [u64; 8]) {
        let c = task.chunk as usize;
        let plan = &self.plan.fft[c];
        let g = self.ops.fft_grid.as_ref().expect("FFT operators in 3D");
        let nf = g.nfreq;
        let nv = self.nv;
        let reals = nv / O::SURFACE_LEN;
        let level = task.level as usize;
        let set = &self.views[self.ops.set_of_level[level]];
        let nt = set.fft_re.len() / (nf * reals);
        let scale = T::from_f64(self.ops.scales[level].kernel);
        let tw = Twiddles {
            cos: &self.ops.tw_cos,
            sin: &self.ops.tw_sin,
        };
        let r = task.nodes.start as usize..task.nodes.end as usize;
        let mut clock = Clock::start();
        // SAFETY: this task is the only writer of down_hat (stride nv here) for its range.
        let dst = unsafe { self.down_hat.get_mut(r.start * nv..r.end * nv) };
        dst.fill(T::ZERO);
        let (ns, ntp) = (plan.sparents.len(), plan.tparents.len());
        if ntp == 0 || ns == 0 {
            clock.lap(acc, T_M2L);
            return;
        }
        let mut used = [false; 27];
        for (ti, u) in used.iter_mut().enumerate() {
            *u = (0..ntp).any(|tp| plan.slots[tp * 27 + ti] != u32::MAX);
        }
        // Per part of a value (a complex kernel: the spectra at k and at -k).
        let len_spec = nf * ns * 16;
        let len_accum = nf * ntp * 16;
        let len_m = HADAMARD_JB * 27 * 128;
        let total = reals * (len_spec + len_accum) + len_m + g.scratch_len();
        {
            let mut buf = self.scratch(total);
            let (spec, rest) = buf.split_at_mut(reals * len_spec);
            let (accum, rest) = rest.split_at_mut(reals * len_accum);
            let (m, scratch) = rest.split_at_mut(len_m);
            // Source spectra, [kx][source parent][j][re 8 | im 8] (children in lanes).
            crate::kernel::simd::arch_avx2().dispatch(Forward {
                ctx: self,
                plan,
                g,
                tw: &tw,
                spec,
                scratch,
            });
            // Hadamard products: accum[f][tp][tc] = sum M[T][f][sc][tc] spec[f][sp][sc], once
            // per half (the transfer functions at k, then at -k, for a complex kernel).
            for ((spec, accum), half) in spec
                .chunks_exact(len_spec)
                .zip(accum.chunks_exact_mut(len_accum))
                .zip(0..)
            {
                let rows = half * nf * nt..(half + 1) * nf * nt;
                hadamard::<O, T>(HadamardArgs {
                    accum,
                    spec,
                    m: &mut *m,
                    gre: &set.fft_re[rows.clone()],
                    gim: &set.fft_im[rows],
                    nt,
                    ns,
                    ntp,
                    slots: &plan.slots,
                    used: &used,
                    pair_table: &self.ops.pair_table,
                });
            }
            // Back to check potentials, 8 target children at a time.
            crate::kernel::simd::arch_avx2().dispatch(Inverse {
                ctx: self,
                plan,
                g,
                tw: &tw,
                accum,
                dst,
                first: r.start,
                scale,
                scratch,
            });
        }
        clock.lap(acc, T_M2L);
    }
}
