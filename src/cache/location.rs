//! Where operator cache files live: the one resolution of the cache directory, used by the
//! library and the command line.

use std::path::PathBuf;

/// Where operators come from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum CacheMode {
    /// The default directory, [`default_cache_dir`].
    #[default]
    Default,
    /// An explicit directory.
    Dir(PathBuf),
    /// Compute in memory, never read or write a file.
    Off,
}

impl CacheMode {
    /// The directory this mode reads and writes (`None` for [`CacheMode::Off`]).
    pub fn directory(&self) -> Option<PathBuf> {
        match self {
            CacheMode::Default => Some(default_cache_dir()),
            CacheMode::Dir(d) => Some(d.clone()),
            CacheMode::Off => None,
        }
    }
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
