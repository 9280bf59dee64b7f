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
//! All checksums are a 64-bit multiply-rotate hash with four independent lanes of 8 bytes
//! (in the style of xxHash64, not compatible with it; see [`checksum`]). Any single changed
//! byte anywhere in the file is always detected: by the magic or version checks, by the
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
//! ([`write_cache`]), so a reader never sees half a file and concurrent writers of the same
//! cache end with one valid file.
//!
//! Zero-copy views need a little-endian target: on a big-endian target
//! [`OperatorCache::open`] returns [`Error::Cache`] (writing works everywhere).
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

use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bincode::{Decode, Encode};
use memmap2::{Mmap, MmapOptions};
use rayon::prelude::*;

use crate::error::{Error, Result};

/// Version of the memory-mapped file format written and read by this build.
///
/// Version 2: per-array checksums in the table of contents (verified lazily) instead of one
/// payload checksum; arrays contiguous in table order.
pub const FORMAT_VERSION: u32 = 2;

const MAGIC: [u8; 8] = *b"OXIFMMOC";
const PREAMBLE: usize = 16;
const ALIGN: usize = 64;
/// Largest header the decoder accepts (bincode allocation limit).
const HEADER_LIMIT: usize = 64 << 20;

/// Every parameter that defines a set of operators. Equality of all fields = same operators.
#[derive(Clone, Debug, PartialEq, Encode, Decode)]
pub struct CacheParams {
    /// Kernel name, e.g. `"laplace"`.
    pub kernel: String,
    /// Spatial dimension.
    pub dim: u32,
    /// Expansion order.
    pub order: u32,
    /// `"f32"` or `"f64"`.
    pub precision: String,
    /// Radius factor of the inner check/equivalent surface.
    pub alpha_inner: f64,
    /// Radius factor of the outer check/equivalent surface.
    pub alpha_outer: f64,
    /// Compression (pseudo-inverse / SVD truncation) tolerance.
    pub tolerance: f64,
    /// Further parameters that define the operators (e.g. tree depth), in a fixed order.
    pub extra: Vec<(String, f64)>,
}

impl CacheParams {
    /// A deterministic, readable file name for these parameters:
    /// `<kernel>-d<dim>-p<order>-<precision>-<16 hex digits>.oxc`, where the hex digits are a
    /// hash of all fields (and of [`FORMAT_VERSION`]), so different parameters get different
    /// files. Characters of `kernel`/`precision` outside `[A-Za-z0-9_]` become `_`.
    pub fn file_name(&self) -> String {
        let mut h = Hasher::new(0);
        h.update(&MAGIC);
        h.update(&FORMAT_VERSION.to_le_bytes());
        match bincode::encode_to_vec(self, bincode::config::standard()) {
            Ok(bytes) => h.update(&bytes),
            // Encoding into a Vec cannot fail for these field types; hash the debug form
            // as a deterministic fallback all the same.
            Err(_) => h.update(format!("{self:?}").as_bytes()),
        }
        format!(
            "{}-d{}-p{}-{}-{:016x}.oxc",
            sanitize(&self.kernel),
            self.dim,
            self.order,
            sanitize(&self.precision),
            h.finish()
        )
    }

    /// Names the first field that differs from `other`, e.g. `order is 6, expected 8`.
    fn describe_difference(&self, expected: &CacheParams) -> String {
        let mut diffs = Vec::new();
        if self.kernel != expected.kernel {
            diffs.push(format!(
                "kernel is {:?}, expected {:?}",
                self.kernel, expected.kernel
            ));
        }
        if self.dim != expected.dim {
            diffs.push(format!("dim is {}, expected {}", self.dim, expected.dim));
        }
        if self.order != expected.order {
            diffs.push(format!(
                "order is {}, expected {}",
                self.order, expected.order
            ));
        }
        if self.precision != expected.precision {
            diffs.push(format!(
                "precision is {:?}, expected {:?}",
                self.precision, expected.precision
            ));
        }
        for (name, a, b) in [
            ("alpha_inner", self.alpha_inner, expected.alpha_inner),
            ("alpha_outer", self.alpha_outer, expected.alpha_outer),
            ("tolerance", self.tolerance, expected.tolerance),
        ] {
            if a != b {
                diffs.push(format!("{name} is {a:e}, expected {b:e}"));
            }
        }
        if self.extra != expected.extra {
            diffs.push(format!(
                "extra is {:?}, expected {:?}",
                self.extra, expected.extra
            ));
        }
        if diffs.is_empty() {
            diffs.push("parameters compare unequal (NaN?)".to_string());
        }
        format!("parameters differ: {}", diffs.join("; "))
    }
}

fn sanitize(s: &str) -> String {
    let out: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() { "_".to_string() } else { out }
}

/// A borrowed array's data.
#[derive(Clone, Copy, Debug)]
pub enum ArrayRef<'a> {
    /// Double precision data.
    F64(&'a [f64]),
    /// Single precision data.
    F32(&'a [f32]),
}

impl ArrayRef<'_> {
    fn len(&self) -> usize {
        match self {
            ArrayRef::F64(d) => d.len(),
            ArrayRef::F32(d) => d.len(),
        }
    }
    fn dtype(&self) -> DType {
        match self {
            ArrayRef::F64(_) => DType::F64,
            ArrayRef::F32(_) => DType::F32,
        }
    }
}

/// A borrowed named array with its shape (row-major; the product of `shape` is the length).
#[derive(Clone, Debug)]
pub struct NamedArray<'a> {
    /// Unique, non-empty name.
    pub name: &'a str,
    /// Shape, row-major. `[]` is a scalar (one element).
    pub shape: Vec<usize>,
    /// The data.
    pub data: ArrayRef<'a>,
}

/// An owned array's data.
#[derive(Clone, Debug, PartialEq)]
pub enum OwnedData {
    /// Double precision data.
    F64(Vec<f64>),
    /// Single precision data.
    F32(Vec<f32>),
}

