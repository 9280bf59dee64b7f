//! HDF5 interchange of the operator cache (feature `hdf5`): export to, and import from, the
//! layout documented in the module docs of [`crate::cache`].

use std::path::Path;

use super::format::{DType, NamedArray, OwnedArray, OwnedData};
use super::mapped::OperatorCache;
use super::params::CacheParams;
use super::write::write_cache;
use crate::error::{Error, Result};
use crate::fs::{create_parent, write_atomic};

/// Version of the HDF5 layout described in the module docs (root attribute `format_version`).
pub const HDF5_FORMAT_VERSION: u32 = 1;

const HDF5_FORMAT: &str = "oxifmm-operators";

fn h5err(path: &Path, what: impl std::fmt::Display) -> impl Fn(hdf5::Error) -> Error + '_ {
    let what = what.to_string();
    move |e| Error::Hdf5 {
        path: path.to_path_buf(),
        reason: format!("{what}: {e}"),
    }
}

fn write_hdf5_contents(cache: &OperatorCache, tmp: &Path) -> Result<()> {
    use hdf5::types::VarLenUnicode;
    let vlu = |s: &str| -> Result<VarLenUnicode> {
        s.parse().map_err(|e| Error::Hdf5 {
            path: tmp.to_path_buf(),
            reason: format!("string {s:?} cannot be stored: {e}"),
        })
    };
    let file = hdf5::File::create(tmp).map_err(h5err(tmp, "cannot create file"))?;
    let p = cache.params();
    let str_attr = |name: &str, value: &str| -> Result<()> {
        let a = file
            .new_attr::<VarLenUnicode>()
            .shape(())
            .create(name)
            .map_err(h5err(tmp, format!("attribute {name}")))?;
        a.write_scalar(&vlu(value)?)
            .map_err(h5err(tmp, format!("attribute {name}")))
    };
    let u32_attr = |name: &str, value: u32| -> Result<()> {
        let a = file
            .new_attr::<u32>()
            .shape(())
            .create(name)
            .map_err(h5err(tmp, format!("attribute {name}")))?;
        a.write_scalar(&value)
            .map_err(h5err(tmp, format!("attribute {name}")))
    };
    let f64_attr = |name: &str, value: f64| -> Result<()> {
        let a = file
            .new_attr::<f64>()
            .shape(())
            .create(name)
            .map_err(h5err(tmp, format!("attribute {name}")))?;
        a.write_scalar(&value)
            .map_err(h5err(tmp, format!("attribute {name}")))
    };
    str_attr("format", HDF5_FORMAT)?;
    u32_attr("format_version", HDF5_FORMAT_VERSION)?;
    str_attr("kernel", &p.kernel)?;
    u32_attr("dim", p.dim)?;
    u32_attr("order", p.order)?;
    str_attr("precision", &p.precision)?;
    f64_attr("alpha_inner", p.alpha_inner)?;
    f64_attr("alpha_outer", p.alpha_outer)?;
    f64_attr("tolerance", p.tolerance)?;

    let extra = file
        .create_group("params_extra")
        .map_err(h5err(tmp, "group /params_extra"))?;
    let names: Vec<VarLenUnicode> = p.extra.iter().map(|(n, _)| vlu(n)).collect::<Result<_>>()?;
    let values: Vec<f64> = p.extra.iter().map(|&(_, v)| v).collect();
    extra
        .new_dataset::<VarLenUnicode>()
        .shape([names.len()])
        .create("names")
        .and_then(|d| d.write_raw(&names))
        .map_err(h5err(tmp, "dataset /params_extra/names"))?;
    extra
        .new_dataset::<f64>()
        .shape([values.len()])
        .create("values")
        .and_then(|d| d.write_raw(&values))
        .map_err(h5err(tmp, "dataset /params_extra/values"))?;

    let ops = file
        .create_group("operators")
        .map_err(h5err(tmp, "group /operators"))?;
    for (index, e) in cache.entries.iter().enumerate() {
        if e.name.contains('/') || e.name == "." {
            return Err(Error::Hdf5 {
                path: tmp.to_path_buf(),
                reason: format!("array name {:?} cannot be an HDF5 dataset name", e.name),
            });
        }
        let what = format!("dataset /operators/{}", e.name);
        let ds = match e.dtype {
            DType::F64 => {
                let data = cache.f64(&e.name)?;
                ops.new_dataset::<f64>()
                    .shape(e.shape.clone())
                    .create(e.name.as_str())
                    .and_then(|d| d.write_raw(data).map(|()| d))
            }
            DType::F32 => {
                let data = cache.f32(&e.name)?;
                ops.new_dataset::<f32>()
                    .shape(e.shape.clone())
                    .create(e.name.as_str())
                    .and_then(|d| d.write_raw(data).map(|()| d))
            }
        }
        .map_err(h5err(tmp, &what))?;
        let index = u32::try_from(index).unwrap_or(u32::MAX);
        ds.new_attr::<u32>()
            .shape(())
            .create("index")
            .and_then(|a| a.write_scalar(&index))
            .map_err(h5err(tmp, format!("{what}: attribute index")))?;
    }
    file.close().map_err(h5err(tmp, "cannot close file"))?;
    Ok(())
}

