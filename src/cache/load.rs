//! Loading a cache file, or computing and writing it when it is missing or unusable.

use std::path::Path;
use std::time::{Duration, Instant};

use super::format::{NamedArray, OwnedArray};
use super::mapped::{OperatorCache, Verified};
use super::params::CacheParams;
use super::write::write_cache;
use crate::error::{Error, Result};

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

/// Loads the cache at `path` if it is valid for `params` ([`OperatorCache::open`] and
/// [`OperatorCache::verify`] both succeed); otherwise computes the arrays with `compute`,
/// writes them atomically ([`write_cache`]) and opens (and verifies) the written file.
///
/// When an existing file cannot be used, the reason is returned in
/// [`CacheOutcome::Replaced`] and logged as a warning (the `log` facade), and the file is
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
            log::warn!(
                "operator cache {} is unusable ({reason}); recomputing",
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