/// An owned named array, as returned by the `compute` closure of [`load_or_create`].
#[derive(Clone, Debug, PartialEq)]
pub struct OwnedArray {
    /// Unique, non-empty name.
    pub name: String,
    /// Shape, row-major. `[]` is a scalar (one element).
    pub shape: Vec<usize>,
    /// The data.
    pub data: OwnedData,
}

impl OwnedArray {
    /// A borrowed view, for [`write_cache`].
    pub fn view(&self) -> NamedArray<'_> {
        NamedArray {
            name: &self.name,
            shape: self.shape.clone(),
            data: match &self.data {
                OwnedData::F64(d) => ArrayRef::F64(d),
                OwnedData::F32(d) => ArrayRef::F32(d),
            },
        }
    }
}

/// What [`load_or_create`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CacheOutcome {
    /// A valid cache file was found and opened.
    Loaded,
    /// No cache file existed; the operators were computed and written.
    Created,
    /// A cache file existed but could not be used; it was recomputed and replaced.
    Replaced {
        /// Why the existing file was rejected.
        reason: String,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
enum DType {
    F64,
    F32,
}

impl DType {
    fn size(self) -> usize {
        match self {
            DType::F64 => 8,
            DType::F32 => 4,
        }
    }
    fn name(self) -> &'static str {
        match self {
            DType::F64 => "f64",
            DType::F32 => "f32",
        }
    }
}

#[derive(Debug, Encode, Decode)]
struct TocEntry {
    name: String,
    dtype: DType,
    shape: Vec<u64>,
    /// Byte offset from the start of the payload.
    offset: u64,
    byte_len: u64,
    /// [`array_checksum`] of the array's span (its bytes and the padding after them).
    checksum: u64,
}

#[derive(Debug, Encode, Decode)]
struct Header {
    params: CacheParams,
    toc: Vec<TocEntry>,
    payload_len: u64,
}

/// A validated array entry: offsets are absolute within the file.
#[derive(Debug)]
struct Entry {
    name: String,
    dtype: DType,
    shape: Vec<usize>,
    offset: usize,
    byte_len: usize,
    /// Stored checksum of the span `offset..offset + align_up(byte_len)`.
    checksum: u64,
    /// Set once the span's checksum has been computed: whether it matched `checksum`.
    verified: OnceLock<bool>,
}

#[inline(always)]
fn align_up(x: usize) -> usize {
    x.div_ceil(ALIGN) * ALIGN
}

// ---------------------------------------------------------------------------------------
// Checksum
// ---------------------------------------------------------------------------------------

const P1: u64 = 0x9E37_79B1_85EB_CA87;
const P2: u64 = 0xC2B2_AE3D_27D4_EB4F;
const P3: u64 = 0x1656_67B1_9E37_79F9;

#[inline(always)]
fn round(acc: u64, w: u64) -> u64 {
    // Bijective in `acc` for fixed `w` and in `w` for fixed `acc` (odd multipliers,
    // addition and rotation are all invertible), so one changed word always changes the lane.
    acc.wrapping_add(w.wrapping_mul(P2))
        .rotate_left(31)
        .wrapping_mul(P1)
}

#[inline(always)]
fn word(b: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[..8]);
    u64::from_le_bytes(w)
}

/// Streaming 64-bit hash: four independent lanes of 8 bytes each (32-byte stripes), so the
/// multiply chains overlap; the lanes are combined by an injective sum, the tail words are
/// folded in with the same bijective round, and the result goes through a bijective
/// avalanche. Hence any change confined to one 8-byte word always changes the hash.
struct Hasher {
    lanes: [u64; 4],
    buf: [u8; 32],
    buf_len: usize,
    total: u64,
}

impl Hasher {
    fn new(seed: u64) -> Self {
        Hasher {
            lanes: [
                seed.wrapping_add(P1).wrapping_add(P2),
                seed.wrapping_add(P2),
                seed,
                seed.wrapping_sub(P1),
            ],
            buf: [0; 32],
            buf_len: 0,
            total: 0,
        }
    }

    #[inline(always)]
    fn stripe(lanes: &mut [u64; 4], s: &[u8]) {
        lanes[0] = round(lanes[0], word(&s[0..]));
        lanes[1] = round(lanes[1], word(&s[8..]));
        lanes[2] = round(lanes[2], word(&s[16..]));
        lanes[3] = round(lanes[3], word(&s[24..]));
    }

    fn update(&mut self, mut data: &[u8]) {
        self.total = self.total.wrapping_add(data.len() as u64);
        if self.buf_len > 0 {
            let take = (32 - self.buf_len).min(data.len());
            self.buf[self.buf_len..self.buf_len + take].copy_from_slice(&data[..take]);
            self.buf_len += take;
            data = &data[take..];
            if self.buf_len < 32 {
                return;
            }
            let buf = self.buf;
            Self::stripe(&mut self.lanes, &buf);
            self.buf_len = 0;
        }
        let mut lanes = self.lanes;
        let mut chunks = data.chunks_exact(32);
        for s in &mut chunks {
            Self::stripe(&mut lanes, s);
        }
        self.lanes = lanes;
        let rest = chunks.remainder();
        self.buf[..rest.len()].copy_from_slice(rest);
        self.buf_len = rest.len();
    }

    fn finish(&self) -> u64 {
        let [a, b, c, d] = self.lanes;
        let mut h = a
            .rotate_left(1)
            .wrapping_add(b.rotate_left(7))
            .wrapping_add(c.rotate_left(12))
            .wrapping_add(d.rotate_left(18))
            .wrapping_add(self.total);
        let tail = &self.buf[..self.buf_len];
        let mut words = tail.chunks_exact(8);
        for w in &mut words {
            h = round(h, word(w));
        }
        let rest = words.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            h = round(h, u64::from_le_bytes(w));
        }
        h ^= h >> 33;
        h = h.wrapping_mul(P2);
        h ^= h >> 29;
        h = h.wrapping_mul(P3);
        h ^= h >> 32;
        h
    }
}

