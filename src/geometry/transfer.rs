//! Box offsets and the M2L transfer vectors: the one codec between an offset vector (in box
//! widths, per axis in `[-radius, radius]`) and its position in the lexicographic order of all
//! such offsets (last axis fastest), used by the interaction lists, the M2L plans, the
//! operator precomputation and the FFT tables alike.

/// Number of offsets in `[-radius, radius]^D`.
#[inline(always)]
pub const fn offset_count(d: usize, radius: i64) -> usize {
    ((2 * radius + 1) as usize).pow(d as u32)
}

/// The offset at lexicographic position `index` of `[-radius, radius]^D` (last axis fastest).
#[inline(always)]
pub fn offset_at<const D: usize>(index: usize, radius: i64) -> [i64; D] {
    let base = (2 * radius + 1) as usize;
    let mut t = index;
    let mut o = [0i64; D];
    for k in (0..D).rev() {
        o[k] = (t % base) as i64 - radius;
        t /= base;
    }
    o
}

/// Inverse of [`offset_at`]: the position of `offset` (each entry in `[-radius, radius]`).
#[inline(always)]
pub fn offset_index<const D: usize>(offset: [i64; D], radius: i64) -> usize {
    let base = (2 * radius + 1) as usize;
    offset
        .iter()
        .fold(0usize, |lin, &x| lin * base + (x + radius) as usize)
}

/// Per-axis position bits (0 or 1) of child number `c` of a box: axis 0 holds the most
/// significant bit, as in the Morton key's interleaving.
#[inline(always)]
pub fn child_offset<const D: usize>(c: usize) -> [i64; D] {
    std::array::from_fn(|k| ((c >> (D - 1 - k)) & 1) as i64)
}

/// Whether an offset in box widths is a transfer vector: within `[-3, 3]^D` and not adjacent
/// (some axis at least 2 apart).
#[inline(always)]
fn is_transfer<const D: usize>(offset: &[i64; D]) -> bool {
    offset.iter().all(|x| x.abs() <= 3) && offset.iter().any(|x| x.abs() >= 2)
}

/// The M2L transfer vectors: offsets (in box widths) in `[-3, 3]^D` that are not adjacent,
/// in lexicographic order (3D: 316, 2D: 40).
pub fn transfer_vectors<const D: usize>() -> Vec<[i64; D]> {
    (0..offset_count(D, 3))
        .map(|i| offset_at::<D>(i, 3))
        .filter(is_transfer)
        .collect()
}

/// Per position of `[-3, 3]^D` ([`offset_index`] with radius 3): the index of that offset in
/// [`transfer_vectors`], or `u32::MAX` where it is not a transfer vector.
pub fn transfer_table<const D: usize>() -> Vec<u32> {
    let mut next = 0u32;
    (0..offset_count(D, 3))
        .map(|i| {
            if is_transfer(&offset_at::<D>(i, 3)) {
                next += 1;
                next - 1
            } else {
                u32::MAX
            }
        })
        .collect()
}

/// Position of `offset` in [`transfer_vectors`], or `None` if it is not a transfer vector.
pub fn transfer_index<const D: usize>(offset: [i64; D]) -> Option<usize> {
    if !is_transfer(&offset) {
        return None;
    }
    // Transfer vectors before it = positions before it minus the near offsets before it.
    let lin = offset_index(offset, 3);
    let near_before = (0..offset_count(D, 1))
        .filter(|&i| offset_index(offset_at::<D>(i, 1), 3) < lin)
        .count();
    Some(lin - near_before)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codec_round_trips_and_table_matches_the_index() {
        for i in 0..offset_count(3, 3) {
            let o = offset_at::<3>(i, 3);
            assert_eq!(offset_index(o, 3), i);
        }
        let tv = transfer_vectors::<3>();
        assert_eq!(tv.len(), 316);
        assert_eq!(transfer_vectors::<2>().len(), 40);
        let table = transfer_table::<3>();
        for (t, &o) in tv.iter().enumerate() {
            assert_eq!(transfer_index(o), Some(t));
            assert_eq!(table[offset_index(o, 3)], t as u32);
        }
        assert_eq!(transfer_index([1i64, -1, 0]), None);
        assert_eq!(transfer_index([4i64, 0, 0]), None);
    }
}
