//! The upward pass: P2M at leaves, M2M at internal boxes, and (SVD backend) the compressed
//! multipoles `Vt * multipole` that the M2L tasks read.

use super::context::{Clock, Ctx, T_M2L, T_M2M, T_P2M};
use super::graph::Task;
use crate::kernel::Kernel;
use crate::linalg::{Mat, Shape, gemm, gemm_surface};
use crate::m2l::M2l;
use crate::order::SupportedOrder;
use crate::scalar::Real;

impl<K: Kernel<D>, O: SupportedOrder, const D: usize, T: Real> Ctx<'_, K, O, D, T> {
    pub(super) fn upward(&self, task: &Task, acc: &mut [u64; 8]) {
        // Points per surface, and reals per surface (a density's length).
        let (n, nv) = (O::SURFACE_LEN, self.nv);
        let level = task.level as usize;
        let set = &self.views[self.ops.set_of_level[level]];
        let scale = self.ops.scales[level];
        let r = task.nodes.start as usize..task.nodes.end as usize;
        let mut buf = self.scratch(D * n + nv);
        let (surf, check) = buf.split_at_mut(D * n);
        let mut clock = Clock::start();
        for b in r.clone() {
            // SAFETY: this task is the only writer of up_equiv[b] for b in its range; the
            // readers (parent upward, M2L, M2P) are successors.
            let eq = unsafe { self.up_equiv.get_mut(b * nv..(b + 1) * nv) };
            let sr = self.tree.sources(b);
            if sr.is_empty() {
                eq.fill(T::ZERO);
                continue;
            }
            if self.tree.is_leaf(b) {
                self.surface(b, self.ops.alpha_outer, surf);
                check.fill(T::ZERO);
                let (s, q) = self.src_slices(sr);
                self.p2p_reals(s, q, Self::soa(surf, n), check, false);
                self.apply_c2e(
                    set.uc2e_a,
                    set.uc2e_b,
                    set.uc2e_rank,
                    check,
                    1,
                    eq,
                    scale.c2e,
                );
                clock.lap(acc, T_P2M);
            } else {
                let ch = self.tree.children(b);
                // SAFETY: the children's upward tasks are predecessors and have finished.
                let child_eq = unsafe { self.up_equiv.get(ch.start * nv..ch.end * nv) };
                let nc = ch.len();
                // The M2M blocks live with the children's level: a set's translations are
                // for children of its own half-width (a per-level set of the parent's level
                // would be for children twice as large).
                let m2m = self.views[self.ops.set_of_level[level + 1]].m2m;
                gemm_surface::<O, K::Value<T>>(
                    eq,
                    nv,
                    Mat::new(m2m, nv, nc * nv),
                    Mat::new(child_eq, nc * nv, 1),
                    T::ONE,
                    false,
                    Shape::M2m,
                );
                clock.lap(acc, T_M2M);
            }
        }
        if self.m2l == M2l::Fft {
            return;
        }
        // Compressed multipoles for M2L: up_hat = Vt * up_equiv over the whole range.
        let k = set.k;
        let kmax = self.ops.max_rank;
        // SAFETY: written above by this task only.
        let eq = unsafe { self.up_equiv.get(r.start * nv..r.end * nv) };
        // SAFETY: only this task writes up_hat for its range; M2L readers are successors.
        let hat = unsafe { self.up_hat.get_mut(r.start * kmax..r.end * kmax) };
        gemm(
            hat,
            kmax,
            Mat::new(set.m2l_vt, k, nv),
            Mat::new(eq, nv, r.len()),
            T::ONE,
            false,
        );
        clock.lap(acc, T_M2L);
    }
}
