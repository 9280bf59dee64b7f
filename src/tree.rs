//! The adaptive, 2:1-balanced linear tree over sources and targets.
//!
//! Nodes are stored **level-major**: all boxes of level 0, then level 1, ..., each level in
//! Morton order. So a level is one contiguous range ([`LinearTree::levels`]), the `2^D`
//! children of a box are consecutive, and the descendants of a box at any deeper level are
//! one contiguous range of that level. Every internal box has all `2^D` children (some may be
//! empty). Points are sorted by their finest-level Morton code, so every box's points are one
//! contiguous range of the sorted arrays.

use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};
use std::ops::Range;

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::morton::{Domain, MortonKey};
use crate::real::Real;
use crate::sort::radix_sort_with_permutation;

/// Marks "no such node" in the index arrays.
pub const NONE: u32 = u32::MAX;

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

/// Checks a point set: non-empty and finite.
pub(crate) fn check_points<T: Real, const D: usize>(
    points: &[[T; D]],
    what: &'static str,
) -> Result<()> {
    if points.is_empty() {
        return Err(Error::Empty { what });
    }
    if let Some(index) = points
        .par_iter()
        .position_first(|p| p.iter().any(|x| !x.is_finite()))
    {
        return Err(Error::NonFinite { what, index });
    }
    Ok(())
}

impl<const D: usize> Domain<D> {
    /// The smallest cube holding every point of every set, centred on their bounding box and
    /// widened by a relative 1e-9 so that no point sits on the upper faces.
    pub fn from_points<T: Real>(sets: &[&[[T; D]]]) -> Result<Self> {
        let mut lo = [f64::INFINITY; D];
        let mut hi = [f64::NEG_INFINITY; D];
        for (i, set) in sets.iter().enumerate() {
            let what = if i == 0 { "sources" } else { "targets" };
            check_points(set, what)?;
            let (l, h) = set
                .par_iter()
                .fold(
                    || ([f64::INFINITY; D], [f64::NEG_INFINITY; D]),
                    |(mut l, mut h), p| {
                        for k in 0..D {
                            let x = p[k].to_f64();
                            l[k] = l[k].min(x);
                            h[k] = h[k].max(x);
                        }
                        (l, h)
                    },
                )
                .reduce(
                    || ([f64::INFINITY; D], [f64::NEG_INFINITY; D]),
                    |(mut l, mut h), (l2, h2)| {
                        for k in 0..D {
                            l[k] = l[k].min(l2[k]);
                            h[k] = h[k].max(h2[k]);
                        }
                        (l, h)
                    },
                );
            for k in 0..D {
                lo[k] = lo[k].min(l[k]);
                hi[k] = hi[k].max(h[k]);
            }
        }
        let extent = (0..D).map(|k| hi[k] - lo[k]).fold(0.0, f64::max);
        let scale = (0..D)
            .map(|k| lo[k].abs().max(hi[k].abs()))
            .fold(0.0, f64::max);
        let width = if extent > 0.0 {
            extent * (1.0 + 1e-9) + scale * 1e-15
        } else {
            1.0
        };
        let mut origin = [0.0; D];
        for k in 0..D {
            origin[k] = 0.5 * (lo[k] + hi[k]) - 0.5 * width;
        }
        Ok(Self { origin, width })
    }

    /// An explicit domain; the width must be positive and everything finite.
    pub fn new(origin: [f64; D], width: f64) -> Result<Self> {
        if !(width.is_finite() && width > 0.0) {
            return Err(Error::InvalidParameter {
                name: "domain.width",
                reason: format!("must be finite and positive, got {width}"),
            });
        }
        if let Some(index) = origin.iter().position(|x| !x.is_finite()) {
            return Err(Error::NonFinite {
                what: "domain origin",
                index,
            });
        }
        Ok(Self { origin, width })
    }
}

/// A cheap hasher for `u64` keys (multiply-shift), for the balance step's node set.
#[derive(Default, Clone, Copy)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ b as u64).wrapping_mul(0x100_0000_01b3);
        }
    }
    fn write_u64(&mut self, x: u64) {
        self.0 = (x ^ (x >> 29)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        self.0 ^= self.0 >> 32;
    }
}

type KeySet = HashSet<u64, BuildHasherDefault<KeyHasher>>;