/// The 64-bit checksum used for cache headers and arrays (see the module docs):
/// deterministic across platforms, about one multiply per 4 bytes.
pub fn checksum(bytes: &[u8]) -> u64 {
    let mut h = Hasher::new(0);
    h.update(bytes);
    h.finish()
}

/// Block size of [`array_checksum`] (part of the file format).
const BLOCK: usize = 1 << 20;

/// Checksum of an array's span: [`checksum`] of the little-endian concatenation of the
/// checksums of its consecutive [`BLOCK`]-byte blocks (the last one may be shorter). The
/// blocks are hashed in parallel. Equal to what [`BlockHasher`] computes from a stream.
fn array_checksum(span: &[u8]) -> u64 {
    let blocks: Vec<u64> = if span.len() <= BLOCK {
        span.chunks(BLOCK).map(checksum).collect()
    } else {
        span.par_chunks(BLOCK).map(checksum).collect()
    };
    let mut h = Hasher::new(0);
    for b in blocks {
        h.update(&b.to_le_bytes());
    }
    h.finish()
}

/// Streaming form of [`array_checksum`], for the writer.
struct BlockHasher {
    outer: Hasher,
    block: Hasher,
    in_block: usize,
}

impl BlockHasher {
    fn new() -> Self {
        BlockHasher {
            outer: Hasher::new(0),
            block: Hasher::new(0),
            in_block: 0,
        }
    }

    fn update(&mut self, mut data: &[u8]) {
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
        let b = std::mem::replace(&mut self.block, Hasher::new(0)).finish();
        self.outer.update(&b.to_le_bytes());
        self.in_block = 0;
    }

    fn finish(mut self) -> u64 {
        if self.in_block > 0 {
            self.end_block();
        }
        self.outer.finish()
    }
}

// ---------------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------------

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A unique temporary path next to `path`: `.<name>.<pid>-<thread>-<counter>.tmp<suffix>`.
fn temp_path(path: &Path, suffix: &str) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "cache".to_string());
    let thread: String = format!("{:?}", std::thread::current().id())
        .chars()
        .filter(|c| c.is_ascii_digit())
        .collect();
    let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let tmp = format!(".{name}.{}-{thread}-{n}.tmp{suffix}", std::process::id());
    match path.parent() {
        Some(p) => p.join(tmp),
        None => PathBuf::from(tmp),
    }
}

/// Removes the temporary file on drop unless disarmed.
struct TempGuard {
    path: PathBuf,
    armed: bool,
}

