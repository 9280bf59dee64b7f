//! Building the tree: Morton-sort the points, refine top-down, balance, and lay the boxes out
//! level-major with their point ranges.

use std::ops::Range;

use rayon::prelude::*;

use super::balance::balance;
use super::linear_tree::{LinearTree, NONE};
use super::sort::radix_sort_with_permutation;
use crate::error::{Error, Result};
use crate::geometry::domain::check_points;
use crate::geometry::morton::encode_points;
use crate::geometry::{Domain, MortonKey};
use crate::scalar::Real;

/// How the tree is refined.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Refinement {
    /// Split any box that holds more than `max_points_per_leaf` sources or targets, down to
    /// `max_depth` at most (which stops refinement on coincident points).
    Adaptive {
        /// Largest number of sources (or targets) a leaf may hold above `max_depth`.
        max_points_per_leaf: usize,
        /// Deepest level.
        max_depth: u32,
    },
    /// Every box refined down to `depth`.
    Uniform {
        /// The level of every leaf.
        depth: u32,
    },
}

/// Options for [`LinearTree::build`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TreeOptions<const D: usize> {
    /// How boxes are split.
    pub refinement: Refinement,
    /// An explicit domain; `None` takes the bounding cube of all points.
    pub domain: Option<Domain<D>>,
    /// Enforce the 2:1 balance between adjacent leaves (default: true; the FMM's lists rely on it).
    pub balance: bool,
}

impl<const D: usize> TreeOptions<D> {
    /// Adaptive refinement with the given leaf size and depth bound, balanced, automatic domain.
    pub fn adaptive(max_points_per_leaf: usize, max_depth: u32) -> Self {
        Self {
            refinement: Refinement::Adaptive {
                max_points_per_leaf,
                max_depth,
            },
            domain: None,
            balance: true,
        }
    }

    /// A uniform tree of the given depth, automatic domain.
    pub fn uniform(depth: u32) -> Self {
        Self {
            refinement: Refinement::Uniform { depth },
            domain: None,
            balance: true,
        }
    }
}

struct Proto {
    key: u64,
    s: [u32; 2],
    t: [u32; 2],
}

/// Fills `out` (`2^D` entries) with the children's ranges of `codes` inside the parent's
/// `range`: one partition point per child, each searching only what is left of the range.
fn child_ranges<const D: usize>(
    key: MortonKey<D>,
    codes: &[u64],
    range: [u32; 2],
    out: &mut [[u32; 2]],
) {
    let slice = &codes[range[0] as usize..range[1] as usize];
    let mut start = 0usize;
    for (i, o) in out.iter_mut().enumerate() {
        let c = key.child(i);
        let end_code = c.code() + c.code_span();
        let end = start + slice[start..].partition_point(|&x| x < end_code);
        *o = [range[0] + start as u32, range[0] + end as u32];
        start = end;
    }
}

/// Per node, its range of the sorted `codes`: top-down, each sibling group searched within
/// its parent's range.
fn node_ranges<const D: usize>(
    keys: &[MortonKey<D>],
    levels: &[Range<usize>],
    parent: &[u32],
    codes: &[u64],
) -> Vec<[u32; 2]> {
    let nc = 1usize << D;
    let mut ranges = vec![[0u32; 2]; keys.len()];
    ranges[0] = [0, codes.len() as u32];
    for r in levels.iter().skip(1) {
        let (above, rest) = ranges.split_at_mut(r.start);
        let above = &*above;
        rest[..r.len()]
            .par_chunks_mut(nc)
            .enumerate()
            .for_each(|(j, group)| {
                let p = parent[r.start + j * nc] as usize;
                child_ranges(keys[p], codes, above[p], group);
            });
    }
    ranges
}

