//! Where a build's operators come from: the operator cache (opened while the tree is built),
//! or computed, saved and mapped, or computed in memory when the cache is off, the kernel is
//! not cached or the cache cannot be written.

use std::cell::OnceCell;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rayon::prelude::*;

use super::level_set::{LevelSet, level_set};
use super::m2l_fft::transfer_functions;
use super::params::{LevelScales, OperatorParams};
use super::store::{Operators, SetArray, SetLayout, Store};
use crate::cache::{
    CacheMode, CacheOutcome, CacheParams, LoadTimes, OperatorCache, OwnedArray, OwnedData,
    load_or_create_timed, open_verified,
};
use crate::error::{Error, Result};
use crate::geometry::surface::surface_len;
use crate::geometry::transfer::transfer_vectors;
use crate::kernel::{Kernel, Scaling};
use crate::scalar::Value;
use crate::scalar::{Precision, Real};
use crate::tree::LinearTree;

/// Where a build's operators came from (the build report's `cache`); its `Display` is the
/// one-line note the reports print.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum OperatorSource {
    /// Read from the operator cache file.
    Loaded {
        /// The cache file.
        path: PathBuf,
    },
    /// There was no cache file: computed, then saved to it.
    Saved {
        /// The cache file.
        path: PathBuf,
    },
    /// The cache file could not be used: recomputed, and the file replaced.
    Replaced {
        /// The cache file.
        path: PathBuf,
        /// Why the old file was rejected.
        reason: String,
    },
    /// The cache file could not be written or read back (read-only directory, full disk):
    /// computed in memory.
    Unusable {
        /// The cache file.
        path: PathBuf,
        /// The error that made it unusable.
        error: String,
    },
    /// Computed in memory: caching is off.
    #[default]
    NotCached,
    /// One operator set per tree level (kernels that are not homogeneous): where each came
    /// from, level by level.
    PerLevel {
        /// The source of each level's set.
        sets: Vec<OperatorSource>,
    },
}

impl OperatorSource {
    /// The cache file, where there is one (for per-level sets: none, see `sets`).
    pub fn path(&self) -> Option<&Path> {
        match self {
            OperatorSource::Loaded { path }
            | OperatorSource::Saved { path }
            | OperatorSource::Replaced { path, .. }
            | OperatorSource::Unusable { path, .. } => Some(path),
            OperatorSource::NotCached | OperatorSource::PerLevel { .. } => None,
        }
    }
}

impl std::fmt::Display for OperatorSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OperatorSource::Loaded { path } => write!(f, "loaded {}", path.display()),
            OperatorSource::Saved { path } => write!(f, "computed, saved to {}", path.display()),
            OperatorSource::Replaced { path, reason } => write!(
                f,
                "cache was invalid ({reason}); recomputed, saved to {}",
                path.display()
            ),
            OperatorSource::Unusable { error, .. } => {
                write!(f, "computed in memory; operator cache unusable: {error}")
            }
            OperatorSource::NotCached => write!(f, "computed in memory (not cached)"),
            OperatorSource::PerLevel { sets } => {
                let count =
                    |pick: fn(&OperatorSource) -> bool| sets.iter().filter(|s| pick(s)).count();
                let loaded = count(|s| matches!(s, OperatorSource::Loaded { .. }));
                let saved = count(|s| {
                    matches!(
                        s,
                        OperatorSource::Saved { .. } | OperatorSource::Replaced { .. }
                    )
                });
                let memory = sets.len() - loaded - saved;
                write!(
                    f,
                    "{} per-level sets: {loaded} loaded, {saved} computed and saved, {memory} computed in memory",
                    sets.len()
                )?;
                if let Some(dir) = sets.iter().find_map(|s| s.path()).and_then(|p| p.parent()) {
                    write!(f, " ({})", dir.display())?;
                }
                Ok(())
            }
        }
    }
}

/// The operator-cache parameters of the operator set that `build()` computes for `kernel` on
/// the unit box (what a homogeneous kernel uses at every level), in dimension `D`, precision
/// `T`, order `order` and operator parameters `prm`, so that tools can find or pre-build the
/// same cache file.
pub fn cache_params<K: Kernel<D>, const D: usize, T: Real>(
    kernel: &K,
    order: usize,
    prm: &OperatorParams,
) -> CacheParams {
    set_params::<K, D, T>(kernel, order, prm, None)
}