impl Drop for TempGuard {
    fn drop(&mut self) {
        if self.armed {
            let _ = fs::remove_file(&self.path);
        }
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn create_parent(path: &Path) -> Result<()> {
    if let Some(parent) = path.parent()
        && !parent.as_os_str().is_empty()
    {
        fs::create_dir_all(parent).map_err(io_err(parent))?;
    }
    Ok(())
}

/// Renames `tmp` onto `path` and syncs the directory (best effort).
fn commit_temp(guard: &mut TempGuard, path: &Path) -> Result<()> {
    fs::rename(&guard.path, path).map_err(io_err(path))?;
    guard.armed = false;
    #[cfg(unix)]
    if let Some(parent) = path.parent() {
        let dir = if parent.as_os_str().is_empty() {
            Path::new(".")
        } else {
            parent
        };
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

/// Feeds one array's span (its values as little-endian bytes, then zero padding up to the
/// next multiple of 64 bytes) to `sink`, in chunks, using `buf` as scratch.
fn for_each_span_chunk(
    a: &NamedArray,
    buf: &mut Vec<u8>,
    mut sink: impl FnMut(&[u8]) -> Result<()>,
) -> Result<()> {
    const CHUNK: usize = 8192;
    let zeros = [0u8; ALIGN];
    let bytes = match a.data {
        ArrayRef::F64(d) => {
            for c in d.chunks(CHUNK) {
                buf.clear();
                buf.extend(c.iter().flat_map(|x| x.to_le_bytes()));
                sink(buf)?;
            }
            d.len() * 8
        }
        ArrayRef::F32(d) => {
            for c in d.chunks(CHUNK) {
                buf.clear();
                buf.extend(c.iter().flat_map(|x| x.to_le_bytes()));
                sink(buf)?;
            }
            d.len() * 4
        }
    };
    let pad = align_up(bytes) - bytes;
    if pad > 0 {
        sink(&zeros[..pad])?;
    }
    Ok(())
}

fn check_arrays(arrays: &[NamedArray]) -> Result<()> {
    let bad = |reason: String| Error::InvalidParameter {
        name: "arrays",
        reason,
    };
    let mut names = std::collections::HashSet::new();
    for a in arrays {
        if a.name.is_empty() {
            return Err(bad("an array has an empty name".into()));
        }
        if !names.insert(a.name) {
            return Err(bad(format!("array name {:?} appears twice", a.name)));
        }
        let n = a
            .shape
            .iter()
            .try_fold(1usize, |acc, &s| acc.checked_mul(s))
            .ok_or_else(|| bad(format!("shape of {:?} overflows", a.name)))?;
        if n != a.data.len() {
            return Err(bad(format!(
                "array {:?} has shape {:?} ({n} elements) but {} values",
                a.name,
                a.shape,
                a.data.len()
            )));
        }
    }
    Ok(())
}

/// Writes a cache file atomically: to a uniquely named temporary file in the same directory
/// (process id, thread id and a counter), fsynced, then renamed onto `path`. Creates missing
/// parent directories. On failure the temporary file is removed and `path` is untouched.
///
/// Errors: [`Error::InvalidParameter`] for empty or duplicate names or a shape that does not
/// match the data length; [`Error::Io`] for file system failures.
pub fn write_cache(path: &Path, params: &CacheParams, arrays: &[NamedArray]) -> Result<()> {
    check_arrays(arrays)?;

    // Layout: offsets relative to the payload start, each 64-byte aligned.
    // Each array's checksum is computed from the same byte stream that is written below.
    let mut toc = Vec::with_capacity(arrays.len());
    let mut offset = 0usize;
    let mut buf = Vec::new();
    for a in arrays {
        let byte_len = a.data.len() * a.data.dtype().size();
        let mut hasher = BlockHasher::new();
        for_each_span_chunk(a, &mut buf, |b| {
            hasher.update(b);
            Ok(())
        })?;
        toc.push(TocEntry {
            name: a.name.to_string(),
            dtype: a.data.dtype(),
            shape: a.shape.iter().map(|&s| s as u64).collect(),
            offset: offset as u64,
            byte_len: byte_len as u64,
            checksum: hasher.finish(),
        });
        offset = align_up(offset + byte_len);
    }
    let payload_len = offset;

    let header = Header {
        params: params.clone(),
        toc,
        payload_len: payload_len as u64,
    };
    let encoded =
        bincode::encode_to_vec(&header, bincode::config::standard()).map_err(|e| Error::Cache {
            path: path.to_path_buf(),
            reason: format!("cannot encode header: {e}"),
        })?;
    let header_len = encoded.len() + 8;
    let header_len_u32 = u32::try_from(header_len).map_err(|_| Error::Cache {
        path: path.to_path_buf(),
        reason: format!("header of {header_len} bytes is too large"),
    })?;
    let mut head = Vec::with_capacity(PREAMBLE + header_len + ALIGN);
    head.extend_from_slice(&MAGIC);
    head.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    head.extend_from_slice(&header_len_u32.to_le_bytes());
    head.extend_from_slice(&encoded);
    let header_checksum = checksum(&head);
    head.extend_from_slice(&header_checksum.to_le_bytes());
    head.resize(align_up(head.len()), 0);

    create_parent(path)?;
    let tmp = temp_path(path, "");
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .map_err(io_err(&tmp))?;
    let mut guard = TempGuard {
        path: tmp,
        armed: true,
    };
    let tmp = guard.path.clone();
    let mut w = BufWriter::with_capacity(1 << 20, file);
    w.write_all(&head).map_err(io_err(&tmp))?;
    for a in arrays {
        for_each_span_chunk(a, &mut buf, |b| w.write_all(b).map_err(io_err(&tmp)))?;
    }
    let file = w.into_inner().map_err(|e| io_err(&tmp)(e.into_error()))?;
    file.sync_all().map_err(io_err(&tmp))?;
    drop(file);
    commit_temp(&mut guard, path)?;
    // A stamp of the replaced file no longer matches (new inode); remove it as clutter.
    let _ = fs::remove_file(stamp_path(path));
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------------------

/// How [`OperatorCache::verify`] established that every array is intact.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verified {
    /// A verification stamp written after an earlier full check matched the file's header
    /// checksum, identity and change times: the payload was not read.
    ByStamp,
    /// Every array's checksum was computed and matched.
    ByChecksums,
}

/// A file must have been last changed at least this long before a full verification for
/// the verification to be stamped. File systems record change times at a coarse granularity
/// (a kernel tick, or up to 2 s on some), so a file changed just after the check could keep
/// the change time the check saw; with this margin any later change moves the change time
/// past the stamped one.
pub const STAMP_MARGIN: Duration = Duration::from_secs(3);

/// The identity of one version of a cache file: its header checksum (which covers every
/// array checksum), device and inode, length, and modification and status-change times in
/// nanoseconds. On a local POSIX file system any write to the file changes the change time
/// (which no user call sets back) and a replacement by rename changes the inode (see the
/// module docs for where this does not hold).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Stamp {
    header_checksum: u64,
    dev: u64,
    ino: u64,
    len: u64,
    mtime_ns: i128,
    ctime_ns: i128,
}

impl Stamp {
    #[cfg(unix)]
    fn of(meta: &fs::Metadata, header_checksum: u64) -> Option<Stamp> {
        use std::os::unix::fs::MetadataExt;
        let ns = |s: i64, n: i64| s as i128 * 1_000_000_000 + n as i128;
        Some(Stamp {
            header_checksum,
            dev: meta.dev(),
            ino: meta.ino(),
            len: meta.len(),
            mtime_ns: ns(meta.mtime(), meta.mtime_nsec()),
            ctime_ns: ns(meta.ctime(), meta.ctime_nsec()),
        })
    }

    /// No stamps where the file system identity is not available: always verify.
    #[cfg(not(unix))]
    fn of(_meta: &fs::Metadata, _header_checksum: u64) -> Option<Stamp> {
        None
    }

    /// Whether a verification started at `started` may be stamped: the file's last change
    /// (and modification) lies at least [`STAMP_MARGIN`] before it.
    fn settled_at(&self, started: std::time::SystemTime) -> bool {
        let Ok(now) = started.duration_since(std::time::UNIX_EPOCH) else {
            return false;
        };
        let limit = now.as_nanos() as i128 - STAMP_MARGIN.as_nanos() as i128;
        self.ctime_ns <= limit && self.mtime_ns <= limit
    }

    fn encode(&self) -> String {
        format!(
            "{STAMP_MAGIC} {:016x} {} {} {} {} {}\n",
            self.header_checksum, self.dev, self.ino, self.len, self.mtime_ns, self.ctime_ns
        )
    }

    fn decode(text: &str) -> Option<Stamp> {
        let mut f = text.strip_suffix('\n')?.split(' ');
        if f.next()? != STAMP_MAGIC {
            return None;
        }
        let stamp = Stamp {
            header_checksum: u64::from_str_radix(f.next()?, 16).ok()?,
            dev: f.next()?.parse().ok()?,
            ino: f.next()?.parse().ok()?,
            len: f.next()?.parse().ok()?,
            mtime_ns: f.next()?.parse().ok()?,
            ctime_ns: f.next()?.parse().ok()?,
        };
        f.next().is_none().then_some(stamp)
    }
}

/// Whether verification stamps are used: yes unless `OXIFMM_CACHE_STAMPS` is `0` (then every
/// load checks every array, and no stamp is written).
fn stamps_enabled() -> bool {
    std::env::var_os("OXIFMM_CACHE_STAMPS").is_none_or(|v| v != "0")
}

/// First word of a stamp file (names the format and its version).
const STAMP_MAGIC: &str = "oxifmm-verified-v1";

/// The stamp file of a cache file: `.<name>.verified` beside it.
pub fn stamp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "cache".to_string());
    path.with_file_name(format!(".{name}.verified"))
}

/// The stamp stored for `path`, if there is a readable, well-formed one.
fn read_stamp(path: &Path) -> Option<Stamp> {
    let text = fs::read(stamp_path(path)).ok()?;
    if text.len() > 256 {
        return None;
    }
    Stamp::decode(std::str::from_utf8(&text).ok()?)
}

/// Writes the stamp atomically (temporary file and rename); failures are ignored.
fn write_stamp(path: &Path, stamp: &Stamp) {
    let target = stamp_path(path);
    let tmp = temp_path(&target, "");
    let mut guard = TempGuard {
        path: tmp.clone(),
        armed: true,
    };
    if fs::write(&tmp, stamp.encode()).is_ok() && fs::rename(&tmp, &target).is_ok() {
        guard.armed = false;
    }
}

/// A memory-mapped cache file, validated on open. Array views borrow from the map.
pub struct OperatorCache {
    map: Mmap,
    params: CacheParams,
    entries: Vec<Entry>,
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

/// Validates a cache image's preamble, header and layout (not the array data, which is
/// checked per array by [`OperatorCache::verify_entry`]); reads only the first `16 + H`
/// bytes (plus the padding after them) of `bytes`, whatever its length. Returns the params
/// and absolute array entries.
fn validate(
    bytes: &[u8],
    expected: &CacheParams,
) -> Result<(CacheParams, Vec<Entry>, u64), String> {
    let len = bytes.len();
    if len < PREAMBLE {
        return Err(format!(
            "truncated: file has {len} bytes, less than the {PREAMBLE}-byte preamble"
        ));
    }
    if bytes[0..8] != MAGIC {
        return Err("bad magic: not an oxifmm operator cache".to_string());
    }
    let version = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
    if version != FORMAT_VERSION {
        return Err(format!(
            "format version is {version}, this build reads version {FORMAT_VERSION}"
        ));
    }
    let header_len = u32::from_le_bytes([bytes[12], bytes[13], bytes[14], bytes[15]]) as usize;
    if header_len < 8 {
        return Err(format!("header length {header_len} is too small"));
    }
    let header_end = PREAMBLE + header_len;
    if header_end > len {
        return Err(format!(
            "truncated: header ends at byte {header_end}, file has {len} bytes"
        ));
    }
    let body_end = header_end - 8;
    let stored = word(&bytes[body_end..header_end]);
    if checksum(&bytes[..body_end]) != stored {
        return Err("header checksum mismatch: header is corrupt".to_string());
    }
    let config = bincode::config::standard().with_limit::<HEADER_LIMIT>();
    let (header, used): (Header, usize) =
        bincode::decode_from_slice(&bytes[PREAMBLE..body_end], config)
            .map_err(|e| format!("header does not decode: {e}"))?;
    if used != body_end - PREAMBLE {
        return Err(format!(
            "header has {} trailing bytes",
            body_end - PREAMBLE - used
        ));
    }
    if header.params != *expected {
        return Err(header.params.describe_difference(expected));
    }
    let payload_start = align_up(header_end);
    let file_len = usize::try_from(header.payload_len)
        .ok()
        .and_then(|p| p.checked_add(payload_start))
        .ok_or_else(|| format!("payload length {} is out of range", header.payload_len))?;
    if file_len > len {
        return Err(format!(
            "truncated: file has {len} bytes, header says {file_len}"
        ));
    }
    if file_len < len {
        return Err(format!(
            "file has {len} bytes, header says {file_len} (trailing data)"
        ));
    }
    if payload_start > len || bytes[header_end..payload_start].iter().any(|&b| b != 0) {
        return Err("padding after the header is not zero".to_string());
    }
    if !header.payload_len.is_multiple_of(ALIGN as u64) {
        return Err(format!(
            "payload length {} is not a multiple of {ALIGN}",
            header.payload_len
        ));
    }
    let mut entries = Vec::with_capacity(header.toc.len());
    let mut names = std::collections::HashSet::new();
    // Where the next array must start: the spans tile the payload.
    let mut next = payload_start;
    for t in header.toc {
        if t.name.is_empty() || !names.insert(t.name.clone()) {
            return Err(format!("array name {:?} is empty or repeated", t.name));
        }
        let shape: Vec<usize> = t
            .shape
            .iter()
            .map(|&s| usize::try_from(s).ok())
            .collect::<Option<_>>()
            .ok_or_else(|| format!("array {:?}: shape {:?} out of range", t.name, t.shape))?;
        let byte_len = shape
            .iter()
            .try_fold(t.dtype.size(), |acc, &s| acc.checked_mul(s))
            .ok_or_else(|| format!("array {:?}: shape {:?} overflows", t.name, shape))?;
        if t.byte_len != byte_len as u64 {
            return Err(format!(
                "array {:?}: byte length {} does not match shape {:?} of {}",
                t.name,
                t.byte_len,
                shape,
                t.dtype.name()
            ));
        }
        let offset = usize::try_from(t.offset)
            .ok()
            .and_then(|o| o.checked_add(payload_start))
            .ok_or_else(|| format!("array {:?}: offset {} out of range", t.name, t.offset))?;
        if !offset.is_multiple_of(ALIGN) {
            return Err(format!(
                "array {:?}: offset {offset} is not {ALIGN}-byte aligned",
                t.name
            ));
        }
        if offset != next {
            return Err(format!(
                "array {:?}: offset {offset} is not where the previous array ends ({next})",
                t.name
            ));
        }
        // Span end: offset is a multiple of 64, so this cannot overflow if the sum fits.
        let span_end = offset
            .checked_add(byte_len)
            .and_then(|e| e.checked_add(ALIGN - 1))
            .map(|e| e / ALIGN * ALIGN)
            .filter(|&e| e <= file_len)
            .ok_or_else(|| {
                format!(
                    "array {:?}: bytes {offset}..{offset}+{byte_len} lie outside the {file_len}-byte file",
                    t.name
                )
            })?;
        next = span_end;
        entries.push(Entry {
            name: t.name,
            dtype: t.dtype,
            shape,
            offset,
            byte_len,
            checksum: t.checksum,
            verified: OnceLock::new(),
        });
    }
    if next != file_len {
        return Err(format!(
            "payload length {} does not match the arrays, which end at payload byte {}",
            header.payload_len,
            next - payload_start
        ));
    }
    Ok((header.params, entries, stored))
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
    /// is known to be intact ([`load_or_create`] calls [`Self::verify`]).
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
        let file = File::open(path).map_err(io_err(path))?;
        let meta = file.metadata().map_err(io_err(path))?;
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
        let map = unsafe { MmapOptions::new().map(&file) }.map_err(io_err(path))?;
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
    /// was last changed more than [`STAMP_MARGIN`] before, the stamp is written (best effort:
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

/// Loads the cache at `path` if it is valid for `params` ([`OperatorCache::open`] and
/// [`OperatorCache::verify`] both succeed); otherwise computes the arrays with `compute`,
/// writes them atomically ([`write_cache`]) and opens (and verifies) the written file.
///
/// When an existing file cannot be used, the reason is returned in
/// [`CacheOutcome::Replaced`] and printed as a one-line warning on stderr, and the file is
/// replaced. Concurrent callers on the same path (threads or processes) may both compute;
/// each ends with a valid cache, and one valid file remains.
///
/// Errors: whatever `compute` returns, and the errors of [`write_cache`],
/// [`OperatorCache::open`] and [`OperatorCache::verify`] for the newly written file.
pub fn load_or_create(
    path: &Path,
    params: &CacheParams,
    compute: impl FnOnce() -> Result<Vec<OwnedArray>>,
) -> Result<(OperatorCache, CacheOutcome)> {
    load_or_create_timed(path, params, compute).map(|(c, o, _)| (c, o))
}

/// Time [`load_or_create_timed`] spent opening (header validation) and verifying (array
/// checksums, or the stamp) the existing file, or the written one.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct LoadTimes {
    pub(crate) open: Duration,
    pub(crate) verify: Duration,
    /// Whether the verification trusted a stamp instead of reading the arrays.
    pub(crate) by_stamp: bool,
}

/// [`load_or_create`], also returning how long opening and verification took.
pub(crate) fn load_or_create_timed(
    path: &Path,
    params: &CacheParams,
    compute: impl FnOnce() -> Result<Vec<OwnedArray>>,
) -> Result<(OperatorCache, CacheOutcome, LoadTimes)> {
    let mut times = LoadTimes::default();
    let outcome = match open_verified(path, params, &mut times) {
        Ok(cache) => return Ok((cache, CacheOutcome::Loaded, times)),
        Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            CacheOutcome::Created
        }
        Err(e) => {
            let reason = match e {
                Error::Cache { reason, .. } => reason,
                other => other.to_string(),
            };
            eprintln!(
                "oxifmm: warning: operator cache {} is unusable ({reason}); recomputing",
                path.display()
            );
            CacheOutcome::Replaced { reason }
        }
    };
    let arrays = compute()?;
    let views: Vec<NamedArray> = arrays.iter().map(OwnedArray::view).collect();
    write_cache(path, params, &views)?;
    drop(views);
    drop(arrays);
    let mut times = LoadTimes::default();
    let cache = open_verified(path, params, &mut times)?;
    Ok((cache, outcome, times))
}

/// [`OperatorCache::open`] then [`OperatorCache::verify`], adding the time of each to
/// `times`.
pub(crate) fn open_verified(
    path: &Path,
    params: &CacheParams,
    times: &mut LoadTimes,
) -> Result<OperatorCache> {
    let t0 = Instant::now();
    let opened = OperatorCache::open(path, params);
    times.open += t0.elapsed();
    let cache = opened?;
    let t0 = Instant::now();
    let verified = cache.verify();
    times.verify += t0.elapsed();
    times.by_stamp = matches!(verified, Ok(Verified::ByStamp));
    verified.map(|_| cache)
}

/// The directory for cache files: `$OXIFMM_CACHE_DIR` if set (and non-empty), else
/// `$XDG_CACHE_HOME/oxifmm` (if set to an absolute path), else `$HOME/.cache/oxifmm`, else
/// `std::env::temp_dir()/oxifmm`.
pub fn default_cache_dir() -> PathBuf {
    let var = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(d) = var("OXIFMM_CACHE_DIR") {
        return d;
    }
    if let Some(d) = var("XDG_CACHE_HOME").filter(|d| d.is_absolute()) {
        return d.join("oxifmm");
    }
    if let Some(h) = var("HOME") {
        return h.join(".cache").join("oxifmm");
    }
    std::env::temp_dir().join("oxifmm")
}

// ---------------------------------------------------------------------------------------
// HDF5
// ---------------------------------------------------------------------------------------

/// Version of the HDF5 layout described in the module docs (root attribute `format_version`).
#[cfg(feature = "hdf5")]
pub const HDF5_FORMAT_VERSION: u32 = 1;

#[cfg(feature = "hdf5")]
const HDF5_FORMAT: &str = "oxifmm-operators";

#[cfg(feature = "hdf5")]
fn h5err(path: &Path, what: impl std::fmt::Display) -> impl Fn(hdf5::Error) -> Error + '_ {
    let what = what.to_string();
    move |e| Error::Hdf5 {
        path: path.to_path_buf(),
        reason: format!("{what}: {e}"),
    }
}

