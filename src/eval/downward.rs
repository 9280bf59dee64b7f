//! The downward pass: the M2L expansion into check potentials, L2L from the parent, P2L over
//! the X list, and the downward check-to-equivalent.

use super::context::{Clock, Ctx, T_L2L, T_M2L, T_P2L};
use super::graph::Task;
use crate::kernel::Kernel;
use crate::linalg::{Mat, Shape, gemm, gemm_surface};
use crate::m2l::M2l;
use crate::order::SupportedOrder;
use crate::scalar::Real;

impl<K: Kernel<D>, O: SupportedOrder, const D: usize, T: Real> Ctx<'_, K, O, D, T> {
    pub(super) fn downward(&self, task: &Task, acc: &mut [u64; 8]) {
        // Points per surface, and reals per surface (a check potential's length).
        let (n, nv) = (O::SURFACE_LEN, self.nv);
        let level = task.level as usize;
        let set = &self.views[self.ops.set_of_level[level]];
        let scale = self.ops.scales[level];
        let r = task.nodes.start as usize..task.nodes.end as usize;
        let m = r.len();
        let mut buf = self.scratch(nv * m + D * n);
        let (check, surf) = buf.split_at_mut(nv * m);

        let mut clock = Clock::start();
        // M2L expansion: check = scale * U * down_hat over the range (SVD), or the check
        // potentials the FFT M2L wrote.
        let kmax = self.hat_stride;
        // SAFETY: down_hat of this range was written by this chunk's M2L task (predecessor).
        let hat = unsafe { self.down_hat.get(r.start * kmax..r.end * kmax) };
        if self.m2l == M2l::Fft {
            check.copy_from_slice(hat);
        } else {
            let hat = Mat {
                data: hat,
                rows: set.k,
                cols: m,
                ld: kmax,
            };
            gemm(
                check,
                nv,
                Mat::new(set.m2l_u, nv, set.k),
                hat,
                T::from_f64(scale.kernel),
                false,
            );
        }
        clock.lap(acc, T_M2L);
        for (j, b) in r.clone().enumerate() {
            if self.tree.targets(b).is_empty() {
                continue;
            }
            let col = &mut check[j * nv..(j + 1) * nv];
            if level >= 3 {
                let p = self.tree.parents()[b] as usize;
                let ci = self.tree.keys()[b].child_index();
                // SAFETY: the parent's downward task is a predecessor.
                let peq = unsafe { self.down_equiv.get(p * nv..(p + 1) * nv) };
                let block = &set.l2l[ci * nv * nv..(ci + 1) * nv * nv];
                gemm_surface::<O, K::Value<T>>(
                    col,
                    nv,
                    Mat::new(block, nv, nv),
                    Mat::new(peq, nv, 1),
                    T::from_f64(scale.kernel),
                    true,
                    Shape::Gemv,
                );
                clock.lap(acc, T_L2L);
            }
            let x = self.lists.x.row(b);
            if !x.is_empty() {
                self.surface(b, self.ops.alpha_inner, surf);
                for &a in x {
                    let sr = self.tree.sources(a as usize);
                    if sr.is_empty() {
                        continue;
                    }
                    let (s, q) = self.src_slices(sr);
                    self.p2p_reals(s, q, Self::soa(surf, n), col, false);
                }
                clock.lap(acc, T_P2L);
            }
        }
        // SAFETY: only this task writes down_equiv for its range; readers (children's downward,
        // this chunk's evaluate) are successors.
        let eq = unsafe { self.down_equiv.get_mut(r.start * nv..r.end * nv) };
        self.apply_c2e(
            set.dc2e_a,
            set.dc2e_b,
            set.dc2e_rank,
            check,
            m,
            eq,
            scale.c2e,
        );
        clock.lap(acc, T_L2L);
    }
}
