//! Morton keys: a box of the tree as one `u64`.
//!
//! Layout: the anchor (the box's lowest corner, in units of the finest box) is bit-interleaved
//! into the high bits, the level sits in the low [`LEVEL_BITS`] bits:
//!
//! ```text
//!   key = interleave(anchor) << LEVEL_BITS | level
//! ```
//!
//! A box's anchor equals its first child's anchor and its level is lower, so it sorts just
//! before its descendants, and every subtree is one contiguous range of keys (pre-order,
//! depth-first). Deepest level: [`MortonKey::MAX_LEVEL`], 19 in 3D and 29 in 2D.
//! Interleaving order: coordinate 0 holds the most significant bit of each group, so the
//! child number is `sum_k bit_k << (D - 1 - k)`.
//!
//! Nothing here allocates.

use std::marker::PhantomData;

use super::domain::{Domain, anchor_scaled, finest_level};
use crate::scalar::Real;

/// Number of low bits that hold the level.
pub const LEVEL_BITS: u32 = 5;
const LEVEL_MASK: u64 = (1 << LEVEL_BITS) - 1;

/// A box of a `D`-dimensional (2 or 3) tree: anchor and level in one `u64`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MortonKey<const D: usize> {
    raw: u64,
    _d: PhantomData<[(); D]>,
}

impl<const D: usize> std::fmt::Debug for MortonKey<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "MortonKey(level {}, anchor {:?})",
            self.level(),
            self.anchor()
        )
    }
}

#[inline(always)]
const fn split3(x: u64) -> u64 {
    let mut x = x & 0x1f_ffff;
    x = (x | x << 32) & 0x001f_0000_0000_ffff;
    x = (x | x << 16) & 0x001f_0000_ff00_00ff;
    x = (x | x << 8) & 0x100f_00f0_0f00_f00f;
    x = (x | x << 4) & 0x10c3_0c30_c30c_30c3;
    x = (x | x << 2) & 0x1249_2492_4924_9249;
    x
}

/// Bits per lookup-table chunk of the dilation tables.
const LUT_BITS: u32 = 10;
const LUT_MASK: u64 = (1 << LUT_BITS) - 1;

/// `split3` of every 10-bit value (8 KiB): a 19-bit 3D anchor is two look-ups.
static SPLIT3_LUT: [u64; 1 << LUT_BITS] = {
    let mut t = [0u64; 1 << LUT_BITS];
    let mut i = 0;
    while i < t.len() {
        t[i] = split3(i as u64);
        i += 1;
    }
    t
};

/// `split2` of every 10-bit value (8 KiB): a 29-bit 2D anchor is three look-ups.
static SPLIT2_LUT: [u64; 1 << LUT_BITS] = {
    let mut t = [0u64; 1 << LUT_BITS];
    let mut i = 0;
    while i < t.len() {
        t[i] = split2(i as u64);
        i += 1;
    }
    t
};

/// `split3` for values below `2^20` by table look-up (no long shift/mask chain).
#[inline(always)]
fn split3_lut(x: u64) -> u64 {
    SPLIT3_LUT[(x & LUT_MASK) as usize]
        | SPLIT3_LUT[((x >> LUT_BITS) & LUT_MASK) as usize] << (3 * LUT_BITS)
}

/// `split2` for values below `2^30` by table look-up.
#[inline(always)]
fn split2_lut(x: u64) -> u64 {
    SPLIT2_LUT[(x & LUT_MASK) as usize]
        | SPLIT2_LUT[((x >> LUT_BITS) & LUT_MASK) as usize] << (2 * LUT_BITS)
        | SPLIT2_LUT[((x >> (2 * LUT_BITS)) & LUT_MASK) as usize] << (4 * LUT_BITS)
}

#[inline(always)]
fn compact3(x: u64) -> u64 {
    let mut x = x & 0x1249_2492_4924_9249;
    x = (x ^ (x >> 2)) & 0x10c3_0c30_c30c_30c3;
    x = (x ^ (x >> 4)) & 0x100f_00f0_0f00_f00f;
    x = (x ^ (x >> 8)) & 0x001f_0000_ff00_00ff;
    x = (x ^ (x >> 16)) & 0x001f_0000_0000_ffff;
    x = (x ^ (x >> 32)) & 0x1f_ffff;
    x
}

#[inline(always)]
const fn split2(x: u64) -> u64 {
    let mut x = x & 0xffff_ffff;
    x = (x | x << 16) & 0x0000_ffff_0000_ffff;
    x = (x | x << 8) & 0x00ff_00ff_00ff_00ff;
    x = (x | x << 4) & 0x0f0f_0f0f_0f0f_0f0f;
    x = (x | x << 2) & 0x3333_3333_3333_3333;
    x = (x | x << 1) & 0x5555_5555_5555_5555;
    x
}

