//! The checksums of the operator cache: XXH3 (64-bit, from `xxhash-rust`) of the header, and of
//! each array's span as the XXH3 of its 1 MiB blocks' XXH3s, so that one array is verified by
//! several threads.

use rayon::prelude::*;
use xxhash_rust::xxh3::{Xxh3, xxh3_64};

/// The 64-bit checksum used for cache headers and arrays (XXH3-64, seed 0): deterministic
/// across platforms.
pub fn checksum(bytes: &[u8]) -> u64 {
    xxh3_64(bytes)
}

/// Block size of [`array_checksum`] (part of the file format).
pub(crate) const BLOCK: usize = 1 << 20;

/// Checksum of an array's span: [`checksum`] of the little-endian concatenation of the
/// checksums of its consecutive [`BLOCK`]-byte blocks (the last one may be shorter). The
/// blocks are hashed in parallel. Equal to what [`BlockHasher`] computes from a stream.
pub(crate) fn array_checksum(span: &[u8]) -> u64 {
    let blocks: Vec<u64> = if span.len() <= BLOCK {
        span.chunks(BLOCK).map(checksum).collect()
    } else {
        span.par_chunks(BLOCK).map(checksum).collect()
    };
    let mut h = Xxh3::new();
    for b in blocks {
        h.update(&b.to_le_bytes());
    }
    h.digest()
}

/// Streaming form of [`array_checksum`], for the writer.
pub(crate) struct BlockHasher {
    outer: Xxh3,
    block: Xxh3,
    in_block: usize,
}

impl BlockHasher {
    pub(crate) fn new() -> Self {
        BlockHasher {
            outer: Xxh3::new(),
            block: Xxh3::new(),
            in_block: 0,
        }
    }

    pub(crate) fn update(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            let take = (BLOCK - self.in_block).min(data.len());
            self.block.update(&data[..take]);
            self.in_block += take;
            data = &data[take..];
            if self.in_block == BLOCK {
                self.end_block();
            }
        }
    }

    fn end_block(&mut self) {
        let b = self.block.digest();
        self.block.reset();
        self.outer.update(&b.to_le_bytes());
        self.in_block = 0;
    }

    pub(crate) fn finish(mut self) -> u64 {
        if self.in_block > 0 {
            self.end_block();
        }
        self.outer.digest()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streaming_hash_matches_one_shot() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 7 + 3) as u8).collect();
        let whole = checksum(&data);
        for split in [0, 1, 7, 31, 32, 33, 100, 999, 1000] {
            let mut h = Xxh3::new();
            h.update(&data[..split]);
            h.update(&data[split..]);
            assert_eq!(h.digest(), whole, "split {split}");
        }
    }

    #[test]
    fn block_hasher_matches_array_checksum() {
        let data: Vec<u8> = (0..(2 * BLOCK + 4096) as u64)
            .map(|i| (i.wrapping_mul(0x9E37_79B9) >> 7) as u8)
            .collect();
        for len in [0, 1, 64, BLOCK - 1, BLOCK, BLOCK + 1, 2 * BLOCK, data.len()] {
            let span = &data[..len];
            let expected = array_checksum(span);
            for piece in [1000, 8192, BLOCK, 3 * BLOCK] {
                let mut h = BlockHasher::new();
                for c in span.chunks(piece) {
                    h.update(c);
                }
                assert_eq!(h.finish(), expected, "len {len} piece {piece}");
            }
        }
        // A one-byte change in any block changes the array checksum.
        let base = array_checksum(&data);
        for i in [0, BLOCK - 1, BLOCK, 2 * BLOCK + 7, data.len() - 1] {
            let mut d = data.clone();
            d[i] ^= 0x20;
            assert_ne!(array_checksum(&d), base, "byte {i}");
        }
    }

    #[test]
    fn hash_detects_every_single_byte_flip() {
        for len in [0usize, 1, 5, 8, 31, 32, 33, 70, 200] {
            let data: Vec<u8> = (0..len).map(|i| (i * 13 + 1) as u8).collect();
            let h = checksum(&data);
            for i in 0..len {
                for bit in [0x01u8, 0x80, 0xff] {
                    let mut d = data.clone();
                    d[i] ^= bit;
                    assert_ne!(checksum(&d), h, "len {len} byte {i}");
                }
            }
        }
    }
}
