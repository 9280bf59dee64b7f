//! The memory-mapped cache file: opened with its header validated, arrays verified against
//! their checksums on first use (or vouched for by a stamp), and handed out zero copy.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use memmap2::{Mmap, MmapOptions};
use rayon::prelude::*;

use super::checksum::array_checksum;
use super::format::{ALIGN, DType, Entry, PREAMBLE, align_up, validate};
use super::params::CacheParams;
use super::stamp::{Stamp, read_stamp, stamps_enabled, write_stamp};
use crate::error::{Error, Result};

/// How [`OperatorCache::verify`] established that every array is intact.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verified {
    /// A verification stamp written after an earlier full check matched the file's header
    /// checksum, identity and change times: the payload was not read.
    ByStamp,
    /// Every array's checksum was computed and matched.
    ByChecksums,
}

/// A memory-mapped cache file, validated on open. Array views borrow from the map.
pub struct OperatorCache {
    map: Mmap,
    params: CacheParams,
    pub(crate) entries: Vec<Entry>,
    path: PathBuf,
    /// The mapped file, kept open so that [`Self::verify`] compares the stamp with the file
    /// as it is then, not as it was at `open`.
    file: File,
    /// The header checksum (covers every array checksum), bound into stamps.
    header_checksum: u64,
    /// Set by [`Self::verify`] when a stamp vouched for every array: array views are then
    /// served without computing checksums. [`Self::verify_all`] ignores it.
    stamp_trusted: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for OperatorCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OperatorCache")
            .field("path", &self.path)
            .field("params", &self.params)
            .field("arrays", &self.entries)
            .field("byte_len", &self.map.len())
            .finish()
    }
}

