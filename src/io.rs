//! Point data on disk: NumPy `.npy` files and (feature `hdf5`) HDF5 files in PyExaFMM's
//! experiment layout. Used by the `oxifmm` command-line tool; usable on its own.
//!
//! # `.npy` bundles
//!
//! A problem stored as `.npy` files is a *bundle*: files sharing a prefix,
//!
//! | file | shape | content |
//! |---|---|---|
//! | `PREFIX.sources.npy` | `(N, D)` | source coordinates, `D` = 2 or 3 |
//! | `PREFIX.charges.npy` | `(N,)` | source charges (densities) |
//! | `PREFIX.targets.npy` | `(M, D)` | target coordinates (optional: default the sources) |
//! | `PREFIX.potentials.npy` | `(M,)` | results: potentials |
//! | `PREFIX.gradients.npy` | `(M, D)` | results: gradients (only when requested) |
//!
//! Arrays are little-endian `float64` (`'<f8'`) or `float32` (`'<f4'`), C order
//! (`fortran_order: False`), format version 1.0 (2.0 and 3.0 are read too). Writers pad the
//! header to 64 bytes, as NumPy does, so `numpy.load` reads them directly.
//!
//! # HDF5 (feature `hdf5`)
//!
//! A file whose name ends in `.h5` or `.hdf5` uses PyExaFMM's experiment-file layout:
//!
//! ```text
//! /particle_data/sources            (N, D) float64 or float32
//! /particle_data/source_densities   (N,)
//! /particle_data/targets            (M, D)   optional here (default: the sources)
//! /particle_data/potentials         (M,)     written by `oxifmm run`
//! /particle_data/gradients          (M, D)   written by `oxifmm run --gradients`
//! ```
//!
//! Results for an HDF5 input are written beside its data, into a copy of the input file (all
//! other groups and datasets are kept), so a PyExaFMM experiment file goes in and comes back
//! answered.
//!
//! # Safety of outputs
//!
//! Every file is written to a temporary file in the destination directory and renamed into
//! place; for a bundle all temporaries are written before the first rename. A failed write
//! leaves no partial output file behind.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// What went wrong with a data file, classified as a bad input or a failed output.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// A file that cannot be read or does not hold what it must (missing datasets, wrong
    /// shapes or dtypes, NaN values, an HDF5 file without the `hdf5` feature).
    #[error("bad input {}: {reason}", path.display())]
    Input {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A file that cannot be written.
    #[error("cannot write {}: {reason}", path.display())]
    Output {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
}

fn input_err(path: &Path, reason: impl Into<String>) -> DataError {
    DataError::Input {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

fn output_err(path: &Path, reason: impl Into<String>) -> DataError {
    DataError::Output {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// Element type of a stored array.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dtype {
    /// `float32` (`'<f4'`).
    F32,
    /// `float64` (`'<f8'`).
    F64,
}

impl Dtype {
    /// The NumPy descriptor string: `'<f4'` or `'<f8'`.
    pub fn descr(self) -> &'static str {
        match self {
            Dtype::F32 => "<f4",
            Dtype::F64 => "<f8",
        }
    }
    fn size(self) -> usize {
        match self {
            Dtype::F32 => 4,
            Dtype::F64 => 8,
        }
    }
}

/// An array read from a file: its shape, its element type, and its values widened to f64
/// (exact for `f32`).
#[derive(Clone, Debug, PartialEq)]
pub struct Array {
    /// The shape (C order).
    pub shape: Vec<usize>,
    /// The stored element type.
    pub dtype: Dtype,
    /// The values, row-major.
    pub data: Vec<f64>,
}

// ---------------------------------------------------------------------------------------
// .npy
// ---------------------------------------------------------------------------------------

const NPY_MAGIC: &[u8] = b"\x93NUMPY";

/// Encodes an array as the bytes of a `.npy` file (format 1.0, header padded to 64 bytes).
/// `data` is stored as `dtype` (rounded for `F32`).
///
/// # Panics
///
/// When `data.len()` is not the product of `shape`.
pub fn encode_npy(shape: &[usize], dtype: Dtype, data: &[f64]) -> Vec<u8> {
    assert_eq!(
        shape.iter().product::<usize>(),
        data.len(),
        "encode_npy: shape does not match data length"
    );
    let shape_str = match shape {
        [n] => format!("({n},)"),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut header = format!(
        "{{'descr': '{}', 'fortran_order': False, 'shape': {shape_str}, }}",
        dtype.descr()
    );
    // magic (6) + version (2) + header length (2) + header + '\n', a multiple of 64.
    let unpadded = 10 + header.len() + 1;
    header.extend(std::iter::repeat_n(
        ' ',
        unpadded.next_multiple_of(64) - unpadded,
    ));
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + data.len() * dtype.size());
    out.extend_from_slice(NPY_MAGIC);
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    match dtype {
        Dtype::F64 => data
            .iter()
            .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        Dtype::F32 => data
            .iter()
            .for_each(|&x| out.extend_from_slice(&(x as f32).to_le_bytes())),
    }
    out
}

/// The value of `'key':` in a NumPy header dict (the text up to the next top-level comma or
/// closing brace).
fn dict_value<'h>(header: &'h str, key: &str) -> Option<&'h str> {
    let pos = header
        .find(&format!("'{key}'"))
        .or_else(|| header.find(&format!("\"{key}\"")))?;
    let rest = header[pos + key.len() + 2..].trim_start();
    let rest = rest.strip_prefix(':')?.trim_start();
    let end = if rest.starts_with('(') {
        rest.find(')')? + 1
    } else {
        rest.find([',', '}']).unwrap_or(rest.len())
    };
    Some(rest[..end].trim())
}

/// Decodes the bytes of a `.npy` file (`path` names it in errors).
///
/// Accepts format versions 1.0, 2.0 and 3.0 with `descr` `'<f8'` or `'<f4'` and
/// `fortran_order: False`; rejects anything else, and a data section whose length does not
/// match the shape, with [`DataError::Input`].
pub fn decode_npy(bytes: &[u8], path: &Path) -> Result<Array, DataError> {
    let bad = |r: String| input_err(path, r);
    if bytes.len() < 10 || &bytes[..6] != NPY_MAGIC {
        return Err(bad("not a .npy file (bad magic)".into()));
    }
    let (header_len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        v => return Err(bad(format!("unsupported .npy format version {v}"))),
    };
    let header = bytes
        .get(start..start + header_len)
        .ok_or_else(|| bad("truncated .npy header".into()))?;
    let header = std::str::from_utf8(header).map_err(|_| bad(".npy header is not text".into()))?;
    let descr = dict_value(header, "descr")
        .ok_or_else(|| bad("no 'descr' in .npy header".into()))?
        .trim_matches(['\'', '"']);
    let dtype = match descr {
        "<f8" => Dtype::F64,
        "<f4" => Dtype::F32,
        other => {
            return Err(bad(format!(
                "unsupported dtype '{other}' (need float64 '<f8' or float32 '<f4')"
            )));
        }
    };
    match dict_value(header, "fortran_order") {
        Some("False") => {}
        Some("True") => {
            return Err(bad(
                "fortran_order arrays are not supported (save a C-ordered array)".into(),
            ));
        }
        _ => return Err(bad("no valid 'fortran_order' in .npy header".into())),
    }
    let shape_str = dict_value(header, "shape")
        .ok_or_else(|| bad("no 'shape' in .npy header".into()))?
        .trim_start_matches('(')
        .trim_end_matches(')');
    let shape: Vec<usize> = shape_str
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.trim_end_matches('L').parse::<usize>())
        .collect::<Result<_, _>>()
        .map_err(|_| bad(format!("bad shape ({shape_str}) in .npy header")))?;
    let count = shape
        .iter()
        .try_fold(1usize, |a, &s| a.checked_mul(s))
        .ok_or_else(|| bad("shape too large".into()))?;
    let body = &bytes[start + header_len..];
    let need = count
        .checked_mul(dtype.size())
        .ok_or_else(|| bad("shape too large".into()))?;
    if body.len() != need {
        return Err(bad(format!(
            "data section has {} bytes, shape {shape:?} of {} needs {need}",
            body.len(),
            descr
        )));
    }
    let data = match dtype {
        Dtype::F64 => body
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect(),
        Dtype::F32 => body
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")) as f64)
            .collect(),
    };
    Ok(Array { shape, dtype, data })
}

