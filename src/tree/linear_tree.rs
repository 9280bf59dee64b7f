//! The adaptive, 2:1-balanced linear tree over sources and targets.
//!
//! Nodes are stored **level-major**: all boxes of level 0, then level 1, ..., each level in
//! Morton order. So a level is one contiguous range ([`LinearTree::levels`]), the `2^D`
//! children of a box are consecutive, and the descendants of a box at any deeper level are
//! one contiguous range of that level. Every internal box has all `2^D` children (some may be
//! empty). Points are sorted by their finest-level Morton code, so every box's points are one
//! contiguous range of the sorted arrays.

use std::ops::Range;

use crate::geometry::{Domain, MortonKey};

/// Marks "no such node" in the index arrays.
pub const NONE: u32 = u32::MAX;

/// The linear tree: flat arrays indexed by node position (level-major, Morton order within a
/// level).
#[derive(Clone, Debug)]
pub struct LinearTree<const D: usize> {
    /// The cube the tree subdivides.
    pub(crate) domain: Domain<D>,
    /// The boxes, level-major.
    pub(crate) keys: Vec<MortonKey<D>>,
    /// `levels[l]` is the range of `keys` holding level `l`.
    pub(crate) levels: Vec<Range<usize>>,
    /// Parent node index ([`NONE`] for the root).
    pub(crate) parent: Vec<u32>,
    /// Index of the first of the `2^D` consecutive children ([`NONE`] for leaves).
    pub(crate) first_child: Vec<u32>,
    /// Indices of the leaves, in node order.
    pub(crate) leaves: Vec<u32>,
    /// Per node: `[start, end)` of its sources in the sorted source arrays.
    pub(crate) source_ranges: Vec<[u32; 2]>,
    /// Per node: `[start, end)` of its targets in the sorted target arrays.
    pub(crate) target_ranges: Vec<[u32; 2]>,
    /// `source_order[i]` is the caller's index of the `i`-th sorted source.
    pub(crate) source_order: Vec<u32>,
    /// `target_order[i]` is the caller's index of the `i`-th sorted target.
    pub(crate) target_order: Vec<u32>,
}

impl<const D: usize> LinearTree<D> {
    /// The cube the tree subdivides.
    pub fn domain(&self) -> &Domain<D> {
        &self.domain
    }

    /// The boxes, level-major (Morton order within a level).
    pub fn keys(&self) -> &[MortonKey<D>] {
        &self.keys
    }

    /// `levels()[l]` is the range of node indices holding level `l`.
    pub fn levels(&self) -> &[Range<usize>] {
        &self.levels
    }

    /// Parent node index of every node ([`NONE`] for the root).
    pub fn parents(&self) -> &[u32] {
        &self.parent
    }

    /// Index of the first of the `2^D` consecutive children of every node ([`NONE`] for
    /// leaves).
    pub fn first_children(&self) -> &[u32] {
        &self.first_child
    }

    /// Indices of the leaves, in node order.
    pub fn leaves(&self) -> &[u32] {
        &self.leaves
    }

    /// `source_order()[i]` is the caller's index of the `i`-th sorted source.
    pub fn source_order(&self) -> &[u32] {
        &self.source_order
    }

    /// `target_order()[i]` is the caller's index of the `i`-th sorted target.
    pub fn target_order(&self) -> &[u32] {
        &self.target_order
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