/// The cache parameters of the set for `kernel`, keyed by the boxes' half-width when
/// `half_width` is given (per-level sets of [`Scaling::PerLevel`] kernels).
fn set_params<K: Kernel<D>, const D: usize, T: Real>(
    kernel: &K,
    order: usize,
    prm: &OperatorParams,
    half_width: Option<f64>,
) -> CacheParams {
    let id = kernel.id();
    let mut extra = vec![
        ("pinv_tolerance".to_string(), prm.pinv_tolerance),
        // 2: FFT transfer functions added. 3: M2L cores recompressed per transfer vector.
        // 4: check-to-equivalent operators stored in f64 for every precision.
        // 5: one shared M2L basis for symmetric kernels; cores by randomised SVD.
        // 6: one set per file; the kernel's identity in the parameters.
        ("operator_set_version".to_string(), 6.0),
        ("kernel_version".to_string(), id.version as f64),
    ];
    extra.extend(
        id.params
            .into_iter()
            .map(|(name, v)| (format!("kernel.{name}"), v)),
    );
    if let Some(r) = half_width {
        extra.push(("half_width".to_string(), r));
    }
    CacheParams {
        kernel: id.name,
        dim: D as u32,
        order: order as u32,
        precision: T::PRECISION.name().to_string(),
        alpha_inner: prm.alpha_inner,
        alpha_outer: prm.alpha_outer,
        tolerance: prm.m2l_tolerance,
        extra,
    }
}

/// One operator set a tree needs: the kernel it is computed for, the half-width of its boxes,
/// and whether that half-width is part of its cache key.
struct SetSpec<K> {
    kernel: K,
    radius: f64,
    keyed_by_radius: bool,
}

/// The operator sets for a tree whose levels have boxes of half-width `half_width[l]`, the set
/// each level uses, and the per-level scales (see [`Scaling`]).
fn plan_sets<K: Kernel<D>, const D: usize>(
    kernel: &K,
    half_width: &[f64],
) -> (Vec<SetSpec<K>>, Vec<usize>, Vec<LevelScales>) {
    let levels = half_width.len();
    let (specs, set_of_level, degree) = match kernel.scaling() {
        Scaling::Homogeneous { degree } => {
            let unit = SetSpec {
                kernel: kernel.clone(),
                radius: 1.0,
                keyed_by_radius: false,
            };
            (vec![unit], vec![0; levels], Some(degree))
        }
        Scaling::Rescaled { degree } => {
            let specs = half_width
                .iter()
                .map(|&r| SetSpec {
                    kernel: kernel.rescaled(r),
                    radius: 1.0,
                    keyed_by_radius: false,
                })
                .collect();
            (specs, (0..levels).collect(), Some(degree))
        }
        Scaling::PerLevel => {
            let specs = half_width
                .iter()
                .map(|&r| SetSpec {
                    kernel: kernel.clone(),
                    radius: r,
                    keyed_by_radius: true,
                })
                .collect();
            (specs, (0..levels).collect(), None)
        }
    };
    let scales = half_width
        .iter()
        .map(|&r| LevelScales::new(r, degree))
        .collect();
    (specs, set_of_level, scales)
}

/// `v` in precision `T`, as stored.
fn in_precision<T: Real>(v: &[f64]) -> OwnedData {
    match T::PRECISION {
        Precision::F64 => OwnedData::F64(v.to_vec()),
        Precision::F32 => OwnedData::F32(v.iter().map(|&x| x as f32).collect()),
    }
}

/// Array `a` of a set: its name, shape and data, in f64 where [`SetArray::always_f64`] says
/// so and in `T` otherwise.
fn array<T: Real>(a: SetArray, shape: Vec<usize>, v: &[f64]) -> OwnedArray {
    OwnedArray {
        name: a.name().to_string(),
        shape,
        data: if a.always_f64() {
            OwnedData::F64(v.to_vec())
        } else {
            in_precision::<T>(v)
        },
    }
}

