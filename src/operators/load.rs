//! Where a build's operators come from: the operator cache (opened while the tree is built),
//! or computed, saved and mapped, or computed in memory when the cache is off, the kernel is
//! not cached or the cache cannot be written.

use std::cell::OnceCell;
use std::marker::PhantomData;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::level_set::{LevelSet, level_set};
use super::params::{LevelScales, OperatorParams};
use super::store::{Operators, SetArray, SetLayout, Store};
use crate::cache::{
    CacheMode, CacheOutcome, CacheParams, LoadTimes, OperatorCache, OwnedArray, OwnedData,
    load_or_create_timed, open_verified,
};
use crate::error::{Error, Result};
use crate::geometry::surface::surface_len;
use crate::geometry::transfer::transfer_vectors;
use crate::kernel::Kernel;
use crate::m2l::fft::transfer::transfer_functions;
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
    /// Computed in memory: caching is off, or the kernel's operators are not cached.
    #[default]
    NotCached,
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
        }
    }
}

/// The operator-cache parameters that `build()` uses for kernel `K`, dimension `D`,
/// precision `T`, order `order` and operator parameters `prm` (so that tools can find or
/// pre-build the same cache file).
pub fn cache_params<K: Kernel<D>, const D: usize, T: Real>(
    order: usize,
    prm: &OperatorParams,
) -> CacheParams {
    CacheParams {
        kernel: K::NAME.to_string(),
        dim: D as u32,
        order: order as u32,
        precision: T::PRECISION.name().to_string(),
        alpha_inner: prm.alpha_inner,
        alpha_outer: prm.alpha_outer,
        tolerance: prm.m2l_tolerance,
        extra: vec![
            ("pinv_tolerance".into(), prm.pinv_tolerance),
            // 2: FFT transfer functions added. 3: M2L cores recompressed per transfer vector.
            // 4: check-to-equivalent operators stored in f64 for every precision.
            // 5: one shared M2L basis for symmetric kernels; cores by randomised SVD.
            ("operator_set_version".into(), 5.0),
        ],
    }
}

/// `v` in precision `T`, as stored.
fn in_precision<T: Real>(v: &[f64]) -> OwnedData {
    match T::PRECISION {
        Precision::F64 => OwnedData::F64(v.to_vec()),
        Precision::F32 => OwnedData::F32(v.iter().map(|&x| x as f32).collect()),
    }
}

/// Array `a` of level set `s`: its key, shape and data, in f64 where [`SetArray::always_f64`]
/// says so and in `T` otherwise.
fn array<T: Real>(s: usize, a: SetArray, shape: Vec<usize>, v: &[f64]) -> OwnedArray {
    OwnedArray {
        name: a.key(s),
        shape,
        data: if a.always_f64() {
            OwnedData::F64(v.to_vec())
        } else {
            in_precision::<T>(v)
        },
    }
}

/// The arrays of level set `s`.
fn set_arrays<T: Real>(s: usize, ls: &LevelSet, n: usize) -> Vec<OwnedArray> {
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
        array::<T>(s, Uc2eA, fshape(&ls.uc2e, true), &ls.uc2e.a),
        array::<T>(s, Uc2eB, fshape(&ls.uc2e, false), &ls.uc2e.b),
        array::<T>(s, Dc2eA, fshape(&ls.dc2e, true), &ls.dc2e.a),
        array::<T>(s, Dc2eB, fshape(&ls.dc2e, false), &ls.dc2e.b),
        array::<T>(s, M2m, vec![n, c * n], &ls.m2m),
        array::<T>(s, L2l, vec![c, n, n], &ls.l2l),
        array::<T>(s, M2lU, vec![n, k], &ls.m2l_u),
        array::<T>(s, M2lVt, vec![k, n], &ls.m2l_vt),
        array::<T>(s, M2lCoreA, vec![ls.m2l_core_a.len()], &ls.m2l_core_a),
        array::<T>(s, M2lCoreBt, vec![ls.m2l_core_bt.len()], &ls.m2l_core_bt),
        array::<T>(s, M2lCoreRank, vec![ranks.len()], &ranks),
    ]
}

/// All operator arrays of one set per radius in `set_radii`, in precision `T` (the
/// check-to-equivalent operators in f64).
fn compute_arrays<K: Kernel<D>, const D: usize, T: Real>(
    order: usize,
    set_radii: &[f64],
    prm: &OperatorParams,
) -> Result<Vec<OwnedArray>> {
    let sets: Vec<LevelSet> = set_radii
        .iter()
        .map(|&r| level_set::<K, D>(order, r, prm))
        .collect::<Result<_>>()?;
    let n = surface_len(D, order);
    let mut arrays: Vec<OwnedArray> = sets
        .iter()
        .enumerate()
        .flat_map(|(s, ls)| set_arrays::<T>(s, ls, n))
        .collect();
    if D == 3 {
        let nt = transfer_vectors::<D>().len();
        for (s, &r) in set_radii.iter().enumerate() {
            let (re, im) = transfer_functions::<K, D>(order, r, prm.alpha_inner);
            let nf = re.len() / nt;
            arrays.push(array::<T>(s, SetArray::FftRe, vec![nf, nt], &re));
            arrays.push(array::<T>(s, SetArray::FftIm, vec![nf, nt], &im));
        }
    }
    Ok(arrays)
}