/// Reads a `.npy` file; see [`decode_npy`]. A missing or unreadable file is
/// [`DataError::Input`].
pub fn read_npy(path: &Path) -> Result<Array, DataError> {
    let bytes = fs::read(path).map_err(|e| input_err(path, e.to_string()))?;
    decode_npy(&bytes, path)
}

/// Writes a `.npy` file atomically (temporary file in the same directory, then rename).
pub fn write_npy(
    path: &Path,
    shape: &[usize],
    dtype: Dtype,
    data: &[f64],
) -> Result<(), DataError> {
    let tmp = write_temp(path, &encode_npy(shape, dtype, data))?;
    tmp.commit()
}

// ---------------------------------------------------------------------------------------
// Atomic files
// ---------------------------------------------------------------------------------------

/// A temporary file beside its destination; removed on drop unless committed.
struct Temp {
    tmp: PathBuf,
    dest: PathBuf,
    done: bool,
}

impl Temp {
    fn new(dest: &Path) -> Self {
        let name = dest
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "out".into());
        let unique = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let tmp = dest.with_file_name(format!(".{name}.{}.{unique}.tmp", std::process::id()));
        Self {
            tmp,
            dest: dest.to_path_buf(),
            done: false,
        }
    }
    fn commit(mut self) -> Result<(), DataError> {
        fs::rename(&self.tmp, &self.dest).map_err(|e| output_err(&self.dest, e.to_string()))?;
        self.done = true;
        Ok(())
    }
}

