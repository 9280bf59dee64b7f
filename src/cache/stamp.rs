//! Verification stamps: a full check of a cache file that passed, recorded beside it, so that
//! later loads of the unchanged file need not read the payload (see the module docs of
//! [`crate::cache`] for the trust model).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::fs::write_atomic;

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
pub(crate) struct Stamp {
    header_checksum: u64,
    dev: u64,
    ino: u64,
    len: u64,
    mtime_ns: i128,
    ctime_ns: i128,
}

impl Stamp {
    #[cfg(unix)]
    pub(crate) fn of(meta: &fs::Metadata, header_checksum: u64) -> Option<Stamp> {
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
    pub(crate) fn of(_meta: &fs::Metadata, _header_checksum: u64) -> Option<Stamp> {
        None
    }

    /// Whether a verification started at `started` may be stamped: the file's last change
    /// (and modification) lies at least [`STAMP_MARGIN`] before it.
    pub(crate) fn settled_at(&self, started: std::time::SystemTime) -> bool {
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
pub(crate) fn stamps_enabled() -> bool {
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
pub(crate) fn read_stamp(path: &Path) -> Option<Stamp> {
    let text = fs::read(stamp_path(path)).ok()?;
    if text.len() > 256 {
        return None;
    }
    Stamp::decode(std::str::from_utf8(&text).ok()?)
}

/// Writes the stamp atomically ([`crate::fs::write_atomic`]); failures are ignored (the next
/// load verifies again).
pub(crate) fn write_stamp(path: &Path, stamp: &Stamp) {
    let _ = write_atomic(
        &stamp_path(path),
        |e| e,
        |file, _| file.write_all(stamp.encode().as_bytes()),
    );
}