/// Exports the cache's parameters and arrays to an HDF5 file with the layout in the module
/// docs. Atomic: writes a temporary `.h5` in the same directory and renames it onto `h5_path`
/// (parent directories are created).
///
/// Errors: [`Error::Hdf5`] for HDF5 failures (including array names containing `/`),
/// [`Error::Io`] for file system failures.
pub fn export_hdf5(cache: &OperatorCache, h5_path: &Path) -> Result<()> {
    create_parent(h5_path).map_err(Error::io(h5_path))?;
    write_atomic(h5_path, Error::io(h5_path), |_, tmp| {
        write_hdf5_contents(cache, tmp)
    })
}

fn read_hdf5(h5_path: &Path) -> Result<(CacheParams, Vec<OwnedArray>)> {
    use hdf5::types::{FloatSize, TypeDescriptor, VarLenUnicode};
    let err = |reason: String| Error::Hdf5 {
        path: h5_path.to_path_buf(),
        reason,
    };
    let file = hdf5::File::open(h5_path).map_err(h5err(h5_path, "cannot open file"))?;
    let str_attr = |name: &str| -> Result<String> {
        file.attr(name)
            .and_then(|a| a.read_scalar::<VarLenUnicode>())
            .map(|s| s.as_str().to_string())
            .map_err(h5err(h5_path, format!("attribute {name}")))
    };
    let u32_attr = |name: &str| -> Result<u32> {
        file.attr(name)
            .and_then(|a| a.read_scalar::<u32>())
            .map_err(h5err(h5_path, format!("attribute {name}")))
    };
    let f64_attr = |name: &str| -> Result<f64> {
        file.attr(name)
            .and_then(|a| a.read_scalar::<f64>())
            .map_err(h5err(h5_path, format!("attribute {name}")))
    };
    let format = str_attr("format")?;
    if format != HDF5_FORMAT {
        return Err(err(format!(
            "attribute format is {format:?}, expected {HDF5_FORMAT:?}"
        )));
    }
    let version = u32_attr("format_version")?;
    if version != HDF5_FORMAT_VERSION {
        return Err(err(format!(
            "format_version is {version}, this build reads {HDF5_FORMAT_VERSION}"
        )));
    }
    let names: Vec<VarLenUnicode> = file
        .dataset("params_extra/names")
        .and_then(|d| d.read_raw())
        .map_err(h5err(h5_path, "dataset /params_extra/names"))?;
    let values: Vec<f64> = file
        .dataset("params_extra/values")
        .and_then(|d| d.read_raw())
        .map_err(h5err(h5_path, "dataset /params_extra/values"))?;
    if names.len() != values.len() {
        return Err(err(format!(
            "/params_extra has {} names but {} values",
            names.len(),
            values.len()
        )));
    }
    let params = CacheParams {
        kernel: str_attr("kernel")?,
        dim: u32_attr("dim")?,
        order: u32_attr("order")?,
        precision: str_attr("precision")?,
        alpha_inner: f64_attr("alpha_inner")?,
        alpha_outer: f64_attr("alpha_outer")?,
        tolerance: f64_attr("tolerance")?,
        extra: names
            .iter()
            .map(|n| n.as_str().to_string())
            .zip(values)
            .collect(),
    };

    let ops = file
        .group("operators")
        .map_err(h5err(h5_path, "group /operators"))?;
    let members = ops
        .member_names()
        .map_err(h5err(h5_path, "group /operators"))?;
    let mut arrays = Vec::with_capacity(members.len());
    for name in members {
        let what = format!("dataset /operators/{name}");
        let ds = ops.dataset(&name).map_err(h5err(h5_path, &what))?;
        let shape = ds.shape();
        let desc = ds
            .dtype()
            .and_then(|t| t.to_descriptor())
            .map_err(h5err(h5_path, &what))?;
        let data = match desc {
            TypeDescriptor::Float(FloatSize::U8) => {
                OwnedData::F64(ds.read_raw::<f64>().map_err(h5err(h5_path, &what))?)
            }
            TypeDescriptor::Float(FloatSize::U4) => {
                OwnedData::F32(ds.read_raw::<f32>().map_err(h5err(h5_path, &what))?)
            }
            other => {
                return Err(err(format!("{what} has unsupported type {other}")));
            }
        };
        let index = ds
            .attr("index")
            .and_then(|a| a.read_scalar::<u32>())
            .unwrap_or(u32::MAX);
        arrays.push((index, OwnedArray { name, shape, data }));
    }
    arrays.sort_by(|a, b| (a.0, &a.1.name).cmp(&(b.0, &b.1.name)));
    Ok((params, arrays.into_iter().map(|(_, a)| a).collect()))
}

