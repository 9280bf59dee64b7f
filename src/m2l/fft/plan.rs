//! The FFT M2L plan: per task chunk (whole sibling groups of one level), the target parents
//! and, per parent offset, the neighbouring source parent whose children's spectra meet them.

use std::ops::Range;

use rayon::prelude::*;

use crate::geometry::transfer::{offset_at, offset_count};
use crate::tree::LinearTree;

/// The FFT M2L work of one chunk (whole sibling groups of one level).
#[derive(Default)]
pub(crate) struct FftChunk {
    /// Parent of each sibling group in the chunk.
    pub(crate) tparents: Vec<u32>,
    /// Distinct source parents (internal neighbours of the target parents with sources).
    pub(crate) sparents: Vec<u32>,
    /// `tparents.len() x 27`: local index into `sparents` per parent offset, or `u32::MAX`.
    pub(crate) slots: Vec<u32>,
}

/// The FFT work of every chunk in `ranges` (level, node range).
pub(crate) fn build<const D: usize>(
    tree: &LinearTree<D>,
    ranges: &[(u32, Range<u32>)],
) -> Vec<FftChunk> {
    ranges
        .par_iter()
        .map(|(level, r)| {
            let mut ch = FftChunk::default();
            if *level < 2 {
                return ch;
            }
            let n_children = 1u32 << D;
            let mut s = r.start;
            while s < r.end {
                let p = tree.parents()[s as usize];
                ch.tparents.push(p);
                let pk = tree.keys()[p as usize];
                for ti in 0..offset_count(D, 1) {
                    let off = offset_at::<D>(ti, 1);
                    let slot = if off.iter().all(|&o| o == 0) {
                        None
                    } else {
                        pk.neighbour(off)
                            .and_then(|nk| tree.index_of(nk))
                            .filter(|&i| !tree.is_leaf(i) && !tree.sources(i).is_empty())
                    };
                    ch.slots.push(match slot {
                        Some(i) => match ch.sparents.iter().position(|&x| x == i as u32) {
                            Some(local) => local as u32,
                            None => {
                                ch.sparents.push(i as u32);
                                (ch.sparents.len() - 1) as u32
                            }
                        },
                        None => u32::MAX,
                    });
                }
                s += n_children;
            }
            ch
        })
        .collect()
}
