//! The SVD M2L plan: per task chunk, the V-list pairs grouped by transfer vector, so that the
//! M2L task applies each transfer vector's core once to all the multipoles that share it.

use std::ops::Range;

use rayon::prelude::*;

use crate::geometry::transfer::{offset_index, transfer_table, transfer_vectors};
use crate::tree::{InteractionLists, LinearTree};

/// The SVD M2L work of one chunk: its V-list (target, source) pairs, grouped by transfer
/// vector (targets ascending within a group).
#[derive(Default)]
pub(crate) struct M2lGroups {
    /// Transfer vector of each group.
    pub(crate) t: Vec<u32>,
    /// Group `g` is `pairs[offsets[g]..offsets[g + 1]]`.
    pub(crate) offsets: Vec<u32>,
    /// (target node, source node).
    pub(crate) pairs: Vec<(u32, u32)>,
    /// The largest group's pair count (sizes the task's gather buffers).
    pub(crate) max_group: usize,
}

/// The groups of every chunk in `ranges` (level, node range); chunks of levels 0 and 1 have
/// none (no V list there).
pub(crate) fn build<const D: usize>(
    tree: &LinearTree<D>,
    lists: &InteractionLists,
    ranges: &[(u32, Range<u32>)],
) -> Vec<M2lGroups> {
    let table = transfer_table::<D>();
    let n_tv = transfer_vectors::<D>().len();
    // Box anchors decoded once (each box is a V-list source of up to 189 targets).
    let anchors: Vec<[u64; D]> = tree.keys().par_iter().map(|k| k.anchor()).collect();
    ranges
        .par_iter()
        .map(|(level, r)| {
            if *level < 2 {
                return M2lGroups::default();
            }
            // (transfer vector, target, source), targets ascending; then a counting sort
            // by transfer vector (stable: targets stay ascending within each group).
            let mut triples: Vec<(u32, u32, u32)> = Vec::new();
            let mut count = vec![0u32; n_tv + 1];
            for b in r.clone() {
                let b = b as usize;
                if tree.targets(b).is_empty() {
                    continue;
                }
                let ba = anchors[b];
                // Box widths are powers of two: a shift, not a division, per coordinate.
                let shift = tree.keys()[b].width_units().trailing_zeros();
                for &a in lists.v.row(b) {
                    if tree.sources(a as usize).is_empty() {
                        continue;
                    }
                    let aa = anchors[a as usize];
                    let off: [i64; D] =
                        std::array::from_fn(|k| (aa[k] as i64 - ba[k] as i64) >> shift);
                    let t = table[offset_index(off, 3)];
                    debug_assert!(t != u32::MAX, "V-list pairs are transfer vectors");
                    count[t as usize + 1] += 1;
                    triples.push((t, b as u32, a));
                }
            }
            for t in 0..n_tv {
                count[t + 1] += count[t];
            }
            let mut g = M2lGroups::default();
            for t in 0..n_tv {
                if count[t + 1] > count[t] {
                    g.t.push(t as u32);
                    g.offsets.push(count[t]);
                }
            }
            g.offsets.push(triples.len() as u32);
            g.pairs = vec![(0, 0); triples.len()];
            for &(t, b, a) in &triples {
                let slot = &mut count[t as usize];
                g.pairs[*slot as usize] = (b, a);
                *slot += 1;
            }
            g.max_group = g
                .offsets
                .windows(2)
                .map(|w| (w[1] - w[0]) as usize)
                .max()
                .unwrap_or(0);
            g
        })
        .collect()
}