#[inline(always)]
fn compact2(x: u64) -> u64 {
    let mut x = x & 0x5555_5555_5555_5555;
    x = (x ^ (x >> 1)) & 0x3333_3333_3333_3333;
    x = (x ^ (x >> 2)) & 0x0f0f_0f0f_0f0f_0f0f;
    x = (x ^ (x >> 4)) & 0x00ff_00ff_00ff_00ff;
    x = (x ^ (x >> 8)) & 0x0000_ffff_0000_ffff;
    x = (x ^ (x >> 16)) & 0xffff_ffff;
    x
}

/// Interleaves finest-level anchor coordinates into a Morton code (without level bits).
#[inline(always)]
pub fn interleave<const D: usize>(anchor: [u64; D]) -> u64 {
    const { assert!(D == 2 || D == 3, "oxifmm supports D = 2 and D = 3") };
    if D == 3 {
        split3(anchor[0]) << 2 | split3(anchor[1]) << 1 | split3(anchor[2])
    } else {
        split2(anchor[0]) << 1 | split2(anchor[1])
    }
}

/// [`interleave`] for anchors below `2^MAX_LEVEL` (what [`Domain::finest_anchor`] returns):
/// BMI2 `pdep` where the build enables it, else table look-ups.
#[inline(always)]
fn interleave_finest<const D: usize>(anchor: [u64; D]) -> u64 {
    const { assert!(D == 2 || D == 3, "oxifmm supports D = 2 and D = 3") };
    #[cfg(all(target_arch = "x86_64", target_feature = "bmi2"))]
    {
        pdep_interleave(anchor)
    }
    #[cfg(not(all(target_arch = "x86_64", target_feature = "bmi2")))]
    {
        if D == 3 {
            split3_lut(anchor[0]) << 2 | split3_lut(anchor[1]) << 1 | split3_lut(anchor[2])
        } else {
            split2_lut(anchor[0]) << 1 | split2_lut(anchor[1])
        }
    }
}

/// Interleave with BMI2 `pdep` (anchors below `2^MAX_LEVEL`). The caller must run on a CPU
/// with BMI2.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn pdep_interleave<const D: usize>(anchor: [u64; D]) -> u64 {
    use std::arch::x86_64::_pdep_u64;
    let mut code = 0;
    for (k, &a) in anchor.iter().enumerate() {
        // SAFETY: only reached from code compiled with (or dispatched on) BMI2.
        code |= unsafe { _pdep_u64(a, MortonKey::<D>::axis_mask(k)) };
    }
    code
}

/// Finest-level Morton codes (the [`interleave`]d [`Domain::finest_anchor`], no level bits)
/// of `points`, written to `out` (same length) on the calling thread. Equal, point by point,
/// to `MortonKey::from_point(p, domain, MAX_LEVEL).code()`; the scale is computed once and,
/// on x86-64 CPUs with BMI2 (detected at run time), the bits are spread with `pdep`.
pub fn encode_points_into<T: Real, const D: usize>(
    domain: &Domain<D>,
    points: &[[T; D]],
    out: &mut [u64],
) {
    assert_eq!(
        points.len(),
        out.len(),
        "encode_points_into: length mismatch"
    );
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("bmi2") && std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has BMI2 and AVX2, the features `encode_bmi2` is compiled for
        // (checked just above).
        unsafe { encode_bmi2(domain, points, out) };
        return;
    }
    encode_generic(domain, points, out);
}

/// Parallel [`encode_points_into`] (rayon): one finest-level code per point.
pub fn encode_points<T: Real, const D: usize>(domain: &Domain<D>, points: &[[T; D]]) -> Vec<u64> {
    use rayon::prelude::*;
    let mut out = vec![0u64; points.len()];
    const CHUNK: usize = 1 << 14;
    out.par_chunks_mut(CHUNK)
        .zip(points.par_chunks(CHUNK))
        .for_each(|(o, p)| encode_points_into(domain, p, o));
    out
}

#[inline(always)]
fn encode_generic<T: Real, const D: usize>(domain: &Domain<D>, points: &[[T; D]], out: &mut [u64]) {
    let n = (1u64 << MortonKey::<D>::MAX_LEVEL) as f64;
    let scale = n / domain.width;
    for (o, p) in out.iter_mut().zip(points) {
        *o = interleave_finest(anchor_scaled(p, &domain.origin, scale, n - 1.0));
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "bmi2,avx2")]
fn encode_bmi2<T: Real, const D: usize>(domain: &Domain<D>, points: &[[T; D]], out: &mut [u64]) {
    let n = (1u64 << MortonKey::<D>::MAX_LEVEL) as f64;
    let scale = n / domain.width;
    for (o, p) in out.iter_mut().zip(points) {
        *o = pdep_interleave(anchor_scaled(p, &domain.origin, scale, n - 1.0));
    }
}

