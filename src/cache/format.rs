//! The operator cache's file layout (see the module docs of [`crate::cache`]): the preamble,
//! the header and its table of contents, the array types, and the validation of a file's
//! header and layout.

use std::sync::OnceLock;

use bincode::{Decode, Encode};

use xxhash_rust::xxh3::Xxh3;

use super::checksum::checksum;
use super::params::CacheParams;

/// Version of the memory-mapped file format written and read by this build.
///
/// Version 2: per-array checksums in the table of contents (verified lazily) instead of one
/// payload checksum; arrays contiguous in table order. Version 3: XXH3 checksums.
pub const FORMAT_VERSION: u32 = 3;

pub(crate) const MAGIC: [u8; 8] = *b"OXIFMMOC";
pub(crate) const PREAMBLE: usize = 16;
pub(crate) const ALIGN: usize = 64;
/// Largest header the decoder accepts (bincode allocation limit).
pub(crate) const HEADER_LIMIT: usize = 64 << 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
pub(crate) enum DType {
    F64,
    F32,
}

impl DType {
    pub(crate) fn size(self) -> usize {
        match self {
            DType::F64 => 8,
            DType::F32 => 4,
        }
    }
    pub(crate) fn name(self) -> &'static str {
        match self {
            DType::F64 => "f64",
            DType::F32 => "f32",
        }
    }
}

#[derive(Debug, Encode, Decode)]
pub(crate) struct TocEntry {
    pub(crate) name: String,
    pub(crate) dtype: DType,
    pub(crate) shape: Vec<u64>,
    /// Byte offset from the start of the payload.
    pub(crate) offset: u64,
    pub(crate) byte_len: u64,
    /// `array_checksum` of the array's span (its bytes and the padding after them).
    pub(crate) checksum: u64,
}

#[derive(Debug, Encode, Decode)]
pub(crate) struct Header {
    pub(crate) params: CacheParams,
    pub(crate) toc: Vec<TocEntry>,
    pub(crate) payload_len: u64,
}

/// A validated array entry: offsets are absolute within the file.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) name: String,
    pub(crate) dtype: DType,
    pub(crate) shape: Vec<usize>,
    pub(crate) offset: usize,
    pub(crate) byte_len: usize,
    /// Stored checksum of the span `offset..offset + align_up(byte_len)`.
    pub(crate) checksum: u64,
    /// Set once the span's checksum has been computed: whether it matched `checksum`.
    pub(crate) verified: OnceLock<bool>,
}

#[inline(always)]
pub(crate) fn align_up(x: usize) -> usize {
    x.div_ceil(ALIGN) * ALIGN
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
    pub(crate) fn len(&self) -> usize {
        match self {
            ArrayRef::F64(d) => d.len(),
            ArrayRef::F32(d) => d.len(),
        }
    }
    pub(crate) fn dtype(&self) -> DType {
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

/// An owned named array, as returned by the `compute` closure of
/// [`load_or_create`](super::load_or_create).
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
    /// A borrowed view, for [`write_cache`](super::write_cache).
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

/// The little-endian `u64` at the start of `b`.
#[inline(always)]
pub(crate) fn word(b: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[..8]);
    u64::from_le_bytes(w)
}

/// Validates a cache image's preamble, header and layout (not the array data, which is
/// checked per array by `OperatorCache::verify_entry`); reads only the first `16 + H`
/// bytes (plus the padding after them) of `bytes`, whatever its length. Returns the params
/// and absolute array entries.
pub(crate) fn validate(
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

impl CacheParams {
    /// A deterministic, readable file name for these parameters:
    /// `<kernel>-d<dim>-p<order>-<precision>-<16 hex digits>.oxc`, where the hex digits are a
    /// hash of all fields (and of [`FORMAT_VERSION`]), so different parameters get different
    /// files. Characters of `kernel`/`precision` outside `[A-Za-z0-9_]` become `_`.
    pub fn file_name(&self) -> String {
        let mut h = Xxh3::new();
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
            h.digest()
        )
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
