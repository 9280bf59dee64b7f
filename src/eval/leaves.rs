//! The leaf passes: P2P over the U list (the near field), and per leaf L2P, M2P over the W
//! list, into the targets' outputs.

use std::ops::Range;

use super::context::{Clock, Ctx, T_L2P, T_M2P, T_P2P};
use super::graph::Task;
use crate::kernel::Kernel;
use crate::order::SupportedOrder;
use crate::scalar::Real;

impl<K: Kernel<D>, O: SupportedOrder, const D: usize, T: Real> Ctx<'_, K, O, D, T> {
    /// The task's leaves that have targets: (node, its range of the output buffer, its targets
    /// as structure of arrays).
    fn leaf_targets<'s>(
        &'s self,
        task: &Task,
    ) -> impl Iterator<Item = (usize, Range<usize>, [&'s [T]; D])> + 's {
        task.nodes.clone().filter_map(move |b| {
            let b = b as usize;
            let tr = self.tree.targets(b);
            if !self.tree.is_leaf(b) || tr.is_empty() {
                return None;
            }
            let out = tr.start * self.n_out..tr.end * self.n_out;
            let tgt: [&[T]; D] = std::array::from_fn(|k| &self.tgt[k][tr.clone()]);
            Some((b, out, tgt))
        })
    }

    pub(super) fn p2p(&self, task: &Task, acc: &mut [u64; 8]) {
        let mut clock = Clock::start();
        for (b, out, tgt) in self.leaf_targets(task) {
            // SAFETY: this task is the first writer of its leaves' targets; the Evaluate task
            // of the same chunk (the only other writer) waits for it.
            let out = unsafe { self.out.get_mut(out) };
            out.fill(T::ZERO);
            for &a in self.lists.u.row(b) {
                let sr = self.tree.sources(a as usize);
                if sr.is_empty() {
                    continue;
                }
                let (s, q) = self.src_slices(sr);
                self.p2p_reals(s, q, tgt, out, self.gradients);
            }
        }
        clock.lap(acc, T_P2P);
    }

    pub(super) fn evaluate_leaves(&self, task: &Task, acc: &mut [u64; 8]) {
        let (n, nv) = (O::SURFACE_LEN, self.nv);
        let level = task.level as usize;
        let mut surf = self.scratch(D * n);
        let mut clock = Clock::start();
        for (b, out, tgt) in self.leaf_targets(task) {
            // SAFETY: the P2P task of this chunk (the other writer) is a predecessor.
            let out = unsafe { self.out.get_mut(out) };
            if level >= 2 {
                self.surface(b, self.ops.alpha_outer, &mut surf);
                // SAFETY: this chunk's downward task is a predecessor.
                let eq = unsafe { self.down_equiv.get(b * nv..(b + 1) * nv) };
                self.p2p_reals(Self::soa(&surf, n), eq, tgt, out, self.gradients);
                clock.lap(acc, T_L2P);
            }
            for &a in self.lists.w.row(b) {
                let a = a as usize;
                if self.tree.sources(a).is_empty() {
                    continue;
                }
                self.surface(a, self.ops.alpha_inner, &mut surf);
                // SAFETY: the source box's upward task is a predecessor.
                let eq = unsafe { self.up_equiv.get(a * nv..(a + 1) * nv) };
                self.p2p_reals(Self::soa(&surf, n), eq, tgt, out, self.gradients);
            }
            clock.lap(acc, T_M2P);
        }
    }
}