/// The arrays of a level set.
fn set_arrays<T: Real>(ls: &LevelSet, n: usize) -> Vec<OwnedArray> {
    use SetArray::*;
    let fshape = |f: &super::c2e::Factored, first: bool| -> Vec<usize> {
        match (f.rank, first) {
            (0, true) => vec![f.rows, f.cols],
            (0, false) => vec![0],
            (r, true) => vec![f.rows, r],
            (r, false) => vec![r, f.cols],
        }
    };
    let k = ls.m2l_rank;
    let c = ls.m2m.len() / (n * n);
    let ranks: Vec<f64> = ls.m2l_core_ranks.iter().map(|&r| r as f64).collect();
    vec![
        array::<T>(Uc2eA, fshape(&ls.uc2e, true), &ls.uc2e.a),
        array::<T>(Uc2eB, fshape(&ls.uc2e, false), &ls.uc2e.b),
        array::<T>(Dc2eA, fshape(&ls.dc2e, true), &ls.dc2e.a),
        array::<T>(Dc2eB, fshape(&ls.dc2e, false), &ls.dc2e.b),
        array::<T>(M2m, vec![n, c * n], &ls.m2m),
        array::<T>(L2l, vec![c, n, n], &ls.l2l),
        array::<T>(M2lU, vec![n, k], &ls.m2l_u),
        array::<T>(M2lVt, vec![k, n], &ls.m2l_vt),
        array::<T>(M2lCoreA, vec![ls.m2l_core_a.len()], &ls.m2l_core_a),
        array::<T>(M2lCoreBt, vec![ls.m2l_core_bt.len()], &ls.m2l_core_bt),
        array::<T>(M2lCoreRank, vec![ranks.len()], &ranks),
    ]
}

/// Every operator array of the set for `kernel` and boxes of half-width `r`, in precision
/// `T` (the check-to-equivalent operators in f64).
fn compute_arrays<K: Kernel<D>, const D: usize, T: Real>(
    kernel: &K,
    order: usize,
    r: f64,
    prm: &OperatorParams,
) -> Result<Vec<OwnedArray>> {
    let ls = level_set(kernel, order, r, prm)?;
    let reals = <K::Value<f64> as Value>::REALS;
    let n = surface_len(D, order) * reals;
    let mut arrays = set_arrays::<T>(&ls, n);
    if D == 3 {
        let nt = transfer_vectors::<D>().len();
        let (re, im) = transfer_functions(kernel, order, r, prm.alpha_inner);
        let nf = re.len() / nt;
        arrays.push(array::<T>(SetArray::FftRe, vec![nf, nt], &re));
        arrays.push(array::<T>(SetArray::FftIm, vec![nf, nt], &im));
    }
    Ok(arrays)
}

/// The tree-independent first step of operator loading for a homogeneous kernel (one set,
/// whatever the tree): the existing operator cache file, opened and verified, with its path,
/// parameters and how long that took. Run by `build()` concurrently with tree and list
/// construction. If it failed (no file, or an unusable one), [`Operators::load`] goes through
/// the cache's load-or-create, which says why and recomputes, only once the tree was built:
/// invalid input is reported before any precomputation starts.
pub(crate) struct CacheLoad {
    path: PathBuf,
    params: CacheParams,
    first: Result<(OperatorCache, LoadTimes)>,
    /// How long opening and verifying took.
    pub(crate) elapsed: Duration,
}

impl CacheLoad {
    /// Opens and verifies the file of `params` in `dir`.
    fn open(dir: &Path, params: CacheParams) -> Self {
        let t0 = Instant::now();
        let path = dir.join(params.file_name());
        let mut times = LoadTimes::default();
        let first = open_verified(&path, &params, &mut times).map(|c| (c, times));
        CacheLoad {
            path,
            params,
            first,
            elapsed: t0.elapsed(),
        }
    }
}

/// One set's store: from its cache file (`cached`, already opened, or the file of `params`
/// in `dir`), else computed by `compute` and saved there; computed in memory when the cache is
/// off (`dir` is `None`) or cannot be written.
fn load_set<T: Real>(
    dir: Option<&Path>,
    params: CacheParams,
    cached: Option<CacheLoad>,
    compute: impl Fn() -> Result<Vec<OwnedArray>>,
) -> Result<(Store<T>, OperatorSource, LoadTimes)> {
    let owned = |arrays: Vec<OwnedArray>| {
        Store::Owned(
            arrays.into_iter().map(|a| (a.name, a.data)).collect(),
            PhantomData,
        )
    };
    let cached = match (cached, dir) {
        (Some(c), _) => c,
        (None, Some(dir)) => CacheLoad::open(dir, params),
        (None, None) => {
            return Ok((
                owned(compute()?),
                OperatorSource::NotCached,
                LoadTimes::default(),
            ));
        }
    };
    let CacheLoad {
        path,
        params,
        first,
        ..
    } = cached;
    // Operators computed for the cache, kept in case the file cannot be written.
    let mut computed: OnceCell<Vec<OwnedArray>> = OnceCell::new();
    let loaded = first
        .map(|(cache, t)| (cache, CacheOutcome::Loaded, t))
        .or_else(|_| {
            load_or_create_timed(&path, &params, || {
                if computed.get().is_none() {
                    let _ = computed.set(compute()?);
                }
                Ok(computed.get().expect("set above").clone())
            })
        });
    match loaded {
        Ok((cache, outcome, times)) => {
            let source = match outcome {
                CacheOutcome::Loaded => OperatorSource::Loaded { path },
                CacheOutcome::Created => OperatorSource::Saved { path },
                CacheOutcome::Replaced { reason } => OperatorSource::Replaced { path, reason },
            };
            Ok((Store::Mapped(Box::new(cache)), source, times))
        }
        // A cache that cannot be written (read-only home, full disk) must not stop the FMM:
        // compute in memory and say why.
        Err(e @ (Error::Io { .. } | Error::Cache { .. })) => {
            // Reuse the arrays computed for the failed write, if any.
            let arrays = match computed.take() {
                Some(arrays) => arrays,
                None => compute()?,
            };
            let source = OperatorSource::Unusable {
                path,
                error: e.to_string(),
            };
            log::warn!("{source}");
            Ok((owned(arrays), source, LoadTimes::default()))
        }
        Err(e) => Err(e),
    }
}

