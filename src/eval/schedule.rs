//! The static schedule: fixed node chunks per level, and the task graph over them with an edge
//! for every data dependency, built once at `build()`.

use std::ops::Range;

use super::graph::{Op, Task, TaskGraph};
use crate::m2l::Plan;
use crate::tree::{InteractionLists, LinearTree};

/// Nodes per task (fixed, so results do not depend on the thread count).
pub(crate) const CHUNK: usize = 512;

/// The fixed node chunks: (level, node range), level by level.
pub(crate) fn chunk_ranges<const D: usize>(tree: &LinearTree<D>) -> Vec<(u32, Range<u32>)> {
    let mut out = Vec::new();
    for (l, r) in tree.levels().iter().enumerate() {
        let mut s = r.start;
        while s < r.end {
            let e = (s + CHUNK).min(r.end);
            out.push((l as u32, s as u32..e as u32));
            s = e;
        }
    }
    out
}

/// Builds the task graph: one task per (operator, chunk), with every data dependency.
pub(crate) fn build_graph<const D: usize>(
    tree: &LinearTree<D>,
    lists: &InteractionLists,
    chunks: &[(u32, Range<u32>)],
    plan: &Plan,
) -> TaskGraph {
    let n_chunks = chunks.len();
    // chunk index of a node: chunks are laid out level by level in node order.
    let mut chunk_of = vec![0u32; tree.len()];
    for (c, (_, r)) in chunks.iter().enumerate() {
        for i in r.clone() {
            chunk_of[i as usize] = c as u32;
        }
    }
    let has_leaf_targets = |r: &Range<u32>| {
        r.clone()
            .any(|i| tree.is_leaf(i as usize) && !tree.targets(i as usize).is_empty())
    };
    // Task ids: op-major, NONE where the task would be empty.
    let ops = [Op::P2p, Op::Upward, Op::M2l, Op::Downward, Op::Evaluate];
    let mut id = vec![[u32::MAX; 5]; n_chunks];
    let mut tasks = Vec::new();
    for (c, (level, r)) in chunks.iter().enumerate() {
        for (o, &op) in ops.iter().enumerate() {
            let needed = match op {
                Op::P2p | Op::Evaluate => has_leaf_targets(r),
                Op::Upward | Op::M2l | Op::Downward => *level >= 2,
            };
            if needed {
                id[c][o] = tasks.len() as u32;
                tasks.push(Task {
                    op,
                    level: *level,
                    chunk: c as u32,
                    nodes: r.clone(),
                });
            }
        }
    }
    let (p2p, up, m2l, down, eval) = (0, 1, 2, 3, 4);
    let mut edges: Vec<(u32, u32)> = Vec::new();
    for (c, (level, r)) in chunks.iter().enumerate() {
        // Upward: children's upward first.
        if id[c][up] != u32::MAX {
            for i in r.clone() {
                for ch in tree.children(i as usize) {
                    let pc = id[chunk_of[ch] as usize][up];
                    edges.push((pc, id[c][up]));
                }
            }
        }
        // M2L: the sources' upward.
        if id[c][m2l] != u32::MAX {
            let mut preds: Vec<u32> = match plan.groups.get(c) {
                Some(g) => g
                    .pairs
                    .iter()
                    .map(|&(_, a)| id[chunk_of[a as usize] as usize][up])
                    .collect(),
                None => plan.fft[c]
                    .sparents
                    .iter()
                    .flat_map(|&sp| {
                        tree.children(sp as usize)
                            .map(|ch| id[chunk_of[ch] as usize][up])
                    })
                    .collect(),
            };
            preds.sort_unstable();
            preds.dedup();
            edges.extend(preds.into_iter().map(|p| (p, id[c][m2l])));
        }
        // Downward: own M2L, parents' downward.
        if id[c][down] != u32::MAX {
            edges.push((id[c][m2l], id[c][down]));
            if *level >= 3 {
                for i in r.clone() {
                    let p = tree.parents()[i as usize] as usize;
                    edges.push((id[chunk_of[p] as usize][down], id[c][down]));
                }
            }
        }
        // Evaluate: own P2P (same output), own downward (L2P), W-list sources' upward (M2P).
        if id[c][eval] != u32::MAX {
            edges.push((id[c][p2p], id[c][eval]));
            if *level >= 2 {
                edges.push((id[c][down], id[c][eval]));
            }
            for i in r.clone() {
                if tree.is_leaf(i as usize) {
                    for &a in lists.w.row(i as usize) {
                        edges.push((id[chunk_of[a as usize] as usize][up], id[c][eval]));
                    }
                }
            }
        }
    }
    edges.retain(|&(a, b)| a != u32::MAX && a != b);
    TaskGraph::new(tasks, edges)
}
