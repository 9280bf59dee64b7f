//! Interaction lists U, V, W, X in compressed-row form.
//!
//! For a box B (definitions of Ying, Biros & Zorin 2004):
//! - **U** (B a leaf): the leaves adjacent to B, and B itself — near field, P2P.
//! - **V** (any B at level >= 2): children of the colleagues of B's parent that are not
//!   adjacent to B — M2L.
//! - **W** (B a leaf): descendants A of B's colleagues with A not adjacent to B but A's parent
//!   adjacent to B — the multipole of A evaluated at B's targets (M2P).
//! - **X** (any B): the leaves A with B in W(A) — A's sources onto B's local expansion (P2L).
//!
//! Lists hold node indices of the [`LinearTree`] and are complete by
//! definition (empty boxes included); the evaluator skips boxes without sources or targets.

use crate::geometry::transfer::{child_offset, offset_at, offset_count, offset_index};
use rayon::prelude::*;

use super::csr::{Csr, par_csr, transpose};
use super::linear_tree::{LinearTree, NONE};

/// The four interaction lists of a tree, one row per node.
#[derive(Clone, Debug)]
pub struct InteractionLists {
    /// Near field (leaves only).
    pub u: Csr,
    /// Well-separated same-level boxes (M2L).
    pub v: Csr,
    /// Finer boxes whose multipoles reach the leaf's targets directly (leaves only).
    pub w: Csr,
    /// Coarser leaves whose sources reach the box's local expansion directly.
    pub x: Csr,
}

impl InteractionLists {
    /// Builds all four lists, in parallel over nodes.
    ///
    /// First a neighbour table, top-down from the parent's: for every node and each of the
    /// `3^D` offsets, the same-level box there or else the deepest node containing it (always
    /// a leaf). Then U, V and W need no key search at all; adjacency of a descendant of a
    /// same-level neighbour is a per-direction child mask. X is W transposed.
    pub fn build<const D: usize>(tree: &LinearTree<D>) -> Self {
        let n = tree.len();
        let nb = Neighbours::build(tree);
        let u = par_csr(n, |b, out| u_row(tree, &nb, b, out));
        let v = par_csr(n, |b, out| v_row(tree, &nb, b, out));
        let w = par_csr(n, |b, out| w_row(tree, &nb, b, out));
        let x = transpose(&w, n);
        Self { u, v, w, x }
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.u.bytes() + self.v.bytes() + self.w.bytes() + self.x.bytes()
    }
}

/// Per node and per offset direction (`3^D` of them, axis 0 most significant, digit
/// `offset + 1`): the same-level box there if the tree has it, else the deepest node that
/// contains it (a leaf), else [`NONE`] (outside the domain).
struct Neighbours {
    stride: usize,
    table: Vec<u32>,
}

/// Bit `c` set if child `c` of the same-level box in direction `dir` touches the box (the
/// children on the face, edge or corner that faces it). The same rule holds at every deeper
/// level, so it drives the descent for U and W.
#[inline(always)]
fn facing_children<const D: usize>(dir: usize) -> u32 {
    let o = offset_at::<D>(dir, 1);
    let mut mask = 0;
    for c in 0..(1usize << D) {
        let co = child_offset::<D>(c);
        if (0..D).all(|k| o[k] == 0 || co[k] == (o[k] < 0) as i64) {
            mask |= 1 << c;
        }
    }
    mask
}

impl Neighbours {
    fn build<const D: usize>(tree: &LinearTree<D>) -> Self {
        let stride = offset_count(D, 1);
        let centre = stride / 2;
        let mut table = vec![NONE; tree.len() * stride];
        if tree.is_empty() {
            return Self { stride, table };
        }
        table[centre] = 0;
        for l in 1..tree.levels.len() {
            let r = tree.levels[l].clone();
            let (above, rest) = table.split_at_mut(r.start * stride);
            let above = &*above;
            rest[..r.len() * stride]
                .par_chunks_mut(stride)
                .enumerate()
                .for_each(|(j, row)| {
                    let b = r.start + j;
                    let p = tree.parent[b] as usize;
                    let o = child_offset::<D>(tree.keys[b].child_index());
                    let prow = &above[p * stride..(p + 1) * stride];
                    for (dir, slot) in row.iter_mut().enumerate() {
                        let d = offset_at::<D>(dir, 1);
                        // The box at offset `d` is child `child` of the parent's neighbour
                        // in direction `pd`.
                        let q: [i64; D] = std::array::from_fn(|k| o[k] + d[k]);
                        let pdir = offset_index(q.map(|x| x.div_euclid(2)), 1);
                        let child = q
                            .iter()
                            .fold(0usize, |c, x| c << 1 | x.rem_euclid(2) as usize);
                        let pn = prow[pdir];
                        *slot = if pn == NONE {
                            NONE
                        } else {
                            let pn = pn as usize;
                            let fc = tree.first_child[pn];
                            if fc != NONE && tree.keys[pn].level() as usize == l - 1 {
                                fc + child as u32
                            } else {
                                pn as u32
                            }
                        };
                    }
                });
        }
        Self { stride, table }
    }