/// The linear tree: flat arrays indexed by node position (level-major, Morton order within a
/// level).
#[derive(Clone, Debug)]
pub struct LinearTree<const D: usize> {
    /// The cube the tree subdivides.
    pub domain: Domain<D>,
    /// The boxes, level-major.
    pub keys: Vec<MortonKey<D>>,
    /// `levels[l]` is the range of `keys` holding level `l`.
    pub levels: Vec<Range<usize>>,
    /// Parent node index ([`NONE`] for the root).
    pub parent: Vec<u32>,
    /// Index of the first of the `2^D` consecutive children ([`NONE`] for leaves).
    pub first_child: Vec<u32>,
    /// Indices of the leaves, in node order.
    pub leaves: Vec<u32>,
    /// Per node: `[start, end)` of its sources in the sorted source arrays.
    pub source_ranges: Vec<[u32; 2]>,
    /// Per node: `[start, end)` of its targets in the sorted target arrays.
    pub target_ranges: Vec<[u32; 2]>,
    /// `source_order[i]` is the caller's index of the `i`-th sorted source.
    pub source_order: Vec<u32>,
    /// `target_order[i]` is the caller's index of the `i`-th sorted target.
    pub target_order: Vec<u32>,
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
            None => match targets {
                Some(t) => Domain::from_points(&[sources, t])?,
                None => Domain::from_points(&[sources])?,
            },
        };

        // Finest-level codes (batch encoder), radix-sorted.
        let encode = |set: &[[T; D]]| crate::morton::encode_points(&domain, set);
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

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True if the tree has no nodes (never, for a built tree).
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Depth: the deepest level.
    pub fn depth(&self) -> u32 {
        self.levels.len() as u32 - 1
    }

    /// True if node `i` is a leaf.
    #[inline]
    pub fn is_leaf(&self, i: usize) -> bool {
        self.first_child[i] == NONE
    }

    /// The node indices of node `i`'s children (empty for a leaf).
    #[inline]
    pub fn children(&self, i: usize) -> Range<usize> {
        let c = self.first_child[i];
        if c == NONE {
            0..0
        } else {
            c as usize..c as usize + (1 << D)
        }
    }

    /// The node holding `key`, if the tree has it (binary search within the key's level).
    pub fn index_of(&self, key: MortonKey<D>) -> Option<usize> {
        let r = self.levels.get(key.level() as usize)?.clone();
        self.keys[r.clone()]
            .binary_search(&key)
            .ok()
            .map(|i| r.start + i)
    }

    /// The deepest node that contains `key`'s box (the box itself when it is in the tree).
    pub fn deepest_containing(&self, key: MortonKey<D>) -> usize {
        let mut l = key.level().min(self.depth());
        loop {
            if let Some(i) = self.index_of(key.ancestor_at(l)) {
                return i;
            }
            l -= 1;
        }
    }

    /// Sources of node `i` as a range of the sorted source arrays.
    #[inline]
    pub fn sources(&self, i: usize) -> Range<usize> {
        let r = self.source_ranges[i];
        r[0] as usize..r[1] as usize
    }

    /// Targets of node `i` as a range of the sorted target arrays.
    #[inline]
    pub fn targets(&self, i: usize) -> Range<usize> {
        let r = self.target_ranges[i];
        r[0] as usize..r[1] as usize
    }

    /// Bytes held by the tree's arrays.
    pub fn bytes(&self) -> usize {
        self.keys.len() * (8 + 4 + 4 + 8 + 8)
            + self.leaves.len() * 4
            + (self.source_order.len() + self.target_order.len()) * 4
    }
}

/// Enforces the 2:1 balance: for every box at level `l`, the boxes of level `l - 1` adjacent
/// to it exist. Processed from the deepest level up; boxes created while serving level `l`
/// lie above it and are served later, so one pass suffices.
fn balance<const D: usize>(by_level: &mut [Vec<u64>]) {
    let mut exists: KeySet = by_level.iter().flatten().copied().collect();
    for l in (2..by_level.len()).rev() {
        // The parents of the colleagues of B (other than B's siblings) are exactly the
        // colleagues of B's parent that touch B; over the 2^D siblings (all present), every
        // colleague of the parent. So check each parent once, via its first child.
        let mut needed: Vec<u64> = by_level[l]
            .par_iter()
            .filter(|&&raw| MortonKey::<D>::from_raw(raw).child_index() == 0)
            .flat_map_iter(|&raw| {
                let bp = MortonKey::<D>::from_raw(raw).parent();
                let exists = &exists;
                bp.colleagues()
                    .filter_map(move |p| (!exists.contains(&p.raw())).then_some(p.raw()))
            })
            .collect();
        needed.par_sort_unstable();
        needed.dedup();
        for raw in needed {
            if exists.contains(&raw) {
                continue;
            }
            let p = MortonKey::<D>::from_raw(raw);
            let mut a = p.parent();
            while !exists.contains(&a.raw()) {
                a = a.parent();
            }
            for m in a.level()..p.level() {
                let x = p.ancestor_at(m);
                for c in x.children() {
                    if exists.insert(c.raw()) {
                        by_level[m as usize + 1].push(c.raw());
                    }
                }
            }
        }
    }
}
