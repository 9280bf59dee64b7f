//! `oxifmm operators`: fill the operator cache; export it to, or import it from, HDF5.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
#[cfg(feature = "hdf5")]
use oxifmm::Error;
use oxifmm::points::{Distribution, generate};
use oxifmm::{Accuracy, CacheMode, Coords, DynFmm, FmmConfig, OperatorCache, OperatorSource};
#[cfg(feature = "hdf5")]
use oxifmm::{CacheParams, Kernel, Laplace, OperatorParams, Real};

use crate::cli::{Fail, Ui, cache_mode};
use oxifmm::Precision;

#[derive(Args, Debug)]
pub struct OperatorsArgs {
    /// Expansion order (the supported orders are listed at the end of `oxifmm --help`). Not
    /// needed with --import.
    #[arg(long, required_unless_present = "import")]
    pub order: Option<usize>,
    /// Dimension. Only 3D operators are cached: 2D Laplace is not homogeneous, its operators
    /// depend on the tree and are computed per run.
    #[arg(long, default_value_t = 3)]
    pub dim: usize,
    /// Precision of the operators.
    #[arg(long, value_enum, default_value = "f64")]
    pub precision: Precision,
    /// Cache directory (default: $OXIFMM_CACHE_DIR, else $XDG_CACHE_HOME/oxifmm, else
    /// ~/.cache/oxifmm).
    #[arg(long)]
    pub cache_dir: Option<PathBuf>,
    /// After precomputing (or loading), export the operators to this HDF5 file (feature hdf5).
    #[arg(long, conflicts_with = "import")]
    pub export: Option<PathBuf>,
    /// Convert this HDF5 operator file (written by --export) into the cache (feature hdf5);
    /// its parameters come from the file.
    #[arg(long)]
    pub import: Option<PathBuf>,
}

/// The cache parameters `Fmm::build` uses for Laplace at order P in precision T.
#[cfg(feature = "hdf5")]
fn cache_params<const D: usize, T: Real>(order: usize) -> CacheParams
where
    Laplace: Kernel<D>,
{
    let prm = OperatorParams::defaults(order, T::EPSILON.to_f64());
    oxifmm::operators::cache_params::<Laplace, D, T>(&Laplace, order, &prm)
}

/// Computes (or finds) the cached Laplace 3D operators of `order` in `precision` by building
/// an FMM over a small point set: `(what happened, the cache file, the time taken)`.
pub fn precompute(
    order: usize,
    precision: Precision,
    mode: &CacheMode,
) -> Result<(String, Option<PathBuf>, Duration), Fail> {
    let pts = generate::<f64, 3>(Distribution::Uniform, 512, 1);
    let config = FmmConfig {
        accuracy: Accuracy::Order(order),
        precision: Some(precision),
        leaf: 64,
        cache: mode.clone(),
        ..FmmConfig::default()
    };
    let fmm = DynFmm::build(&config, 3, Coords::F64(pts.as_flattened()), None)?;
    let r = fmm.build_report();
    // The library fell back to memory; for this command the cache file is the output.
    if let OperatorSource::Unusable { error, .. } = &r.cache {
        return Err(Fail::Output(format!(
            "cannot write the operator cache: {error}"
        )));
    }
    let path = r.cache.path().map(PathBuf::from);
    Ok((r.cache.to_string(), path, r.operators))
}

pub fn cmd_operators(a: &OperatorsArgs, ui: &Ui) -> Result<(), Fail> {
    let dir = cache_mode(&a.cache_dir, false)
        .directory()
        .expect("a cache directory");
    if let Some(h5) = &a.import {
        return import(h5, &dir, ui);
    }
    if a.dim != 3 {
        return Err(Fail::Usage(
            "only 3D operators are cached (2D Laplace is not homogeneous: its operators are \
             computed per tree level in every run)"
                .into(),
        ));
    }
    let order = a.order.expect("clap requires --order without --import");
    #[cfg(not(feature = "hdf5"))]
    if let Some(e) = &a.export {
        return Err(Fail::Usage(format!(
            "--export {}: HDF5 needs oxifmm built with `--features hdf5`",
            e.display()
        )));
    }
    let pb = ui.spinner(format!(
        "operators: Laplace 3D, order {order}, {}",
        a.precision.name()
    ));
    let mode = CacheMode::Dir(dir.clone());
    let (note, path, took) = precompute(order, a.precision, &mode)?;
    pb.finish_and_clear();
    let path = path.expect("3D Laplace operators are cached");
    ui.say(format!(
        "operators: {note} ({:.3} s)\ncache file: {}",
        took.as_secs_f64(),
        path.display()
    ));
    #[cfg(feature = "hdf5")]
    if let Some(h5) = &a.export {
        let params = match a.precision {
            Precision::F64 => cache_params::<3, f64>(order),
            Precision::F32 => cache_params::<3, f32>(order),
        };
        let cache = OperatorCache::open(&path, &params)?;
        oxifmm::cache::export_hdf5(&cache, h5).map_err(|e| Fail::Output(e.to_string()))?;
        ui.say(format!("exported to {}", h5.display()));
    }
    #[cfg(not(feature = "hdf5"))]
    let _ = (OperatorCache::open, &a.export);
    Ok(())
}

#[cfg(feature = "hdf5")]
fn import(h5: &Path, dir: &Path, ui: &Ui) -> Result<(), Fail> {
    if !h5.exists() {
        return Err(Fail::Input(format!(
            "bad input {}: no such file",
            h5.display()
        )));
    }
    let cache = oxifmm::cache::import_hdf5_into(h5, dir).map_err(|e| match e {
        Error::Hdf5 { .. } => Fail::Input(e.to_string()),
        other => Fail::from(other),
    })?;
    let params = cache.params();
    ui.say(format!(
        "imported {} ({} {}D order {} {})\ncache file: {}",
        h5.display(),
        params.kernel,
        params.dim,
        params.order,
        params.precision,
        cache.path().display()
    ));
    Ok(())
}

#[cfg(not(feature = "hdf5"))]
fn import(h5: &Path, _dir: &Path, _ui: &Ui) -> Result<(), Fail> {
    Err(Fail::Usage(format!(
        "--import {}: HDF5 needs oxifmm built with `--features hdf5`",
        h5.display()
    )))
}