    #[inline(always)]
    fn row(&self, b: usize) -> &[u32] {
        &self.table[b * self.stride..(b + 1) * self.stride]
    }
}

fn u_row<const D: usize>(tree: &LinearTree<D>, nb: &Neighbours, b: usize, out: &mut Vec<u32>) {
    if !tree.is_leaf(b) {
        return;
    }
    let start = out.len();
    let level = tree.keys[b].level();
    out.push(b as u32);
    let mut stack: Vec<u32> = Vec::new();
    let centre = nb.stride / 2;
    for (dir, &a) in nb.row(b).iter().enumerate() {
        if dir == centre || a == NONE {
            continue;
        }
        if tree.keys[a as usize].level() < level || tree.is_leaf(a as usize) {
            // A coarser leaf holding the neighbour's region, or a same-level leaf.
            out.push(a);
            continue;
        }
        let mask = facing_children::<D>(dir);
        stack.push(a);
        while let Some(i) = stack.pop() {
            let fc = tree.first_child[i as usize];
            if fc == NONE {
                out.push(i);
                continue;
            }
            for c in 0..(1u32 << D) {
                if mask >> c & 1 != 0 {
                    stack.push(fc + c);
                }
            }
        }
    }
    let row = &mut out[start..];
    row.sort_unstable();
    let mut len = 0;
    for i in 0..row.len() {
        if i == 0 || row[i] != row[len - 1] {
            row[len] = row[i];
            len += 1;
        }
    }
    out.truncate(start + len);
}

fn v_row<const D: usize>(tree: &LinearTree<D>, nb: &Neighbours, b: usize, out: &mut Vec<u32>) {
    let bk = tree.keys[b];
    if bk.level() < 2 {
        return;
    }
    let p = tree.parent[b] as usize;
    let plevel = bk.level() - 1;
    let o = child_offset::<D>(bk.child_index());
    // The parent's colleagues that have children, in node (= Morton) order.
    let mut pcs = [(0u32, 0u8); 27];
    let mut n_pcs = 0;
    let centre = nb.stride / 2;
    for (dir, &pc) in nb.row(p).iter().enumerate() {
        if dir == centre || pc == NONE {
            continue;
        }
        if tree.keys[pc as usize].level() == plevel && !tree.is_leaf(pc as usize) {
            pcs[n_pcs] = (pc, dir as u8);
            n_pcs += 1;
        }
    }
    let pcs = &mut pcs[..n_pcs];
    pcs.sort_unstable();
    for &(pc, dir) in pcs.iter() {
        let pd = offset_at::<D>(dir as usize, 1);
        let fc = tree.first_child[pc as usize];
        for c in 0..(1usize << D) {
            let co = child_offset::<D>(c);
            // Offset from B in boxes of B's level; adjacent (or B itself) if all within 1.
            let far = (0..D).any(|k| (2 * pd[k] + co[k] - o[k]).abs() > 1);
            if far {
                out.push(fc + c as u32);
            }
        }
    }
}

fn w_row<const D: usize>(tree: &LinearTree<D>, nb: &Neighbours, b: usize, out: &mut Vec<u32>) {
    if !tree.is_leaf(b) {
        return;
    }
    let start = out.len();
    let level = tree.keys[b].level();
    let mut stack: Vec<u32> = Vec::new();
    let centre = nb.stride / 2;
    for (dir, &a) in nb.row(b).iter().enumerate() {
        if dir == centre || a == NONE || tree.keys[a as usize].level() != level {
            continue;
        }
        let fc = tree.first_child[a as usize];
        if fc == NONE {
            continue;
        }
        let mask = facing_children::<D>(dir);
        stack.push(fc);
        // Stack of first-child indices: every child of a pushed node is examined.
        while let Some(fc) = stack.pop() {
            for c in 0..(1u32 << D) {
                let i = fc + c;
                if mask >> c & 1 == 0 {
                    out.push(i);
                } else {
                    let g = tree.first_child[i as usize];
                    if g != NONE {
                        stack.push(g);
                    }
                }
            }
        }
    }
    out[start..].sort_unstable();
}
