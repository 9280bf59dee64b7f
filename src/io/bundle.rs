//! `.npy` bundles: the files of one problem or result sharing a prefix.

use std::fs;
use std::path::{Path, PathBuf};

use super::data::{DataError, Dtype, output_err};
use super::npy::{encode_npy, stage_bytes};

/// The bundle prefix of `path`: `path` without a trailing `.sources.npy` (so either the
/// prefix or the sources file can be named).
pub fn bundle_prefix(path: &Path) -> PathBuf {
    let s = path.to_string_lossy();
    match s.strip_suffix(".sources.npy") {
        Some(p) => PathBuf::from(p),
        None => path.to_path_buf(),
    }
}

/// `PREFIX.<part>.npy`.
pub fn bundle_file(prefix: &Path, part: &str) -> PathBuf {
    let mut s = prefix.as_os_str().to_owned();
    s.push(format!(".{part}.npy"));
    PathBuf::from(s)
}

/// Writes the bundle files `PREFIX.<name>.npy` of `parts`: all staged first, then committed,
/// so a failure leaves no output at all.
pub(crate) fn write_bundle(
    prefix: &Path,
    parts: &[(&str, Vec<usize>, Dtype, &Vec<f64>)],
) -> Result<(), DataError> {
    // All temporaries first, then the renames: a failure leaves no output at all.
    let temps = parts
        .iter()
        .map(|(name, shape, dtype, data)| {
            stage_bytes(&bundle_file(prefix, name), &encode_npy(shape, *dtype, data))
        })
        .collect::<Result<Vec<_>, _>>()?;
    // A rename can still fail (say, a directory holds the name): then the files this call
    // already renamed into place are removed again, so no incomplete bundle remains.
    let mut done: Vec<PathBuf> = Vec::with_capacity(temps.len());
    for t in temps {
        let dest = t.dest().to_path_buf();
        if let Err(e) = t.commit() {
            for d in &done {
                let _ = fs::remove_file(d);
            }
            return Err(output_err(&dest, e.to_string()));
        }
        done.push(dest);
    }
    Ok(())
}