impl OperatorCache {
    /// Opens a cache file and validates its header: magic, format version, header checksum
    /// (which covers every array's checksum), parameters equal to `expected`, file size, and
    /// each array's offset and length (within the file, 64-byte aligned, contiguous). The
    /// payload is mapped but not read, so this takes about the same time for any file size.
    ///
    /// Array data is verified against its checksum on first access ([`Self::f64`],
    /// [`Self::f32`]), by [`Self::verify_all`], or vouched for by a stamp in
    /// [`Self::verify`]; a file must pass [`Self::verify`] or [`Self::verify_all`] before it
    /// is known to be intact ([`load_or_create`](super::load_or_create) calls [`Self::verify`]).
    ///
    /// Errors: [`Error::Io`] if the file cannot be opened or mapped (a missing file gives
    /// [`std::io::ErrorKind::NotFound`]); [`Error::Cache`] naming what is wrong otherwise,
    /// and always on big-endian targets, where zero-copy views are not supported.
    pub fn open(path: &Path, expected: &CacheParams) -> Result<Self> {
        let cache_err = |reason: String| Error::Cache {
            path: path.to_path_buf(),
            reason,
        };
        if cfg!(target_endian = "big") {
            return Err(cache_err(
                "memory-mapped operator caches need a little-endian target".to_string(),
            ));
        }
        let file = File::open(path).map_err(Error::io(path))?;
        let meta = file.metadata().map_err(Error::io(path))?;
        if !meta.is_file() {
            return Err(cache_err("not a regular file".to_string()));
        }
        if meta.len() < PREAMBLE as u64 {
            return Err(cache_err(format!(
                "truncated: file has {} bytes, less than the {PREAMBLE}-byte preamble",
                meta.len()
            )));
        }
        // SAFETY: the map is read-only. Cache files are never modified in place by oxifmm:
        // writers create a new temporary file and rename it over the old one, which leaves
        // this mapping's inode intact. Another program truncating or rewriting the file in
        // place while it is mapped is outside the supported use (as for any mmap).
        // No `populate`: pages are faulted in lazily, so opening does not read the payload.
        let map = unsafe { MmapOptions::new().map(&file) }.map_err(Error::io(path))?;
        if !(map.as_ptr() as usize).is_multiple_of(ALIGN) {
            return Err(cache_err("memory map is not 64-byte aligned".to_string()));
        }
        let (params, entries, header_checksum) = validate(&map, expected).map_err(cache_err)?;
        Ok(OperatorCache {
            map,
            params,
            entries,
            path: path.to_path_buf(),
            file,
            header_checksum,
            stamp_trusted: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// The parameters stored in (and validated against) the file.
    pub fn params(&self) -> &CacheParams {
        &self.params
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Array names, in the order they were written.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|e| e.name.as_str())
    }

    /// The shape of the named array, or `None` if there is no such array.
    pub fn shape(&self, name: &str) -> Option<&[usize]> {
        self.entry(name).map(|e| e.shape.as_slice())
    }

    /// Whether the named array is `f64` (`Some(true)`), `f32` (`Some(false)`) or missing.
    pub fn is_f64(&self, name: &str) -> Option<bool> {
        self.entry(name).map(|e| e.dtype == DType::F64)
    }

    fn entry(&self, name: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.name == name)
    }

    /// The array's span: its bytes and the padding after them (in the file: `validate`
    /// checked `offset + align_up(byte_len)` lies within the map).
    fn span(&self, e: &Entry) -> &[u8] {
        &self.map[e.offset..e.offset + align_up(e.byte_len)]
    }

    /// Verifies the entry's checksum, computing it on the first call only (concurrent first
    /// callers wait for one computation).
    fn verify_entry(&self, e: &Entry) -> Result<()> {
        // Not `get_or_init`: the checksum runs rayon tasks, and a worker waiting in them may
        // steal a task that asks for the same array, re-entering the initialisation (a
        // deadlock). Two threads may both compute the checksum at worst; both get the same
        // answer.
        let ok = match e.verified.get() {
            Some(&ok) => ok,
            None => {
                let ok = array_checksum(self.span(e)) == e.checksum;
                let _ = e.verified.set(ok);
                ok
            }
        };
        if ok {
            Ok(())
        } else {
            Err(Error::Cache {
                path: self.path.clone(),
                reason: format!("array {:?} checksum mismatch: data is corrupt", e.name),
            })
        }
    }

    /// Verifies every array not verified yet against its checksum, in parallel (arrays and
    /// 1 MiB blocks of each array); arrays checked before keep their result. Returns the
    /// first failure in table order: an [`Error::Cache`] naming the corrupt array. After
    /// `Ok`, every array view is served without further checks.
    pub fn verify_all(&self) -> Result<()> {
        // Arrays already verified (or found corrupt) return their stored result at once.
        let results: Vec<Result<()>> = self
            .entries
            .par_iter()
            .map(|e| self.verify_entry(e))
            .collect();
        results.into_iter().collect()
    }

    /// Verifies the whole file once per file version: if its verification stamp (see the
    /// module docs) matches this file as it is now (device, inode, length, times read again
    /// from the open file), every array is taken as verified without reading the payload
    /// ([`Verified::ByStamp`]; array views are then served without checksums). Otherwise
    /// [`Self::verify_all`] runs ([`Verified::ByChecksums`]) and, when it passes and the file
    /// was last changed more than [`STAMP_MARGIN`](super::STAMP_MARGIN) before, the stamp is written (best effort:
    /// a read-only directory only means the next load verifies again). Errors as
    /// [`Self::verify_all`].
    pub fn verify(&self) -> Result<Verified> {
        let started = std::time::SystemTime::now();
        // The file as it is now (the map shows any change made since `open`).
        let stamp = stamps_enabled()
            .then(|| self.file.metadata().ok())
            .flatten()
            .and_then(|meta| Stamp::of(&meta, self.header_checksum));
        if let Some(stamp) = &stamp
            && read_stamp(&self.path).as_ref() == Some(stamp)
            // An array already found corrupt on this handle stays corrupt.
            && self.entries.iter().all(|e| e.verified.get() != Some(&false))
        {
            self.stamp_trusted.store(true, Ordering::Release);
            return Ok(Verified::ByStamp);
        }
        self.verify_all()?;
        if let Some(stamp) = &stamp
            && stamp.settled_at(started)
        {
            write_stamp(&self.path, stamp);
        }
        Ok(Verified::ByChecksums)
    }

    fn bytes_of(&self, name: &str, dtype: DType) -> Result<&[u8]> {
        let e = self.entry(name).ok_or_else(|| Error::Cache {
            path: self.path.clone(),
            reason: format!("no array named {name:?}"),
        })?;
        if e.dtype != dtype {
            return Err(Error::Cache {
                path: self.path.clone(),
                reason: format!(
                    "array {name:?} is {}, requested {}",
                    e.dtype.name(),
                    dtype.name()
                ),
            });
        }
        if !self.stamp_trusted.load(Ordering::Acquire) {
            self.verify_entry(e)?;
        }
        Ok(&self.map[e.offset..e.offset + e.byte_len])
    }

    /// Zero-copy view of an `f64` array. [`Error::Cache`] if missing, of another dtype, or
    /// if its checksum does not match (verified on the first access to each array).
    pub fn f64(&self, name: &str) -> Result<&[f64]> {
        let b = self.bytes_of(name, DType::F64)?;
        debug_assert!(
            (b.as_ptr() as usize).is_multiple_of(align_of::<f64>()) && b.len().is_multiple_of(8)
        );
        // SAFETY: alignment: the map starts on a page boundary (checked 64-byte aligned in
        // `open`) and `validate` checked the array's offset is a multiple of 64, so the
        // pointer is aligned for f64. Length: `validate` checked offset + byte_len lies within
        // the map and byte_len = 8 * (number of elements), so the slice covers exactly
        // byte_len initialised bytes. Every bit pattern is a valid f64, the bytes are stored
        // little-endian and `open` refuses big-endian targets. The returned slice borrows
        // `self`, so the read-only map outlives it. (Integrity, not needed for soundness:
        // `bytes_of` returns only after this array's checksum was verified, on this first
        // access or an earlier one, so the values are the ones written.)
        Ok(unsafe { std::slice::from_raw_parts(b.as_ptr().cast::<f64>(), b.len() / 8) })
    }

    /// Zero-copy view of an `f32` array. [`Error::Cache`] if missing, of another dtype, or
    /// if its checksum does not match (verified on the first access to each array).
    pub fn f32(&self, name: &str) -> Result<&[f32]> {
        let b = self.bytes_of(name, DType::F32)?;
        debug_assert!(
            (b.as_ptr() as usize).is_multiple_of(align_of::<f32>()) && b.len().is_multiple_of(4)
        );
        // SAFETY: as in `f64`: 64-byte aligned offset in a page-aligned map (so aligned for
        // f32), byte_len = 4 * elements within the map, every bit pattern is a valid f32,
        // little-endian target only, and the slice borrows `self` (and `bytes_of` verified
        // the array's checksum first).
        Ok(unsafe { std::slice::from_raw_parts(b.as_ptr().cast::<f32>(), b.len() / 4) })
    }

    /// Size of the file in bytes.
    pub fn byte_len(&self) -> usize {
        self.map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::checksum::checksum;
    use crate::cache::format::{ArrayRef, NamedArray};
    use crate::cache::write::write_cache;
    use std::fs;

    /// A flipped byte inside an array's checksum in the table of contents is caught by the
    /// header checksum; with the header checksum recomputed (a forged header), the array's
    /// data no longer matches and is refused on access.
    #[test]
    fn toc_checksum_field_is_protected_by_the_header_checksum() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("toc.oxc");
        let params = CacheParams {
            kernel: "k".into(),
            dim: 3,
            order: 2,
            precision: "f64".into(),
            alpha_inner: 1.05,
            alpha_outer: 2.95,
            tolerance: 1e-9,
            extra: vec![],
        };
        let a: Vec<f64> = (0..100).map(|i| (i as f64).sin()).collect();
        let b: Vec<f32> = (0..10).map(|i| i as f32 * 0.5).collect();
        let arrays = [
            NamedArray {
                name: "a",
                shape: vec![100],
                data: ArrayRef::F64(&a),
            },
            NamedArray {
                name: "b",
                shape: vec![10],
                data: ArrayRef::F32(&b),
            },
        ];
        write_cache(&path, &params, &arrays).unwrap();
        let good = fs::read(&path).unwrap();
        let stored = {
            let c = OperatorCache::open(&path, &params).unwrap();
            c.verify_all().unwrap();
            c.entries.iter().map(|e| e.checksum).collect::<Vec<u64>>()
        };
        let header_len = u32::from_le_bytes(good[12..16].try_into().unwrap()) as usize;
        let body_end = PREAMBLE + header_len - 8;
        for (k, sum) in stored.iter().enumerate() {
            // bincode's varint encoding of the stored checksum, found in the header.
            let enc = bincode::encode_to_vec(*sum, bincode::config::standard()).unwrap();
            let at: Vec<usize> = (PREAMBLE..body_end - enc.len() + 1)
                .filter(|&i| good[i..i + enc.len()] == enc[..])
                .collect();
            assert_eq!(at.len(), 1, "checksum of array {k} not found once");
            let i = at[0] + enc.len() - 1; // its last byte: still a valid varint when flipped
            let mut bad = good.clone();
            bad[i] ^= 0x01;
            fs::write(&path, &bad).unwrap();
            let e = OperatorCache::open(&path, &params).unwrap_err();
            assert!(e.to_string().contains("header checksum mismatch"), "{e}");

            // Forge the header checksum: the header is accepted, the array is not.
            let h = checksum(&bad[..body_end]);
            bad[body_end..body_end + 8].copy_from_slice(&h.to_le_bytes());
            fs::write(&path, &bad).unwrap();
            let c = OperatorCache::open(&path, &params).unwrap();
            let name = ["a", "b"][k];
            let e = match k {
                0 => c.f64(name).map(|_| ()).unwrap_err(),
                _ => c.f32(name).map(|_| ()).unwrap_err(),
            };
            assert!(
                e.to_string()
                    .contains(&format!("array {name:?} checksum mismatch")),
                "{e}"
            );
            assert!(c.verify_all().is_err());
        }
    }
}
