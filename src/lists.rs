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
//! Lists hold node indices of the [`LinearTree`](crate::tree::LinearTree) and are complete by
//! definition (empty boxes included); the evaluator skips boxes without sources or targets.

use rayon::prelude::*;

use crate::morton::MortonKey;
use crate::tree::LinearTree;

/// A compressed sparse row list: row `i` is `indices[offsets[i]..offsets[i + 1]]`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Csr {
    /// Row starts; `offsets.len()` is the number of rows plus one.
    pub offsets: Vec<u32>,
    /// Concatenated rows.
    pub indices: Vec<u32>,
}

impl Csr {
    /// Builds from one vector per row.
    pub fn from_rows(rows: Vec<Vec<u32>>) -> Self {
        let mut offsets = Vec::with_capacity(rows.len() + 1);
        offsets.push(0u32);
        let mut total = 0u32;
        for r in &rows {
            total += r.len() as u32;
            offsets.push(total);
        }
        let mut indices = Vec::with_capacity(total as usize);
        for r in rows {
            indices.extend(r);
        }
        Self { offsets, indices }
    }

    /// Row `i`.
    #[inline]
    pub fn row(&self, i: usize) -> &[u32] {
        &self.indices[self.offsets[i] as usize..self.offsets[i + 1] as usize]
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    /// Longest row.
    pub fn max_row(&self) -> usize {
        self.offsets
            .windows(2)
            .map(|w| (w[1] - w[0]) as usize)
            .max()
            .unwrap_or(0)
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        4 * (self.offsets.len() + self.indices.len())
    }
}

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
    pub fn build<const D: usize>(tree: &LinearTree<D>) -> Self {
        let n = tree.len();
        let u = Csr::from_rows((0..n).into_par_iter().map(|i| u_row(tree, i)).collect());
        let v = Csr::from_rows((0..n).into_par_iter().map(|i| v_row(tree, i)).collect());
        let w_rows: Vec<Vec<u32>> = (0..n).into_par_iter().map(|i| w_row(tree, i)).collect();
        let mut x_rows: Vec<Vec<u32>> = vec![Vec::new(); n];
        for (b, row) in w_rows.iter().enumerate() {
            for &a in row {
                x_rows[a as usize].push(b as u32);
            }
        }
        let w = Csr::from_rows(w_rows);
        let x = Csr::from_rows(x_rows);
        Self { u, v, w, x }
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.u.bytes() + self.v.bytes() + self.w.bytes() + self.x.bytes()
    }
}

fn u_row<const D: usize>(tree: &LinearTree<D>, b: usize) -> Vec<u32> {
    if !tree.is_leaf(b) {
        return Vec::new();
    }
    let bk = tree.keys[b];
    let mut row = vec![b as u32];
    let mut stack: Vec<usize> = Vec::new();
    for c in bk.colleagues() {
        match tree.index_of(c) {
            Some(ci) => stack.push(ci),
            None => {
                // A coarser leaf covers the colleague's region.
                let a = tree.deepest_containing(c);
                if tree.keys[a].is_adjacent(bk) {
                    row.push(a as u32);
                }
            }
        }
    }
    while let Some(i) = stack.pop() {
        if tree.is_leaf(i) {
            row.push(i as u32);
        } else {
            for c in tree.children(i) {
                if tree.keys[c].is_adjacent(bk) {
                    stack.push(c);
                }
            }
        }
    }
    row.sort_unstable();
    row.dedup();
    row
}

fn v_row<const D: usize>(tree: &LinearTree<D>, b: usize) -> Vec<u32> {
    let bk = tree.keys[b];
    if bk.level() < 2 {
        return Vec::new();
    }
    let mut row = Vec::new();
    for pc in bk.parent().colleagues() {
        let Some(pi) = tree.index_of(pc) else {
            continue;
        };
        for c in tree.children(pi) {
            if !tree.keys[c].is_adjacent(bk) {
                row.push(c as u32);
            }
        }
    }
    row.sort_unstable();
    row
}

fn w_row<const D: usize>(tree: &LinearTree<D>, b: usize) -> Vec<u32> {
    if !tree.is_leaf(b) {
        return Vec::new();
    }
    let bk: MortonKey<D> = tree.keys[b];
    let mut row = Vec::new();
    let mut stack: Vec<usize> = Vec::new();
    for c in bk.colleagues() {
        if let Some(ci) = tree.index_of(c) {
            stack.extend(tree.children(ci));
        }
    }
    while let Some(a) = stack.pop() {
        if !tree.keys[a].is_adjacent(bk) {
            row.push(a as u32);
        } else {
            stack.extend(tree.children(a));
        }
    }
    row.sort_unstable();
    row
}