/// Inverse of [`interleave`].
#[inline(always)]
pub fn deinterleave<const D: usize>(code: u64) -> [u64; D] {
    const { assert!(D == 2 || D == 3, "oxifmm supports D = 2 and D = 3") };
    let mut a = [0u64; D];
    if D == 3 {
        a[0] = compact3(code >> 2);
        a[1] = compact3(code >> 1);
        a[2] = compact3(code);
    } else {
        a[0] = compact2(code >> 1);
        a[1] = compact2(code);
    }
    a
}

impl<const D: usize> MortonKey<D> {
    /// Deepest level a key can hold: 19 in 3D (57 anchor bits), 29 in 2D (58 anchor bits).
    pub const MAX_LEVEL: u32 = finest_level(D);
    /// Number of children of a box: `2^D`.
    pub const N_CHILDREN: usize = 1 << D;

    /// The root box (level 0).
    pub const ROOT: Self = Self {
        raw: 0,
        _d: PhantomData,
    };

    /// The key's raw `u64`.
    #[inline(always)]
    pub fn raw(self) -> u64 {
        self.raw
    }

    /// A key from its raw `u64` (as returned by [`raw`](Self::raw)).
    #[inline(always)]
    pub fn from_raw(raw: u64) -> Self {
        Self {
            raw,
            _d: PhantomData,
        }
    }

    /// The box at `level` whose anchor is `anchor` (finest-level units); bits below the
    /// level's resolution are cleared. `level` must be at most [`MAX_LEVEL`](Self::MAX_LEVEL).
    #[inline(always)]
    pub fn from_anchor(anchor: [u64; D], level: u32) -> Self {
        debug_assert!(level <= Self::MAX_LEVEL);
        let code = interleave(anchor) & Self::code_mask(level);
        Self::from_raw(code << LEVEL_BITS | level as u64)
    }

    /// The Morton code of the box at `level` holding the finest-level code `code`.
    #[inline(always)]
    pub fn from_code(code: u64, level: u32) -> Self {
        Self::from_raw((code & Self::code_mask(level)) << LEVEL_BITS | level as u64)
    }

    /// The box at `level` that contains point `p` of `domain`.
    #[inline(always)]
    pub fn from_point(p: &[f64; D], domain: &Domain<D>, level: u32) -> Self {
        let code = interleave_finest(domain.finest_anchor(p)) & Self::code_mask(level);
        Self::from_raw(code << LEVEL_BITS | level as u64)
    }

    #[inline(always)]
    fn code_mask(level: u32) -> u64 {
        let shift = D as u32 * (Self::MAX_LEVEL - level);
        !((1u64 << shift) - 1)
    }

    /// The level (0 = root).
    #[inline(always)]
    pub fn level(self) -> u32 {
        (self.raw & LEVEL_MASK) as u32
    }

    /// The interleaved anchor bits (finest-level Morton code of the anchor).
    #[inline(always)]
    pub fn code(self) -> u64 {
        self.raw >> LEVEL_BITS
    }

    /// The anchor (lowest corner) in finest-level units.
    #[inline(always)]
    pub fn anchor(self) -> [u64; D] {
        deinterleave(self.code())
    }

    /// Side length in finest-level units.
    #[inline(always)]
    pub fn width_units(self) -> u64 {
        1 << (Self::MAX_LEVEL - self.level())
    }

    /// Number of finest-level codes inside the box: descendants' codes are in
    /// `code() .. code() + code_span()`.
    #[inline(always)]
    pub fn code_span(self) -> u64 {
        1 << (D as u32 * (Self::MAX_LEVEL - self.level()))
    }

    /// The parent box; the root is its own parent.
    #[inline(always)]
    pub fn parent(self) -> Self {
        let l = self.level();
        if l == 0 {
            return self;
        }
        Self::from_code(self.code(), l - 1)
    }

    /// Child `i` (`0 .. 2^D`); child number bit `D-1-k` is the offset along axis `k`.
    #[inline(always)]
    pub fn child(self, i: usize) -> Self {
        let l = self.level() + 1;
        let shift = D as u32 * (Self::MAX_LEVEL - l);
        Self::from_raw((self.code() | (i as u64) << shift) << LEVEL_BITS | l as u64)
    }

    /// Which child of its parent this box is (`0 .. 2^D`); 0 for the root.
    #[inline(always)]
    pub fn child_index(self) -> usize {
        let l = self.level();
        if l == 0 {
            return 0;
        }
        let shift = D as u32 * (Self::MAX_LEVEL - l);
        ((self.code() >> shift) & ((1 << D) - 1)) as usize
    }

    /// The `2^D` children, in Morton order.
    #[inline(always)]
    pub fn children(self) -> impl Iterator<Item = Self> {
        (0..Self::N_CHILDREN).map(move |i| self.child(i))
    }