impl Drop for Temp {
    fn drop(&mut self) {
        if !self.done {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

fn write_temp(dest: &Path, bytes: &[u8]) -> Result<Temp, DataError> {
    let t = Temp::new(dest);
    let write = || -> std::io::Result<()> {
        let mut f = fs::File::create(&t.tmp)?;
        f.write_all(bytes)?;
        f.sync_all()
    };
    write().map_err(|e| output_err(dest, e.to_string()))?;
    Ok(t)
}

// ---------------------------------------------------------------------------------------
// Problems and results
// ---------------------------------------------------------------------------------------

/// An N-body problem: sources with charges, and optionally separate targets.
#[derive(Clone, Debug, PartialEq)]
pub struct Problem {
    /// Dimension, 2 or 3.
    pub dim: usize,
    /// Element type the sources were stored in (results are written in it too).
    pub dtype: Dtype,
    /// Source coordinates, row-major `(N, dim)`.
    pub sources: Vec<f64>,
    /// Charges, `(N,)`.
    pub charges: Vec<f64>,
    /// Target coordinates, row-major `(M, dim)`; `None` means the sources.
    pub targets: Option<Vec<f64>>,
}

impl Problem {
    /// Number of sources.
    pub fn n_sources(&self) -> usize {
        self.charges.len()
    }
    /// Number of targets.
    pub fn n_targets(&self) -> usize {
        self.targets
            .as_ref()
            .map_or(self.n_sources(), |t| t.len() / self.dim)
    }
}

/// Results of an evaluation, in target order.
#[derive(Clone, Debug, PartialEq)]
pub struct Results {
    /// Dimension, 2 or 3.
    pub dim: usize,
    /// Element type to store them in.
    pub dtype: Dtype,
    /// Potentials, `(M,)`.
    pub potentials: Vec<f64>,
    /// Gradients, row-major `(M, dim)`, if computed.
    pub gradients: Option<Vec<f64>>,
}

/// Whether `path` names an HDF5 file (extension `.h5` or `.hdf5`, any case).
pub fn is_hdf5(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("h5") || e.eq_ignore_ascii_case("hdf5"))
}

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

/// Checks a coordinate array: 2-D `(N, D)` with `D` in {2, 3} (or `D == dim` when given),
/// N > 0, every value finite.
fn check_points(a: &Array, path: &Path, what: &str, dim: Option<usize>) -> Result<(), DataError> {
    let ok = match (a.shape.as_slice(), dim) {
        ([n, d], None) => *n > 0 && (*d == 2 || *d == 3),
        ([n, d], Some(dim)) => *n > 0 && *d == dim,
        _ => false,
    };
    if !ok {
        let need = match dim {
            Some(d) => format!("(N, {d}) with N > 0"),
            None => "(N, 3) or (N, 2) with N > 0".into(),
        };
        return Err(input_err(
            path,
            format!("{what} has shape {:?}, expected {need}", a.shape),
        ));
    }
    check_finite(a, path, what)
}

fn check_finite(a: &Array, path: &Path, what: &str) -> Result<(), DataError> {
    if let Some(i) = a.data.iter().position(|x| !x.is_finite()) {
        let row = if a.shape.len() == 2 {
            i / a.shape[1]
        } else {
            i
        };
        return Err(input_err(
            path,
            format!("{what} has a non-finite value (NaN or inf) at row {row}"),
        ));
    }
    Ok(())
}

fn check_charges(a: &Array, n: usize, path: &Path, what: &str) -> Result<(), DataError> {
    if a.shape != [n] {
        return Err(input_err(
            path,
            format!(
                "{what} has shape {:?}, expected ({n},) to match the sources",
                a.shape
            ),
        ));
    }
    check_finite(a, path, what)
}

/// Reads a problem: from an HDF5 file (see the module docs) when `input` ends in `.h5` or
/// `.hdf5`, else from the `.npy` bundle with prefix [`bundle_prefix`]`(input)`.
///
/// `targets` overrides the problem's targets: an `(M, D)` `.npy` array, or an HDF5 file whose
/// `particle_data/targets` is used.
pub fn read_problem(input: &Path, targets: Option<&Path>) -> Result<Problem, DataError> {
    let mut p = if is_hdf5(input) {
        read_problem_hdf5(input)?
    } else {
        let prefix = bundle_prefix(input);
        let spath = bundle_file(&prefix, "sources");
        if !spath.exists() && input.exists() && input.extension().is_some_and(|e| e == "npy") {
            return Err(input_err(
                input,
                "a bundle is named by its prefix or its PREFIX.sources.npy file".to_string(),
            ));
        }
        let s = read_npy(&spath)?;
        check_points(&s, &spath, "sources", None)?;
        let dim = s.shape[1];
        let n = s.shape[0];
        let cpath = bundle_file(&prefix, "charges");
        let c = read_npy(&cpath)?;
        check_charges(&c, n, &cpath, "charges")?;
        let tpath = bundle_file(&prefix, "targets");
        let t = if tpath.exists() {
            let t = read_npy(&tpath)?;
            check_points(&t, &tpath, "targets", Some(dim))?;
            Some(t.data)
        } else {
            None
        };
        Problem {
            dim,
            dtype: s.dtype,
            sources: s.data,
            charges: c.data,
            targets: t,
        }
    };
    if let Some(tp) = targets {
        let t = if is_hdf5(tp) {
            let q = read_problem_hdf5(tp)?;
            if q.dim != p.dim {
                return Err(input_err(
                    tp,
                    format!("targets are {}-D, sources {}-D", q.dim, p.dim),
                ));
            }
            q.targets.unwrap_or(q.sources)
        } else {
            let t = read_npy(tp)?;
            check_points(&t, tp, "targets", Some(p.dim))?;
            t.data
        };
        p.targets = Some(t);
    }
    Ok(p)
}

/// Writes a problem (for `oxifmm generate`): an HDF5 file in PyExaFMM's layout (targets =
/// sources written explicitly, as PyExaFMM expects) when `out` ends in `.h5`/`.hdf5`, else
/// the bundle `out.sources.npy`, `out.charges.npy` (and `out.targets.npy` when the problem
/// has separate targets).
pub fn write_problem(out: &Path, p: &Problem) -> Result<(), DataError> {
    if is_hdf5(out) {
        return write_problem_hdf5(out, p);
    }
    let mut parts = vec![
        ("sources", vec![p.n_sources(), p.dim], &p.sources),
        ("charges", vec![p.n_sources()], &p.charges),
    ];
    if let Some(t) = &p.targets {
        parts.push(("targets", vec![t.len() / p.dim, p.dim], t));
    }
    write_bundle(out, p.dtype, &parts)
}

fn write_bundle(
    prefix: &Path,
    dtype: Dtype,
    parts: &[(&str, Vec<usize>, &Vec<f64>)],
) -> Result<(), DataError> {
    // All temporaries first, then the renames: a failure leaves no output at all.
    let temps = parts
        .iter()
        .map(|(name, shape, data)| {
            write_temp(&bundle_file(prefix, name), &encode_npy(shape, dtype, data))
        })
        .collect::<Result<Vec<_>, _>>()?;
    // A rename can still fail (say, a directory holds the name): then the files this call
    // already renamed into place are removed again, so no incomplete bundle remains.
    let mut done: Vec<PathBuf> = Vec::with_capacity(temps.len());
    for t in temps {
        let dest = t.dest.clone();
        if let Err(e) = t.commit() {
            for d in &done {
                let _ = fs::remove_file(d);
            }
            return Err(e);
        }
        done.push(dest);
    }
    Ok(())
}

/// Writes results (for `oxifmm run`).
///
/// - `out` ending in `.h5`/`.hdf5` and `input` an HDF5 file: a copy of `input` with
///   `particle_data/potentials` (and `particle_data/gradients`) added or replaced;
/// - `out` ending in `.h5`/`.hdf5`, `input` a bundle: a new HDF5 file in the PyExaFMM layout
///   holding the problem and the results;
/// - otherwise the bundle files `out.potentials.npy` (and `out.gradients.npy`).
pub fn write_results(
    out: &Path,
    input: &Path,
    problem: &Problem,
    r: &Results,
) -> Result<(), DataError> {
    if is_hdf5(out) {
        return write_results_hdf5(out, input, problem, r);
    }
    let m = r.potentials.len();
    let mut parts = vec![("potentials", vec![m], &r.potentials)];
    if let Some(g) = &r.gradients {
        parts.push(("gradients", vec![m, r.dim], g));
    }
    write_bundle(out, r.dtype, &parts)
}

// ---------------------------------------------------------------------------------------
// HDF5
// ---------------------------------------------------------------------------------------

#[cfg(not(feature = "hdf5"))]
fn no_hdf5(path: &Path) -> String {
    let _ = path;
    "HDF5 files need oxifmm built with `--features hdf5`".into()
}

#[cfg(not(feature = "hdf5"))]
fn read_problem_hdf5(path: &Path) -> Result<Problem, DataError> {
    Err(input_err(path, no_hdf5(path)))
}

#[cfg(not(feature = "hdf5"))]
fn write_problem_hdf5(path: &Path, _p: &Problem) -> Result<(), DataError> {
    Err(output_err(path, no_hdf5(path)))
}

#[cfg(not(feature = "hdf5"))]
fn write_results_hdf5(
    path: &Path,
    _input: &Path,
    _p: &Problem,
    _r: &Results,
) -> Result<(), DataError> {
    Err(output_err(path, no_hdf5(path)))
}

#[cfg(feature = "hdf5")]
fn read_dataset(file: &hdf5::File, path: &Path, name: &str) -> Result<Array, DataError> {
    use hdf5::types::{FloatSize, TypeDescriptor};
    let ds = file
        .dataset(name)
        .map_err(|_| input_err(path, format!("missing dataset /{name}")))?;
    let desc = ds
        .dtype()
        .and_then(|t| t.to_descriptor())
        .map_err(|e| input_err(path, format!("dataset /{name}: {e}")))?;
    let (dtype, data) = match desc {
        TypeDescriptor::Float(FloatSize::U8) => (Dtype::F64, ds.read_raw::<f64>()),
        TypeDescriptor::Float(FloatSize::U4) => (
            Dtype::F32,
            ds.read_raw::<f32>()
                .map(|v| v.into_iter().map(f64::from).collect()),
        ),
        other => {
            return Err(input_err(
                path,
                format!("dataset /{name} has type {other}, expected float64 or float32"),
            ));
        }
    };
    let data = data.map_err(|e| input_err(path, format!("dataset /{name}: {e}")))?;
    Ok(Array {
        shape: ds.shape(),
        dtype,
        data,
    })
}

#[cfg(feature = "hdf5")]
fn read_problem_hdf5(path: &Path) -> Result<Problem, DataError> {
    if !path.exists() {
        return Err(input_err(path, "no such file"));
    }
    let file = hdf5::File::open(path)
        .map_err(|e| input_err(path, format!("not a readable HDF5 file: {e}")))?;
    let s = read_dataset(&file, path, "particle_data/sources")?;
    check_points(&s, path, "/particle_data/sources", None)?;
    let (n, dim) = (s.shape[0], s.shape[1]);
    let c = read_dataset(&file, path, "particle_data/source_densities")?;
    check_charges(&c, n, path, "/particle_data/source_densities")?;
    let targets = if file.link_exists("particle_data/targets") {
        let t = read_dataset(&file, path, "particle_data/targets")?;
        check_points(&t, path, "/particle_data/targets", Some(dim))?;
        Some(t.data)
    } else {
        None
    };
    Ok(Problem {
        dim,
        dtype: s.dtype,
        sources: s.data,
        charges: c.data,
        targets,
    })
}

#[cfg(feature = "hdf5")]
fn put_dataset(
    g: &hdf5::Group,
    name: &str,
    shape: &[usize],
    dtype: Dtype,
    data: &[f64],
) -> hdf5::Result<()> {
    if g.link_exists(name) {
        g.unlink(name)?;
    }
    match dtype {
        Dtype::F64 => g
            .new_dataset::<f64>()
            .shape(shape)
            .create(name)?
            .write_raw(data),
        Dtype::F32 => {
            let v: Vec<f32> = data.iter().map(|&x| x as f32).collect();
            g.new_dataset::<f32>()
                .shape(shape)
                .create(name)?
                .write_raw(&v)
        }
    }
}

#[cfg(feature = "hdf5")]
fn write_problem_hdf5(path: &Path, p: &Problem) -> Result<(), DataError> {
    let t = Temp::new(path);
    let write = || -> hdf5::Result<()> {
        let file = hdf5::File::create(&t.tmp)?;
        let g = file.create_group("particle_data")?;
        let n = p.n_sources();
        put_dataset(&g, "sources", &[n, p.dim], p.dtype, &p.sources)?;
        put_dataset(&g, "source_densities", &[n], p.dtype, &p.charges)?;
        let tg = p.targets.as_ref().unwrap_or(&p.sources);
        put_dataset(&g, "targets", &[tg.len() / p.dim, p.dim], p.dtype, tg)?;
        file.close()
    };
    write().map_err(|e| output_err(path, e.to_string()))?;
    t.commit()
}

#[cfg(feature = "hdf5")]
fn write_results_hdf5(
    path: &Path,
    input: &Path,
    p: &Problem,
    r: &Results,
) -> Result<(), DataError> {
    let t = Temp::new(path);
    let copied = is_hdf5(input);
    if copied {
        fs::copy(input, &t.tmp).map_err(|e| output_err(path, e.to_string()))?;
    }
    let write = || -> hdf5::Result<()> {
        let file = if copied {
            hdf5::File::open_rw(&t.tmp)?
        } else {
            hdf5::File::create(&t.tmp)?
        };
        let g = match file.group("particle_data") {
            Ok(g) => g,
            Err(_) => file.create_group("particle_data")?,
        };
        if !copied {
            let n = p.n_sources();
            put_dataset(&g, "sources", &[n, p.dim], p.dtype, &p.sources)?;
            put_dataset(&g, "source_densities", &[n], p.dtype, &p.charges)?;
            let tg = p.targets.as_ref().unwrap_or(&p.sources);
            put_dataset(&g, "targets", &[tg.len() / p.dim, p.dim], p.dtype, tg)?;
        }
        let m = r.potentials.len();
        put_dataset(&g, "potentials", &[m], r.dtype, &r.potentials)?;
        match &r.gradients {
            Some(gr) => put_dataset(&g, "gradients", &[m, r.dim], r.dtype, gr)?,
            None if g.link_exists("gradients") => g.unlink("gradients")?,
            None => {}
        }
        file.close()
    };
    write().map_err(|e| output_err(path, e.to_string()))?;
    t.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npy_round_trip_and_alignment() {
        for (shape, dtype) in [
            (vec![5usize], Dtype::F64),
            (vec![4, 3], Dtype::F32),
            (vec![0, 2], Dtype::F64),
        ] {
            let n: usize = shape.iter().product();
            let data: Vec<f64> = (0..n).map(|i| i as f64 * 0.5 - 1.0).collect();
            let bytes = encode_npy(&shape, dtype, &data);
            let hl = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
            assert_eq!((10 + hl) % 64, 0);
            let a = decode_npy(&bytes, Path::new("x.npy")).unwrap();
            assert_eq!(a.shape, shape);
            assert_eq!(a.dtype, dtype);
            assert_eq!(a.data, data);
        }
    }

    fn find(hay: &[u8], needle: &str) -> usize {
        hay.windows(needle.len())
            .position(|w| w == needle.as_bytes())
            .unwrap()
    }

    #[test]
    fn npy_rejects_bad_headers() {
        let ok = encode_npy(&[2], Dtype::F64, &[1.0, 2.0]);
        let p = Path::new("x.npy");
        let swap = |a: &str, b: &str| {
            let mut v = ok.clone();
            let i = find(&v, a);
            v[i..i + a.len()].copy_from_slice(b.as_bytes());
            decode_npy(&v, p).unwrap_err().to_string()
        };
        assert!(swap("<f8", "<i8").contains("unsupported dtype"));
        assert!(swap("False", "True,").contains("fortran_order"));
        assert!(
            decode_npy(&ok[..ok.len() - 1], p)
                .unwrap_err()
                .to_string()
                .contains("data section")
        );
        assert!(
            decode_npy(b"hello world", p)
                .unwrap_err()
                .to_string()
                .contains("magic")
        );
    }

    #[test]
    fn reads_numpy_style_header() {
        // The header NumPy itself writes (version 1.0, trailing comma, spaces).
        let mut h = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }".to_string();
        while !(10 + h.len() + 1).is_multiple_of(64) {
            h.push(' ');
        }
        h.push('\n');
        let mut b = NPY_MAGIC.to_vec();
        b.extend_from_slice(&[1, 0]);
        b.extend_from_slice(&(h.len() as u16).to_le_bytes());
        b.extend_from_slice(h.as_bytes());
        for i in 0..6 {
            b.extend_from_slice(&(i as f32).to_le_bytes());
        }
        let a = decode_npy(&b, Path::new("x.npy")).unwrap();
        assert_eq!(a.shape, vec![2, 3]);
        assert_eq!(a.data, vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
    }
}
