//! PyExaFMM's HDF5 experiment files (feature `hdf5`; without it, these report that the
//! feature is missing).

use std::path::Path;

#[cfg(feature = "hdf5")]
use super::data::{Array, Dtype, is_hdf5};
use super::data::{DataError, input_err, output_err};
use super::problem::{Problem, Results};
#[cfg(feature = "hdf5")]
use super::problem::{check_charges, check_points};
#[cfg(feature = "hdf5")]
use crate::Complex;
#[cfg(feature = "hdf5")]
use crate::fs::write_atomic;
#[cfg(feature = "hdf5")]
use std::fs;

#[cfg(not(feature = "hdf5"))]
fn no_hdf5(path: &Path) -> String {
    let _ = path;
    "HDF5 files need oxifmm built with `--features hdf5`".into()
}

#[cfg(not(feature = "hdf5"))]
pub(crate) fn read_problem_hdf5(path: &Path) -> Result<Problem, DataError> {
    Err(input_err(path, no_hdf5(path)))
}

#[cfg(not(feature = "hdf5"))]
pub(crate) fn write_problem_hdf5(path: &Path, _p: &Problem) -> Result<(), DataError> {
    Err(output_err(path, no_hdf5(path)))
}

#[cfg(not(feature = "hdf5"))]
pub(crate) fn write_results_hdf5(
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
        // Complex numbers as h5py writes them: a compound of two floats named r and i.
        TypeDescriptor::Compound(c)
            if c.fields.len() == 2 && c.fields[0].name == "r" && c.fields[1].name == "i" =>
        {
            match (&c.fields[0].ty, &c.fields[1].ty) {
                (TypeDescriptor::Float(FloatSize::U8), TypeDescriptor::Float(FloatSize::U8)) => (
                    Dtype::C128,
                    ds.read_raw::<Complex<f64>>()
                        .map(|v| v.into_iter().flat_map(|z| [z.re, z.im]).collect()),
                ),
                (TypeDescriptor::Float(FloatSize::U4), TypeDescriptor::Float(FloatSize::U4)) => (
                    Dtype::C64,
                    ds.read_raw::<Complex<f32>>().map(|v| {
                        v.into_iter()
                            .flat_map(|z| [f64::from(z.re), f64::from(z.im)])
                            .collect()
                    }),
                ),
                _ => {
                    return Err(input_err(
                        path,
                        format!("dataset /{name}: complex parts must both be float64 or float32"),
                    ));
                }
            }
        }
        other => {
            return Err(input_err(
                path,
                format!(
                    "dataset /{name} has type {other}, expected float64, float32 or complex \
                     (a compound of r and i)"
                ),
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
pub(crate) fn read_problem_hdf5(path: &Path) -> Result<Problem, DataError> {
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
        complex_charges: c.dtype.is_complex(),
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
        Dtype::C128 => {
            let v: Vec<Complex<f64>> = data
                .chunks_exact(2)
                .map(|z| Complex::new(z[0], z[1]))
                .collect();
            g.new_dataset::<Complex<f64>>()
                .shape(shape)
                .create(name)?
                .write_raw(&v)
        }
        Dtype::C64 => {
            let v: Vec<Complex<f32>> = data
                .chunks_exact(2)
                .map(|z| Complex::new(z[0] as f32, z[1] as f32))
                .collect();
            g.new_dataset::<Complex<f32>>()
                .shape(shape)
                .create(name)?
                .write_raw(&v)
        }
    }
}

/// Writes `path` atomically ([`crate::fs::write_atomic`]) with an HDF5 writer that takes the
/// temporary file's path.
#[cfg(feature = "hdf5")]
fn write_hdf5_atomic(
    path: &Path,
    write: impl FnOnce(&Path) -> hdf5::Result<()>,
) -> Result<(), DataError> {
    write_atomic(
        path,
        |e| output_err(path, e.to_string()),
        |_, tmp| write(tmp).map_err(|e| output_err(path, e.to_string())),
    )
}

#[cfg(feature = "hdf5")]
pub(crate) fn write_problem_hdf5(path: &Path, p: &Problem) -> Result<(), DataError> {
    write_hdf5_atomic(path, |tmp| {
        let file = hdf5::File::create(tmp)?;
        let g = file.create_group("particle_data")?;
        let n = p.n_sources();
        put_dataset(&g, "sources", &[n, p.dim], p.dtype, &p.sources)?;
        put_dataset(&g, "source_densities", &[n], p.charge_dtype(), &p.charges)?;
        let tg = p.targets.as_ref().unwrap_or(&p.sources);
        put_dataset(&g, "targets", &[tg.len() / p.dim, p.dim], p.dtype, tg)?;
        file.close()
    })
}

#[cfg(feature = "hdf5")]
pub(crate) fn write_results_hdf5(
    path: &Path,
    input: &Path,
    p: &Problem,
    r: &Results,
) -> Result<(), DataError> {
    let copied = is_hdf5(input);
    write_hdf5_atomic(path, |tmp| {
        let file = if copied {
            // Overwrites the temporary in place (same file), then opens the copy.
            fs::copy(input, tmp).map_err(|e| hdf5::Error::from(e.to_string()))?;
            hdf5::File::open_rw(tmp)?
        } else {
            hdf5::File::create(tmp)?
        };
        let g = match file.group("particle_data") {
            Ok(g) => g,
            Err(_) => file.create_group("particle_data")?,
        };
        if !copied {
            let n = p.n_sources();
            put_dataset(&g, "sources", &[n, p.dim], p.dtype, &p.sources)?;
            put_dataset(&g, "source_densities", &[n], p.charge_dtype(), &p.charges)?;
            let tg = p.targets.as_ref().unwrap_or(&p.sources);
            put_dataset(&g, "targets", &[tg.len() / p.dim, p.dim], p.dtype, tg)?;
        }
        let m = r.n_targets();
        put_dataset(&g, "potentials", &[m], r.dtype, &r.potentials)?;
        match &r.gradients {
            Some(gr) => put_dataset(&g, "gradients", &[m, r.dim], r.dtype, gr)?,
            None if g.link_exists("gradients") => g.unlink("gradients")?,
            None => {}
        }
        file.close()
    })
}
