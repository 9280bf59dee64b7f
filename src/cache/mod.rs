//! The memory-mapped operator cache: named `f64`/`f32` arrays plus the parameters that
//! define them, stored once and read back in place, zero copy.
//!
//! # File format (version [`FORMAT_VERSION`])
//!
//! All integers are little-endian.
//!
//! | bytes | content |
//! |-------|---------|
//! | `0..8` | magic `b"OXIFMMOC"` |
//! | `8..12` | format version, `u32` |
//! | `12..16` | header length `H`, `u32` (encoded header plus its 8-byte checksum) |
//! | `16..16+H-8` | the header, encoded with bincode 2 (`bincode::config::standard()`) |
//! | `16+H-8..16+H` | header checksum, `u64`, over bytes `0..16+H-8` (preamble and header) |
//! | up to the next multiple of 64 | zero padding |
//! | payload | the arrays, raw little-endian, each at a 64-byte aligned offset, zero padded |
//!
//! The header holds the [`CacheParams`], a table of contents (per array: name, dtype, shape,
//! byte offset from the start of the payload, byte length, checksum) and the payload length.
//! The payload starts at `align64(16 + H)`; the file ends at the end of the payload, whose
//! length is a multiple of 64. The arrays are contiguous in table order: the first starts at
//! payload offset 0 and each next one at the end of the previous one rounded up to a multiple
//! of 64; the payload ends where the last array's padding ends.
//!
//! An array's *span* is its bytes plus the zero padding after it, up to the next multiple of
//! 64 (so the spans tile the payload exactly, and every payload byte lies in one span). The
//! array's checksum is the [`checksum`] of the concatenated little-endian `u64` checksums of
//! its span's consecutive 1 MiB blocks (the last block may be shorter; an empty span has no
//! blocks), so that one array can be verified by several threads.
//!
//! All checksums are XXH3-64 (seed 0, [`checksum`]; the `xxhash-rust` crate), which changes
//! with every single changed byte except with probability about `2^-64`. A changed byte is
//! found by the magic or version checks, by the
//! header checksum (preamble, header including every array checksum, and the stored header
//! checksum itself), by the zero-padding check after the header, or by the checksum of the
//! array whose span holds the byte (the byte changes one block's checksum, which changes one
//! word of the array checksum's input).
//!
//! Verification is split in two, so that opening costs O(header) whatever the file size:
//! [`OperatorCache::open`] checks the preamble, the header checksum, the parameters, the
//! file size and every array's offset, length and alignment, and maps the file without
//! reading the payload. Each array's checksum is verified the first time the array is handed
//! out ([`OperatorCache::f64`], [`OperatorCache::f32`]; once per array and open), or for all
//! arrays at once, in parallel, by [`OperatorCache::verify_all`]. Data whose checksum does not
//! match is never handed out. [`load_or_create`] opens and verifies every array before it
//! trusts a file ([`OperatorCache::verify`]), and rejects a file whose parameters differ
//! from the expected ones.
//!
//! # Verification stamps
//!
//! Checking every array costs a pass over the payload (17 ms for the 167 MB of p = 10 on
//! two cores), which would make every warm load grow with the order. So a full check that
//! passes records what it checked in a *stamp* file beside the cache (`.<name>.verified`, one
//! line: the header checksum, which covers every array checksum, and the file's device,
//! inode, length, modification and status-change times in nanoseconds). A later
//! [`OperatorCache::verify`] whose file (as it is at that moment) matches the stamp in all of
//! these takes the arrays as verified without reading them, so a warm load costs the same at
//! any order.
//!
//! The trust model is that of a local POSIX file system (ext4, xfs, btrfs, tmpfs, ...):
//! anything that changes the file through it (a write, a truncation, a replacement by
//! rename) moves its status-change time, which no user call sets back, or changes its
//! inode. A file changed within [`STAMP_MARGIN`] before its check is not stamped, since the
//! change time's granularity could hide a second change. Not covered: corruption below the
//! file system (bad media), which any memory-mapped or cached data is exposed to alike, and
//! file systems whose change times or inode numbers do not behave so (FAT and exFAT, some
//! network and FUSE file systems, or clocks skewed by more than the margin against a file
//! server). For those, set `OXIFMM_CACHE_STAMPS=0`: every load then checks every array and no
//! stamp is written. [`OperatorCache::verify_all`] checks every array whatever the stamp
//! says. Files
//! are only ever written to a temporary file in the same directory and renamed into place
//! ([`write_cache`], through [`crate::fs::write_atomic`]), so a reader never sees half a file and concurrent writers of the same
//! cache end with one valid file.
//!
//! Zero-copy views need a little-endian target: on a big-endian target
//! [`OperatorCache::open`] returns [`Error::Cache`](crate::Error::Cache) (writing works everywhere).
//!
//! # HDF5 interchange (feature `hdf5`)
//!
//! `export_hdf5` writes, and `import_hdf5` reads, this layout:
//!
//! ```text
//! /                       attributes: format = "oxifmm-operators" (UTF-8 string),
//!                         format_version (u32, HDF5_FORMAT_VERSION),
//!                         kernel (string), dim (u32), order (u32), precision (string),
//!                         alpha_inner, alpha_outer, tolerance (f64)
//! /params_extra/names     1-D dataset of UTF-8 strings: the names of CacheParams::extra, in order
//! /params_extra/values    1-D f64 dataset of the same length: their values
//! /operators/<name>       one dataset per array, with the array's shape and native dtype
//!                         (float64 or float32); attribute `index` (u32) is its position in the
//!                         cache's table of contents
//! ```
//!
//! Array names must therefore not contain `/` to be exported.

mod checksum;
mod format;
#[cfg(feature = "hdf5")]
mod hdf5;
mod load;
mod location;
mod mapped;
mod params;
mod stamp;
mod write;

pub use checksum::checksum;
pub use format::{ArrayRef, FORMAT_VERSION, NamedArray, OwnedArray, OwnedData};
#[cfg(feature = "hdf5")]
pub use hdf5::{HDF5_FORMAT_VERSION, export_hdf5, import_hdf5, import_hdf5_into};
pub use load::{CacheOutcome, load_or_create};
pub(crate) use load::{LoadTimes, load_or_create_timed, open_verified};
pub use location::{CacheMode, default_cache_dir};
pub use mapped::{OperatorCache, Verified};
pub use params::CacheParams;
pub use stamp::{STAMP_MARGIN, stamp_path};
pub use write::write_cache;
