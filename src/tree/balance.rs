//! The 2:1 balance between adjacent leaves.

use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};

use rayon::prelude::*;

use crate::geometry::MortonKey;

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

/// Enforces the 2:1 balance: for every box at level `l`, the boxes of level `l - 1` adjacent
/// to it exist. Processed from the deepest level up; boxes created while serving level `l`
/// lie above it and are served later, so one pass suffices.
pub(super) fn balance<const D: usize>(by_level: &mut [Vec<u64>]) {
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