#[cfg(feature = "hdf5")]
fn write_hdf5_contents(cache: &OperatorCache, tmp: &Path) -> Result<()> {
    use hdf5::types::VarLenUnicode;
    let vlu = |s: &str| -> Result<VarLenUnicode> {
        s.parse().map_err(|e| Error::Hdf5 {
            path: tmp.to_path_buf(),
            reason: format!("string {s:?} cannot be stored: {e}"),
        })
    };
    let file = hdf5::File::create(tmp).map_err(h5err(tmp, "cannot create file"))?;
    let p = cache.params();
    let str_attr = |name: &str, value: &str| -> Result<()> {
        let a = file
            .new_attr::<VarLenUnicode>()
            .shape(())
            .create(name)
            .map_err(h5err(tmp, format!("attribute {name}")))?;
        a.write_scalar(&vlu(value)?)
            .map_err(h5err(tmp, format!("attribute {name}")))
    };
    let u32_attr = |name: &str, value: u32| -> Result<()> {
        let a = file
            .new_attr::<u32>()
            .shape(())
            .create(name)
            .map_err(h5err(tmp, format!("attribute {name}")))?;
        a.write_scalar(&value)
            .map_err(h5err(tmp, format!("attribute {name}")))
    };
    let f64_attr = |name: &str, value: f64| -> Result<()> {
        let a = file
            .new_attr::<f64>()
            .shape(())
            .create(name)
            .map_err(h5err(tmp, format!("attribute {name}")))?;
        a.write_scalar(&value)
            .map_err(h5err(tmp, format!("attribute {name}")))
    };
    str_attr("format", HDF5_FORMAT)?;
    u32_attr("format_version", HDF5_FORMAT_VERSION)?;
    str_attr("kernel", &p.kernel)?;
    u32_attr("dim", p.dim)?;
    u32_attr("order", p.order)?;
    str_attr("precision", &p.precision)?;
    f64_attr("alpha_inner", p.alpha_inner)?;
    f64_attr("alpha_outer", p.alpha_outer)?;
    f64_attr("tolerance", p.tolerance)?;

    let extra = file
        .create_group("params_extra")
        .map_err(h5err(tmp, "group /params_extra"))?;
    let names: Vec<VarLenUnicode> = p.extra.iter().map(|(n, _)| vlu(n)).collect::<Result<_>>()?;
    let values: Vec<f64> = p.extra.iter().map(|&(_, v)| v).collect();
    extra
        .new_dataset::<VarLenUnicode>()
        .shape([names.len()])
        .create("names")
        .and_then(|d| d.write_raw(&names))
        .map_err(h5err(tmp, "dataset /params_extra/names"))?;
    extra
        .new_dataset::<f64>()
        .shape([values.len()])
        .create("values")
        .and_then(|d| d.write_raw(&values))
        .map_err(h5err(tmp, "dataset /params_extra/values"))?;

    let ops = file
        .create_group("operators")
        .map_err(h5err(tmp, "group /operators"))?;
    for (index, e) in cache.entries.iter().enumerate() {
        if e.name.contains('/') || e.name == "." {
            return Err(Error::Hdf5 {
                path: tmp.to_path_buf(),
                reason: format!("array name {:?} cannot be an HDF5 dataset name", e.name),
            });
        }
        let what = format!("dataset /operators/{}", e.name);
        let ds = match e.dtype {
            DType::F64 => {
                let data = cache.f64(&e.name)?;
                ops.new_dataset::<f64>()
                    .shape(e.shape.clone())
                    .create(e.name.as_str())
                    .and_then(|d| d.write_raw(data).map(|()| d))
            }
            DType::F32 => {
                let data = cache.f32(&e.name)?;
                ops.new_dataset::<f32>()
                    .shape(e.shape.clone())
                    .create(e.name.as_str())
                    .and_then(|d| d.write_raw(data).map(|()| d))
            }
        }
        .map_err(h5err(tmp, &what))?;
        let index = u32::try_from(index).unwrap_or(u32::MAX);
        ds.new_attr::<u32>()
            .shape(())
            .create("index")
            .and_then(|a| a.write_scalar(&index))
            .map_err(h5err(tmp, format!("{what}: attribute index")))?;
    }
    file.close().map_err(h5err(tmp, "cannot close file"))?;
    Ok(())
}

