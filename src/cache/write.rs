//! Writing a cache file: the table of contents and checksums from the same byte stream that is
//! written, through the crate's one atomic write.

use std::io::{BufWriter, Write};
use std::path::Path;

use super::checksum::{BlockHasher, checksum};
use super::format::{
    ALIGN, ArrayRef, FORMAT_VERSION, Header, MAGIC, NamedArray, PREAMBLE, TocEntry, align_up,
};
use super::params::CacheParams;
use super::stamp::stamp_path;
use crate::error::{Error, Result};
use crate::fs::{create_parent, write_atomic};

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

/// Writes a cache file atomically ([`crate::fs::write_atomic`]: a temporary file in the same
/// directory, fsynced, then renamed onto `path`). Creates missing
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

    create_parent(path).map_err(Error::io(path))?;
    write_atomic(path, Error::io(path), |file, _| {
        let mut w = BufWriter::with_capacity(1 << 20, file);
        w.write_all(&head).map_err(Error::io(path))?;
        for a in arrays {
            for_each_span_chunk(a, &mut buf, |b| w.write_all(b).map_err(Error::io(path)))?;
        }
        w.flush().map_err(Error::io(path))
    })?;
    // A stamp of the replaced file no longer matches (new inode); remove it as clutter.
    let _ = std::fs::remove_file(stamp_path(path));
    Ok(())
}