    /// The `2^D` children of the parent, this box included.
    #[inline(always)]
    pub fn siblings(self) -> impl Iterator<Item = Self> {
        self.parent().children()
    }

    /// This box, its parent, ... up to the root.
    #[inline(always)]
    pub fn ancestors(self) -> impl Iterator<Item = Self> {
        let mut next = Some(self);
        std::iter::from_fn(move || {
            let k = next?;
            next = if k.level() == 0 {
                None
            } else {
                Some(k.parent())
            };
            Some(k)
        })
    }

    /// The ancestor at `level` (`level <= self.level()`).
    #[inline(always)]
    pub fn ancestor_at(self, level: u32) -> Self {
        Self::from_code(self.code(), level)
    }

    /// True if `other` is this box or lies inside it.
    #[inline(always)]
    pub fn contains(self, other: Self) -> bool {
        other.level() >= self.level() && other.ancestor_at(self.level()) == self
    }

    /// The neighbour at `offset` (in boxes of this level), if it lies inside the domain.
    #[inline(always)]
    pub fn neighbour(self, offset: [i64; D]) -> Option<Self> {
        let a = self.anchor();
        let w = self.width_units() as i64;
        let n = 1i64 << Self::MAX_LEVEL;
        let mut b = [0u64; D];
        for k in 0..D {
            let c = a[k] as i64 + offset[k] * w;
            if c < 0 || c >= n {
                return None;
            }
            b[k] = c as u64;
        }
        Some(Self::from_anchor(b, self.level()))
    }

    /// Bits of the code that belong to axis `k`.
    #[inline(always)]
    fn axis_mask(k: usize) -> u64 {
        let base = if D == 3 {
            0x1249_2492_4924_9249u64
        } else {
            0x5555_5555_5555_5555u64
        };
        let used = (1u64 << (D as u32 * Self::MAX_LEVEL)) - 1;
        (base << (D - 1 - k)) & used
    }

    /// The colleagues: same-level boxes adjacent to this one and inside the domain (up to
    /// `3^D - 1` of them; the box itself excluded), in Morton order of the offsets.
    ///
    /// Works on the interleaved code directly (dilated-integer arithmetic): no decode, no
    /// re-encode, no allocation.
    #[inline(always)]
    pub fn colleagues(self) -> impl Iterator<Item = Self> {
        let level = self.level();
        let code = self.code();
        // Per axis: the dilated coordinate bits one box down, same, one box up; unused
        // third axis in 2D: only "same" (zero) is valid.
        let mut comp = [[0u64; 3]; 3];
        let mut valid = [[false, true, false]; 3];
        let level_mask = Self::code_mask(level);
        for k in 0..D {
            let mask = Self::axis_mask(k);
            let step = 1u64 << (D as u32 * (Self::MAX_LEVEL - level) + (D - 1 - k) as u32);
            let c = code & mask;
            comp[k][1] = c;
            comp[k][0] = c.wrapping_sub(step) & mask;
            valid[k][0] = level > 0 && c != 0;
            comp[k][2] = (c | !mask).wrapping_add(step) & mask;
            valid[k][2] = level > 0 && (c & level_mask) != (mask & level_mask);
        }
        let mut buf = [0u64; 27];
        let mut len = 0;
        for i in 0..3 {
            for j in 0..3 {
                let cij = comp[0][i] | comp[1][j];
                let vij = valid[0][i] & valid[1][j];
                for k in 0..3 {
                    buf[len] = (cij | comp[2][k]) << LEVEL_BITS | level as u64;
                    len += (vij & valid[2][k] & !(i == 1 && j == 1 && k == 1)) as usize;
                }
            }
        }
        buf.into_iter().take(len).map(Self::from_raw)
    }

    /// True if the two boxes touch (closed boxes intersect) and neither contains the other.
    /// Works across levels.
    #[inline(always)]
    pub fn is_adjacent(self, other: Self) -> bool {
        if self.contains(other) || other.contains(self) {
            return false;
        }
        let (a, b) = (self.anchor(), other.anchor());
        let (wa, wb) = (self.width_units(), other.width_units());
        (0..D).all(|k| a[k] <= b[k] + wb && b[k] <= a[k] + wa)
    }

    /// Centre of the box in domain coordinates.
    pub fn centre(self, domain: &Domain<D>) -> [f64; D] {
        let a = self.anchor();
        let unit = domain.width / (1u64 << Self::MAX_LEVEL) as f64;
        let half = 0.5 * self.width_units() as f64;
        let mut c = [0.0; D];
        for k in 0..D {
            c[k] = domain.origin[k] + (a[k] as f64 + half) * unit;
        }
        c
    }

    /// Side length of the box in domain units.
    pub fn width(self, domain: &Domain<D>) -> f64 {
        domain.width / (1u64 << self.level()) as f64
    }
}