/// Exports the cache's parameters and arrays to an HDF5 file with the layout in the module
/// docs. Atomic: writes a temporary `.h5` in the same directory and renames it onto `h5_path`
/// (parent directories are created).
///
/// Errors: [`Error::Hdf5`] for HDF5 failures (including array names containing `/`),
/// [`Error::Io`] for file system failures.
#[cfg(feature = "hdf5")]
pub fn export_hdf5(cache: &OperatorCache, h5_path: &Path) -> Result<()> {
    create_parent(h5_path)?;
    let mut guard = TempGuard {
        path: temp_path(h5_path, ".h5"),
        armed: true,
    };
    let tmp = guard.path.clone();
    write_hdf5_contents(cache, &tmp)?;
    File::open(&tmp)
        .and_then(|f| f.sync_all())
        .map_err(io_err(&tmp))?;
    commit_temp(&mut guard, h5_path)
}

#[cfg(feature = "hdf5")]
fn read_hdf5(h5_path: &Path) -> Result<(CacheParams, Vec<OwnedArray>)> {
    use hdf5::types::{FloatSize, TypeDescriptor, VarLenUnicode};
    let err = |reason: String| Error::Hdf5 {
        path: h5_path.to_path_buf(),
        reason,
    };
    let file = hdf5::File::open(h5_path).map_err(h5err(h5_path, "cannot open file"))?;
    let str_attr = |name: &str| -> Result<String> {
        file.attr(name)
            .and_then(|a| a.read_scalar::<VarLenUnicode>())
            .map(|s| s.as_str().to_string())
            .map_err(h5err(h5_path, format!("attribute {name}")))
    };
    let u32_attr = |name: &str| -> Result<u32> {
        file.attr(name)
            .and_then(|a| a.read_scalar::<u32>())
            .map_err(h5err(h5_path, format!("attribute {name}")))
    };
    let f64_attr = |name: &str| -> Result<f64> {
        file.attr(name)
            .and_then(|a| a.read_scalar::<f64>())
            .map_err(h5err(h5_path, format!("attribute {name}")))
    };
    let format = str_attr("format")?;
    if format != HDF5_FORMAT {
        return Err(err(format!(
            "attribute format is {format:?}, expected {HDF5_FORMAT:?}"
        )));
    }
    let version = u32_attr("format_version")?;
    if version != HDF5_FORMAT_VERSION {
        return Err(err(format!(
            "format_version is {version}, this build reads {HDF5_FORMAT_VERSION}"
        )));
    }
    let names: Vec<VarLenUnicode> = file
        .dataset("params_extra/names")
        .and_then(|d| d.read_raw())
        .map_err(h5err(h5_path, "dataset /params_extra/names"))?;
    let values: Vec<f64> = file
        .dataset("params_extra/values")
        .and_then(|d| d.read_raw())
        .map_err(h5err(h5_path, "dataset /params_extra/values"))?;
    if names.len() != values.len() {
        return Err(err(format!(
            "/params_extra has {} names but {} values",
            names.len(),
            values.len()
        )));
    }
    let params = CacheParams {
        kernel: str_attr("kernel")?,
        dim: u32_attr("dim")?,
        order: u32_attr("order")?,
        precision: str_attr("precision")?,
        alpha_inner: f64_attr("alpha_inner")?,
        alpha_outer: f64_attr("alpha_outer")?,
        tolerance: f64_attr("tolerance")?,
        extra: names
            .iter()
            .map(|n| n.as_str().to_string())
            .zip(values)
            .collect(),
    };

    let ops = file
        .group("operators")
        .map_err(h5err(h5_path, "group /operators"))?;
    let members = ops
        .member_names()
        .map_err(h5err(h5_path, "group /operators"))?;
    let mut arrays = Vec::with_capacity(members.len());
    for name in members {
        let what = format!("dataset /operators/{name}");
        let ds = ops.dataset(&name).map_err(h5err(h5_path, &what))?;
        let shape = ds.shape();
        let desc = ds
            .dtype()
            .and_then(|t| t.to_descriptor())
            .map_err(h5err(h5_path, &what))?;
        let data = match desc {
            TypeDescriptor::Float(FloatSize::U8) => {
                OwnedData::F64(ds.read_raw::<f64>().map_err(h5err(h5_path, &what))?)
            }
            TypeDescriptor::Float(FloatSize::U4) => {
                OwnedData::F32(ds.read_raw::<f32>().map_err(h5err(h5_path, &what))?)
            }
            other => {
                return Err(err(format!("{what} has unsupported type {other}")));
            }
        };
        let index = ds
            .attr("index")
            .and_then(|a| a.read_scalar::<u32>())
            .unwrap_or(u32::MAX);
        arrays.push((index, OwnedArray { name, shape, data }));
    }
    arrays.sort_by(|a, b| (a.0, &a.1.name).cmp(&(b.0, &b.1.name)));
    Ok((params, arrays.into_iter().map(|(_, a)| a).collect()))
}