impl<const D: usize> LinearTree<D> {
    /// Builds the tree over `sources` and `targets` (`None`: the targets are the sources).
    ///
    /// Errors: empty point sets, NaN/inf coordinates, points outside an explicit domain,
    /// `max_points_per_leaf == 0`, a depth beyond [`MortonKey::MAX_LEVEL`].
    pub fn build<T: Real>(
        sources: &[[T; D]],
        targets: Option<&[[T; D]]>,
        options: &TreeOptions<D>,
    ) -> Result<Self> {
        let max_level = MortonKey::<D>::MAX_LEVEL;
        let (max_pts, max_depth) = match options.refinement {
            Refinement::Adaptive {
                max_points_per_leaf,
                max_depth,
            } => {
                if max_points_per_leaf == 0 {
                    return Err(Error::InvalidParameter {
                        name: "max_points_per_leaf",
                        reason: "must be at least 1".into(),
                    });
                }
                (max_points_per_leaf, max_depth)
            }
            Refinement::Uniform { depth } => (0, depth),
        };
        if max_depth > max_level {
            return Err(Error::InvalidParameter {
                name: "max_depth",
                reason: format!("{max_depth} exceeds the deepest level {max_level} in {D}D"),
            });
        }
        if let Refinement::Uniform { depth } = options.refinement {
            // Node indices are u32: keep 2^(D depth) boxes well inside.
            if D as u32 * depth > 30 {
                return Err(Error::InvalidParameter {
                    name: "depth",
                    reason: format!(
                        "a uniform tree of depth {depth} in {D}D has too many boxes (limit: D * depth <= 30)"
                    ),
                });
            }
        }
        for (what, len) in [
            ("sources", sources.len()),
            ("targets", targets.map_or(0, |t| t.len())),
        ] {
            if len >= u32::MAX as usize {
                return Err(Error::InvalidParameter {
                    name: what,
                    reason: format!("{len} points; at most {} are supported", u32::MAX - 1),
                });
            }
        }
        check_points(sources, "sources")?;
        if let Some(t) = targets {
            check_points(t, "targets")?;
        }
        let domain = match options.domain {
            Some(d) => {
                // The fields are public: check them again.
                let d = Domain::new(d.origin, d.width)?;
                for (what, set) in [("sources", Some(sources)), ("targets", targets)] {
                    let Some(set) = set else { continue };
                    let p = set.par_iter().position_first(|p| {
                        let q: [f64; D] = std::array::from_fn(|k| p[k].to_f64());
                        !d.contains(&q)
                    });
                    if let Some(index) = p {
                        return Err(Error::OutsideDomain { what, index });
                    }
                }
                d
            }
            // Checked above.
            None => match targets {
                Some(t) => Domain::bounding(&[sources, t]),
                None => Domain::bounding(&[sources]),
            },
        };

        // Finest-level codes (batch encoder), radix-sorted.
        let encode = |set: &[[T; D]]| encode_points(&domain, set);
        let bits = D as u32 * max_level;
        let (scodes, source_order) = radix_sort_with_permutation(&encode(sources), bits);
        let (tcodes, target_order) = match targets {
            Some(t) => radix_sort_with_permutation(&encode(t), bits),
            None => (scodes.clone(), source_order.clone()),
        };

        // Top-down refinement, level by level.
        let root = Proto {
            key: 0,
            s: [0, scodes.len() as u32],
            t: [0, tcodes.len() as u32],
        };
        let mut by_level: Vec<Vec<u64>> = vec![vec![root.key]];
        let mut current = vec![root];
        let mut level = 0u32;
        loop {
            let split = |n: &Proto| {
                level < max_depth
                    && match options.refinement {
                        Refinement::Uniform { .. } => true,
                        Refinement::Adaptive { .. } => {
                            (n.s[1] - n.s[0]) as usize > max_pts
                                || (n.t[1] - n.t[0]) as usize > max_pts
                        }
                    }
            };
            let next: Vec<Proto> = current
                .par_iter()
                .filter(|n| split(n))
                .flat_map_iter(|n| {
                    let key = MortonKey::<D>::from_raw(n.key);
                    let mut sr = [[0u32; 2]; 8];
                    let mut tr = [[0u32; 2]; 8];
                    child_ranges(key, &scodes, n.s, &mut sr[..1 << D]);
                    if targets.is_some() {
                        child_ranges(key, &tcodes, n.t, &mut tr[..1 << D]);
                    } else {
                        tr = sr;
                    }
                    (0..1usize << D).map(move |i| Proto {
                        key: key.child(i).raw(),
                        s: sr[i],
                        t: tr[i],
                    })
                })
                .collect();
            if next.is_empty() {
                break;
            }
            level += 1;
            by_level.push(next.iter().map(|n| n.key).collect());
            current = next;
        }

        if options.balance {
            balance::<D>(&mut by_level);
        }

        // Level-major, Morton order within a level.
        let mut keys: Vec<MortonKey<D>> = Vec::with_capacity(by_level.iter().map(Vec::len).sum());
        let mut levels = Vec::with_capacity(by_level.len());
        for mut lvl in by_level {
            lvl.par_sort_unstable();
            let start = keys.len();
            keys.extend(lvl.into_iter().map(MortonKey::from_raw));
            levels.push(start..keys.len());
        }
        // Parent and first child by merging consecutive levels: the children of the
        // internal boxes of level l - 1, in order, are the groups of 2^D of level l.
        let nc = 1usize << D;
        let mut parent = vec![NONE; keys.len()];
        let mut first_child = vec![NONE; keys.len()];
        for l in 1..levels.len() {
            let mut pi = levels[l - 1].start;
            for g in levels[l].clone().step_by(nc) {
                let pk = keys[g].parent();
                while keys[pi] != pk {
                    pi += 1;
                }
                first_child[pi] = g as u32;
                parent[g..g + nc].fill(pi as u32);
            }
        }
        let leaves: Vec<u32> = (0..keys.len() as u32)
            .filter(|&i| first_child[i as usize] == NONE)
            .collect();
        let source_ranges = node_ranges(&keys, &levels, &parent, &scodes);
        let target_ranges = if targets.is_some() {
            node_ranges(&keys, &levels, &parent, &tcodes)
        } else {
            source_ranges.clone()
        };

        Ok(Self {
            domain,
            keys,
            levels,
            parent,
            first_child,
            leaves,
            source_ranges,
            target_ranges,
            source_order,
            target_order,
        })
    }
}