/// Imports an HDF5 file with the layout in the module docs: reads the parameters and arrays,
/// writes them as a memory-mapped cache at `cache_path` ([`write_cache`]) and opens it.
///
/// Errors: [`Error::Hdf5`] for an unreadable file or missing/corrupt attributes or datasets;
/// the errors of [`write_cache`] and [`OperatorCache::open`].
pub fn import_hdf5(h5_path: &Path, cache_path: &Path) -> Result<OperatorCache> {
    let (params, arrays) = read_hdf5(h5_path)?;
    write_imported(h5_path, cache_path, &params, &arrays)?;
    OperatorCache::open(cache_path, &params)
}

/// Writes the arrays read from `h5_path` as a cache file at `cache_path`; an array the cache
/// cannot hold is a fault of the HDF5 file.
fn write_imported(
    h5_path: &Path,
    cache_path: &Path,
    params: &CacheParams,
    arrays: &[OwnedArray],
) -> Result<()> {
    let views: Vec<NamedArray> = arrays.iter().map(OwnedArray::view).collect();
    write_cache(cache_path, params, &views).map_err(|e| match e {
        Error::InvalidParameter { reason, .. } => Error::Hdf5 {
            path: h5_path.to_path_buf(),
            reason,
        },
        other => other,
    })
}

/// Imports an HDF5 file (as [`import_hdf5`]) into the cache directory `dir`, under the file
/// name its parameters give ([`CacheParams::file_name`]), so that a build with the same
/// parameters finds it.
///
/// Errors: as [`import_hdf5`].
pub fn import_hdf5_into(h5_path: &Path, dir: &Path) -> Result<OperatorCache> {
    let (params, arrays) = read_hdf5(h5_path)?;
    let path = dir.join(params.file_name());
    write_imported(h5_path, &path, &params, &arrays)?;
    OperatorCache::open(&path, &params)
}
