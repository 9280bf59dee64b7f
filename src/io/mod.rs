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
//! | `PREFIX.charges.npy` | `(N,)` | source charges (densities), real or complex |
//! | `PREFIX.targets.npy` | `(M, D)` | target coordinates (optional: default the sources) |
//! | `PREFIX.potentials.npy` | `(M,)` | results: potentials (complex for Helmholtz) |
//! | `PREFIX.gradients.npy` | `(M, D)` | results: gradients (only when requested) |
//!
//! Arrays are little-endian `float64` (`'<f8'`) or `float32` (`'<f4'`), C order
//! (`fortran_order: False`), format version 1.0 (2.0 and 3.0 are read too). Charges,
//! potentials and gradients may also be `complex128` (`'<c16'`) or `complex64` (`'<c8'`): a
//! complex kernel such as Helmholtz writes complex results, and real charges given to it are
//! taken with zero imaginary part. Writers pad the header to 64 bytes, as NumPy does, so
//! `numpy.load` reads them directly.
//!
//! # HDF5 (feature `hdf5`)
//!
//! A file whose name ends in `.h5` or `.hdf5` uses PyExaFMM's experiment-file layout:
//!
//! ```text
//! /particle_data/sources            (N, D) float64 or float32
//! /particle_data/source_densities   (N,)     real, or complex (h5py's compound {r, i})
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
//! Every file is written with the crate's one atomic write ([`crate::fs`]: a temporary file in
//! the destination directory, fsynced, then renamed into place); for a bundle all temporaries are written before the first rename. A failed write
//! leaves no partial output file behind.

mod bundle;
mod data;
mod hdf5;
mod npy;
mod problem;

pub use bundle::{bundle_file, bundle_prefix};
pub use data::{Array, DataError, Dtype, is_hdf5};
pub use npy::{decode_npy, encode_npy, read_npy, write_npy};
pub use problem::{Problem, Results};

use std::path::Path;

use bundle::write_bundle;
use data::input_err;
use hdf5::{read_problem_hdf5, write_problem_hdf5, write_results_hdf5};
use problem::{check_charges, check_points};

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
            complex_charges: c.dtype.is_complex(),
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
        ("sources", vec![p.n_sources(), p.dim], p.dtype, &p.sources),
        ("charges", vec![p.n_sources()], p.charge_dtype(), &p.charges),
    ];
    if let Some(t) = &p.targets {
        parts.push(("targets", vec![t.len() / p.dim, p.dim], p.dtype, t));
    }
    write_bundle(out, &parts)
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
    let m = r.n_targets();
    let mut parts = vec![("potentials", vec![m], r.dtype, &r.potentials)];
    if let Some(g) = &r.gradients {
        parts.push(("gradients", vec![m, r.dim], r.dtype, g));
    }
    write_bundle(out, &parts)
}