/// Imports an HDF5 file with the layout in the module docs: reads the parameters and arrays,
/// writes them as a memory-mapped cache at `cache_path` ([`write_cache`]) and opens it.
///
/// Errors: [`Error::Hdf5`] for an unreadable file or missing/corrupt attributes or datasets;
/// the errors of [`write_cache`] and [`OperatorCache::open`].
#[cfg(feature = "hdf5")]
pub fn import_hdf5(h5_path: &Path, cache_path: &Path) -> Result<OperatorCache> {
    let (params, arrays) = read_hdf5(h5_path)?;
    let views: Vec<NamedArray> = arrays.iter().map(OwnedArray::view).collect();
    write_cache(cache_path, &params, &views).map_err(|e| match e {
        Error::InvalidParameter { reason, .. } => Error::Hdf5 {
            path: h5_path.to_path_buf(),
            reason,
        },
        other => other,
    })?;
    OperatorCache::open(cache_path, &params)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streaming_hash_matches_one_shot() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 7 + 3) as u8).collect();
        let whole = checksum(&data);
        for split in [0, 1, 7, 31, 32, 33, 100, 999, 1000] {
            let mut h = Hasher::new(0);
            h.update(&data[..split]);
            h.update(&data[split..]);
            assert_eq!(h.finish(), whole, "split {split}");
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

    /// A flipped byte inside an array's checksum in the table of contents is caught by the
    /// header checksum; with the header checksum recomputed (a forged header), the array's
    /// data no longer matches and is refused on access.
    #[test]
    fn toc_checksum_field_is_protected_by_the_header_checksum() {
        let dir =
            std::env::temp_dir().join(format!("oxifmm-cache-unit-toc-{}", std::process::id()));
        let path = dir.join("toc.oxc");
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
        let _ = fs::remove_dir_all(&dir);
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