/// The tree-independent first step of operator loading: the existing operator cache file,
/// opened and verified, with its path, parameters and how long that took. Run by `build()`
/// concurrently with tree and list construction. If it failed (no file, or an unusable one),
/// [`Operators::load`] goes through the cache's load-or-create, which says why and
/// recomputes, only once the tree was built: invalid input is reported before any
/// precomputation starts.
pub(crate) struct CacheLoad {
    path: PathBuf,
    params: CacheParams,
    first: Result<(OperatorCache, LoadTimes)>,
    /// How long opening and verifying took.
    pub(crate) elapsed: Duration,
}

impl<T: Real> Operators<T> {
    /// Opens and verifies an existing operator cache file. `None` when the operators are not
    /// cached: caching is off, or the kernel is not homogeneous (its per-level operators depend
    /// on the tree). Needs no tree.
    pub(crate) fn load_cache<K: Kernel<D>, const D: usize>(
        order: usize,
        prm: &OperatorParams,
        mode: &CacheMode,
    ) -> Option<CacheLoad> {
        K::HOMOGENEOUS_DEGREE?;
        let dir = mode.directory()?;
        let t0 = Instant::now();
        let params = cache_params::<K, D, T>(order, prm);
        let path = dir.join(params.file_name());
        let mut times = LoadTimes::default();
        let first = open_verified(&path, &params, &mut times).map(|c| (c, times));
        Some(CacheLoad {
            path,
            params,
            first,
            elapsed: t0.elapsed(),
        })
    }

    /// Operators for `tree`: from `cached` (the result of [`Self::load_cache`] for the same
    /// order, parameters and mode) when the kernel is cacheable, else computed in memory.
    /// Also returns where they came from and the (open, verify) times of the cache file.
    pub(crate) fn load<K: Kernel<D>, const D: usize>(
        order: usize,
        tree: &LinearTree<D>,
        prm: &OperatorParams,
        cached: Option<CacheLoad>,
    ) -> Result<(Self, OperatorSource, LoadTimes)> {
        let depth = tree.depth() as usize;
        let root_half = 0.5 * tree.domain().width;
        let half_width: Vec<f64> = (0..=depth)
            .map(|l| root_half / (1u64 << l) as f64)
            .collect();
        let homogeneous = K::HOMOGENEOUS_DEGREE;
        // Homogeneous: one unit set; otherwise one set per level at its true size.
        let (set_of_level, set_radii): (Vec<usize>, Vec<f64>) = match homogeneous {
            Some(_) => (vec![0; depth + 1], vec![1.0]),
            None => ((0..=depth).collect(), half_width.clone()),
        };
        let scales: Vec<LevelScales> = half_width
            .iter()
            .map(|&r| LevelScales::new(r, homogeneous))
            .collect();
        let owned = |arrays: Vec<OwnedArray>| {
            Store::Owned(
                arrays.into_iter().map(|a| (a.name, a.data)).collect(),
                PhantomData,
            )
        };
        let compute = || compute_arrays::<K, D, T>(order, &set_radii, prm);
        let mut times = LoadTimes::default();
        // Operators computed for the cache, kept in case the file cannot be written.
        let mut computed: OnceCell<Vec<OwnedArray>> = OnceCell::new();
        let (store, source) = match cached {
            Some(CacheLoad {
                path,
                params,
                first,
                ..
            }) => match first
                .map(|(cache, t)| (cache, CacheOutcome::Loaded, t))
                .or_else(|_| {
                    load_or_create_timed(&path, &params, || {
                        if computed.get().is_none() {
                            let _ = computed.set(compute()?);
                        }
                        Ok(computed.get().expect("set above").clone())
                    })
                }) {
                Ok((cache, outcome, t)) => {
                    times = t;
                    let source = match outcome {
                        CacheOutcome::Loaded => OperatorSource::Loaded { path },
                        CacheOutcome::Created => OperatorSource::Saved { path },
                        CacheOutcome::Replaced { reason } => {
                            OperatorSource::Replaced { path, reason }
                        }
                    };
                    (Store::Mapped(Box::new(cache)), source)
                }
                // A cache that cannot be written (read-only home, full disk) must not stop the
                // FMM: compute in memory and say why.
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
                    (owned(arrays), source)
                }
                Err(e) => return Err(e),
            },
            None => (owned(compute()?), OperatorSource::NotCached),
        };
        let layout = SetLayout {
            n_sets: set_radii.len(),
            set_of_level,
            scales,
            half_width,
        };
        let ops = Self::new::<D>(store, order, layout, prm)?;
        Ok((ops, source, times))
    }
}