impl<T: Real> Operators<T> {
    /// Opens and verifies an existing operator cache file. `None` when it cannot be done
    /// before the tree is built: caching is off, or the kernel is not homogeneous (its sets
    /// depend on the tree's box sizes).
    pub(crate) fn load_cache<K: Kernel<D>, const D: usize>(
        kernel: &K,
        order: usize,
        prm: &OperatorParams,
        mode: &CacheMode,
    ) -> Option<CacheLoad> {
        if !matches!(kernel.scaling(), Scaling::Homogeneous { .. }) {
            return None;
        }
        let dir = mode.directory()?;
        Some(CacheLoad::open(
            &dir,
            cache_params::<K, D, T>(kernel, order, prm),
        ))
    }

    /// Operators for `tree`: each set from the cache when it is on (the homogeneous kernel's
    /// one set from `cached`, the result of [`Self::load_cache`] for the same kernel, order,
    /// parameters and mode), else computed in memory. Per-level sets are loaded or computed in
    /// parallel. Also returns where they came from and the (open, verify) times of the cache
    /// files.
    pub(crate) fn load<K: Kernel<D>, const D: usize>(
        kernel: &K,
        order: usize,
        tree: &LinearTree<D>,
        prm: &OperatorParams,
        mode: &CacheMode,
        cached: Option<CacheLoad>,
    ) -> Result<(Self, OperatorSource, LoadTimes)> {
        let depth = tree.depth() as usize;
        let root_half = 0.5 * tree.domain().width;
        let half_width: Vec<f64> = (0..=depth)
            .map(|l| root_half / (1u64 << l) as f64)
            .collect();
        let (specs, set_of_level, scales) = plan_sets(kernel, &half_width);
        let dir = mode.directory();
        // The homogeneous kernel's one set may have been opened already.
        let mut first = cached;
        let jobs: Vec<(&SetSpec<K>, Option<CacheLoad>)> =
            specs.iter().map(|spec| (spec, first.take())).collect();
        let loaded: Vec<(Store<T>, OperatorSource, LoadTimes)> = jobs
            .into_par_iter()
            .map(|(spec, cached)| {
                let params = set_params::<K, D, T>(
                    &spec.kernel,
                    order,
                    prm,
                    spec.keyed_by_radius.then_some(spec.radius),
                );
                load_set::<T>(dir.as_deref(), params, cached, || {
                    compute_arrays::<K, D, T>(&spec.kernel, order, spec.radius, prm)
                })
            })
            .collect::<Result<_>>()?;
        let mut times = LoadTimes::default();
        let mut stores = Vec::with_capacity(loaded.len());
        let mut sources = Vec::with_capacity(loaded.len());
        for (store, source, t) in loaded {
            times.open += t.open;
            times.verify += t.verify;
            times.by_stamp |= t.by_stamp;
            stores.push(store);
            sources.push(source);
        }
        let source = if sources.len() == 1 {
            sources.pop().expect("one set")
        } else {
            OperatorSource::PerLevel { sets: sources }
        };
        let layout = SetLayout {
            set_of_level,
            scales,
            half_width,
        };
        let reals = <K::Value<f64> as Value>::REALS;
        let ops = Self::new::<D>(stores, order, reals, layout, prm)?;
        Ok((ops, source, times))
    }
}
