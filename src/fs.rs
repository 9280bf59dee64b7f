//! The one atomic file write of the crate, used by the operator cache, the data files of
//! [`crate::io`] and the command-line tool: the content goes to a temporary file beside the
//! destination (`.<name>.<random>.tmp`, created with [`tempfile`] with the permissions of any new
//! file: `0666` less the umask), is fsynced, and is renamed onto the destination, whose
//! directory is then fsynced (best effort). A reader never sees
//! half a file; a failure leaves the destination untouched and no temporary behind.
//!
//! ```
//! use std::io::Write;
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("out.txt");
//! oxifmm::fs::write_atomic(&path, |e| e, |file, _| file.write_all(b"hello"))?;
//! assert_eq!(std::fs::read(&path)?, b"hello");
//! # Ok::<(), std::io::Error>(())
//! ```

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

/// A file written to a temporary beside its destination and fsynced, not yet in place.
/// Dropped without [`Staged::commit`], the temporary is removed.
#[derive(Debug)]
pub struct Staged {
    tmp: tempfile::NamedTempFile,
    dest: PathBuf,
}

impl Staged {
    /// The destination.
    pub fn dest(&self) -> &Path {
        &self.dest
    }

    /// Renames the temporary onto the destination and fsyncs the directory (best effort).
    pub fn commit(self) -> io::Result<()> {
        self.tmp.persist(&self.dest).map_err(|e| e.error)?;
        #[cfg(unix)]
        if let Some(parent) = self.dest.parent() {
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
}

/// Writes the content of `dest` into a temporary file in the same directory (which must exist:
/// a missing directory is an error, as for any write): `fill` gets the open file and its path
/// (for writers that take a path, such as HDF5), then the file is fsynced. `io_err` turns the
/// staging's own I/O failures into the caller's error type.
pub fn stage<E>(
    dest: &Path,
    io_err: impl Fn(io::Error) -> E,
    fill: impl FnOnce(&mut File, &Path) -> Result<(), E>,
) -> Result<Staged, E> {
    let dir = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".to_string());
    let prefix = format!(".{name}.");
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".tmp");
    // tempfile creates owner-only (0600) files; the result must be created like any other
    // file, `0666` less the process's umask (the kernel applies the umask at creation).
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    let mut tmp = builder.tempfile_in(dir).map_err(&io_err)?;
    let path = tmp.path().to_path_buf();
    fill(tmp.as_file_mut(), &path)?;
    tmp.as_file().sync_all().map_err(&io_err)?;
    Ok(Staged {
        tmp,
        dest: dest.to_path_buf(),
    })
}

/// [`stage`] then [`Staged::commit`]: writes `dest` atomically.
///
/// A writer whose destination may lie in a directory that does not exist yet creates it
/// first with [`create_parent`].
pub fn write_atomic<E>(
    dest: &Path,
    io_err: impl Fn(io::Error) -> E,
    fill: impl FnOnce(&mut File, &Path) -> Result<(), E>,
) -> Result<(), E> {
    stage(dest, &io_err, fill)?.commit().map_err(&io_err)
}

/// Creates the parent directories of `path` if missing.
pub fn create_parent(path: &Path) -> io::Result<()> {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => std::fs::create_dir_all(p),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// An atomically written file gets the permissions of a plainly created one (the umask's),
    /// not tempfile's owner-only mode, and no temporary remains.
    #[cfg(unix)]
    #[test]
    fn atomic_write_keeps_the_usual_permissions() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("plain");
        std::fs::write(&plain, b"x").unwrap();
        let atomic = dir.path().join("atomic");
        write_atomic(&atomic, |e| e, |f, _| f.write_all(b"x")).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&atomic), mode(&plain));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    }

    /// A missing destination directory is an error, and nothing is created.
    #[test]
    fn missing_directory_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("no/such/file");
        assert!(write_atomic(&dest, |e| e, |f, _| f.write_all(b"x")).is_err());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
