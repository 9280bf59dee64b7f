//! The FMM: builder, `evaluate`, and the timing/memory report.

use std::marker::PhantomData;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rayon::prelude::*;

use crate::cache::{CacheOutcome, CacheParams, LoadTimes, OperatorCache, OwnedArray, OwnedData};
use crate::error::{Error, Result};
use crate::gemm::Shape;
use crate::graph::{Op, Task, TaskGraph};
use crate::kernel::Kernel;
use crate::linalg::{Mat, gemm, gemm_n, same, same_mut};
use crate::lists::InteractionLists;
use crate::morton::MortonKey;
use crate::operators::{
    LevelScales, LevelSet, OperatorParams, level_set, transfer_index, unit_surface,
};
use crate::order::{Expansion, SupportedOrder};
use crate::real::{Precision, Real};
use crate::tree::{LinearTree, TreeOptions};

/// Nodes per task (fixed, so results do not depend on the thread count).
const CHUNK: usize = 512;

/// Where operators come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CacheMode {
    /// The default directory: `OXIFMM_CACHE_DIR`, else the user's cache directory.
    Default,
    /// An explicit directory.
    Dir(PathBuf),
    /// Compute in memory, never read or write a file.
    Off,
}

/// The M2L backend.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum M2l {
    /// SVD-compressed M2L (shared bases, per transfer vector a core stored as two factors of
    /// its own rank), applied per transfer vector and task as two thin products (2D and 3D).
    Svd,
    /// FFT-based M2L: Hadamard products in the frequency domain between sibling groups
    /// (3D only).
    Fft,
    /// Per (dimension, precision, order) from the table in the README, produced by
    /// `cargo bench --bench m2l` (one thread, 200k uniform points, p = 4, 6, 8, f32 and f64,
    /// plus p = 10 f64 from the example): with each transfer vector's core recompressed to its
    /// own rank, the SVD/GEMM backend serves 1.3x (p = 10, f64) to 8.7x (p = 8, f32) more target
    /// boxes per second than the FFT backend on the development machine, so `Auto` is the SVD
    /// backend for every measured pair.
    #[default]
    Auto,
}

impl M2l {
    /// The backend `Auto` resolves to for this dimension, precision and order.
    pub fn resolve(self, _dim: usize, _single: bool, _order: usize) -> M2l {
        match self {
            M2l::Auto => M2l::Svd,
            other => other,
        }
    }
}

/// Builder for [`Fmm`]; see [`Fmm::builder`].
pub struct FmmBuilder<'a, K, const ORDER: usize, const D: usize, T> {
    sources: Option<&'a [[T; D]]>,
    targets: Option<&'a [[T; D]]>,
    max_points_per_leaf: usize,
    max_depth: Option<u32>,
    gradients: bool,
    cache: CacheMode,
    threads: Option<usize>,
    params: Option<OperatorParams>,
    m2l: M2l,
    _k: PhantomData<K>,
}

/// A built FMM: tree, lists, operators and task graph for one set of sources and targets;
/// [`evaluate`](Fmm::evaluate) runs it for any number of charge vectors.
///
/// `ORDER` is the expansion order (3D: 2..=12, 2D: 2..=16), `D` the dimension (2 or 3,
/// default 3), `T` the precision (`f32` or `f64`, default `f64`).
///
/// ```
/// use oxifmm::{Fmm, Laplace, CacheMode};
/// use oxifmm::points::{charges, generate, Distribution};
///
/// let points = generate::<f64, 3>(Distribution::Uniform, 2000, 1);
/// let q = charges::<f64>(points.len(), 2);
/// let fmm = Fmm::<Laplace, 4>::builder()
///     .sources(&points)
///     .max_points_per_leaf(64)
///     .cache(CacheMode::Off)
///     .build()?;
/// let out = fmm.evaluate(&q)?;
/// assert_eq!(out.potentials.len(), points.len());
/// # Ok::<(), oxifmm::Error>(())
/// ```
pub struct Fmm<K, const ORDER: usize, const D: usize = 3, T: Real = f64> {
    tree: LinearTree<D>,
    lists: InteractionLists,
    ops: Operators<T>,
    graph: TaskGraph,
    plan: Plan,
    sources: [Vec<T>; D],
    targets: [Vec<T>; D],
    gradients: bool,
    m2l: M2l,
    /// The evaluation buffers; an `evaluate` that finds them busy (a concurrent or nested
    /// call) allocates its own set instead of waiting.
    work: Mutex<Workspace<T>>,
    sizes: WorkspaceSizes,
    pool: Option<rayon::ThreadPool>,
    build_report: BuildReport,
    last: Mutex<Option<EvalReport>>,
    _k: PhantomData<K>,
}

/// Potentials (and gradients) at the targets, in the caller's order.
#[derive(Clone, Debug, PartialEq)]
pub struct FmmOutput<T, const D: usize> {
    /// `phi(x_i)` for each target.
    pub potentials: Vec<T>,
    /// `grad phi(x_i)` for each target (empty unless gradients were requested).
    pub gradients: Vec<[T; D]>,
}

/// Timings and sizes of `build()`.
#[derive(Clone, Debug, Default)]
pub struct BuildReport {
    /// Tree construction.
    pub tree: Duration,
    /// Interaction lists.
    pub lists: Duration,
    /// Operators: cache load or precomputation. The cache part runs concurrently with
    /// `tree` and `lists`, so the three can add up to more than their wall time.
    pub operators: Duration,
    /// Of `operators`: opening the cache file (header validation). Zero when not cached.
    pub operators_open: Duration,
    /// Of `operators`: verifying the cache file's array checksums (or its verification
    /// stamp, see [`crate::cache`]). Zero when not cached.
    pub operators_verify: Duration,
    /// Whether that verification trusted the file's stamp instead of reading every array.
    pub operators_verified_by_stamp: bool,
    /// What happened with the operator cache.
    pub cache: String,
    /// Task graph and M2L plan.
    pub graph: Duration,
    /// Number of tree nodes.
    pub nodes: usize,
    /// Number of leaves.
    pub leaves: usize,
    /// Tree depth.
    pub depth: u32,
    /// Number of tasks in the graph.
    pub tasks: usize,
    /// Number of edges in the graph.
    pub edges: usize,
    /// The M2L backend in use.
    pub m2l: M2l,
    /// M2L rank of the SVD backend (per level set; one entry for homogeneous kernels).
    pub m2l_rank: Vec<usize>,
    /// Floating-point operations of one `evaluate`'s M2L tasks (a fused multiply-add counts
    /// two): `4 k r_t` per V-list pair for the SVD backend (`r_t`: the transfer vector's core
    /// rank) (its basis products are timed under
    /// P2M/M2M and L2L); Hadamard products (`8 x 8` complex blocks per neighbouring parent
    /// pair and frequency) plus the forward and inverse transforms for the FFT backend.
    pub m2l_flops: f64,
    /// Bytes held by the tree.
    pub tree_bytes: usize,
    /// Bytes held by the lists and the M2L plan.
    pub lists_bytes: usize,
    /// Bytes of operators (memory-mapped or owned).
    pub operator_bytes: usize,
    /// Bytes of the evaluation workspace (expansions, sorted points and charges).
    pub workspace_bytes: usize,
}

/// Per-operator times of one `evaluate` (CPU time summed over threads) and its wall time.
#[derive(Clone, Debug, Default)]
pub struct EvalReport {
    /// Wall-clock time of the whole `evaluate`.
    pub wall: Duration,
    /// Sorting charges in and results out.
    pub sort: Duration,
    /// (operator name, summed time) for P2M, M2M, M2L, L2L, L2P, P2P, M2P, P2L.
    pub operators: Vec<(&'static str, Duration)>,
}

const OP_NAMES: [&str; 8] = ["P2M", "M2M", "M2L", "L2L", "L2P", "P2P", "M2P", "P2L"];
const T_P2M: usize = 0;
const T_M2M: usize = 1;
const T_M2L: usize = 2;
const T_L2L: usize = 3;
const T_L2P: usize = 4;
const T_P2P: usize = 5;
const T_M2P: usize = 6;
const T_P2L: usize = 7;

impl std::fmt::Display for BuildReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mib = |b: usize| b as f64 / (1 << 20) as f64;
        writeln!(
            f,
            "tree       {:>9.3} ms  ({} nodes, {} leaves, depth {})",
            ms(self.tree),
            self.nodes,
            self.leaves,
            self.depth
        )?;
        writeln!(f, "lists      {:>9.3} ms", ms(self.lists))?;
        writeln!(
            f,
            "operators  {:>9.3} ms  ({}; open {:.3} ms, verify {:.3} ms{}; M2L {:?}, SVD rank {:?})",
            ms(self.operators),
            self.cache,
            ms(self.operators_open),
            ms(self.operators_verify),
            if self.operators_verified_by_stamp {
                " by stamp"
            } else {
                ""
            },
            self.m2l,
            self.m2l_rank
        )?;
        writeln!(
            f,
            "task graph {:>9.3} ms  ({} tasks, {} edges)",
            ms(self.graph),
            self.tasks,
            self.edges
        )?;
        write!(
            f,
            "memory     tree {:.1} MiB, lists {:.1} MiB, operators {:.1} MiB, workspace {:.1} MiB",
            mib(self.tree_bytes),
            mib(self.lists_bytes),
            mib(self.operator_bytes),
            mib(self.workspace_bytes)
        )
    }
}

impl std::fmt::Display for EvalReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "evaluate   {:>9.3} ms wall (sort in/out {:.3} ms)",
            ms(self.wall),
            ms(self.sort)
        )?;
        let total: f64 = self.operators.iter().map(|o| ms(o.1)).sum();
        for (name, d) in &self.operators {
            writeln!(
                f,
                "  {name:<4} {:>10.3} ms cpu  {:>5.1} %",
                ms(*d),
                100.0 * ms(*d) / total.max(1e-12)
            )?;
        }
        Ok(())
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

impl<K: Kernel<D>, const ORDER: usize, const D: usize, T: Real> Fmm<K, ORDER, D, T>
where
    Expansion<ORDER, D>: SupportedOrder,
{
    /// Starts a builder. Defaults: targets = sources, 150 points per leaf, depth bound
    /// `MortonKey::MAX_LEVEL` (capped at 16), potentials only, the default cache directory,
    /// rayon's global pool.
    pub fn builder<'a>() -> FmmBuilder<'a, K, ORDER, D, T> {
        FmmBuilder {
            sources: None,
            targets: None,
            max_points_per_leaf: 150,
            max_depth: None,
            gradients: false,
            cache: CacheMode::Default,
            threads: None,
            params: None,
            m2l: M2l::Auto,
            _k: PhantomData,
        }
    }
}

impl<'a, K: Kernel<D>, const ORDER: usize, const D: usize, T: Real> FmmBuilder<'a, K, ORDER, D, T>
where
    Expansion<ORDER, D>: SupportedOrder,
{
    /// The source points (required).
    pub fn sources(mut self, s: &'a [[T; D]]) -> Self {
        self.sources = Some(s);
        self
    }
    /// The target points (default: the sources).
    pub fn targets(mut self, t: &'a [[T; D]]) -> Self {
        self.targets = Some(t);
        self
    }
    /// Largest number of sources or targets in a leaf (default 150).
    pub fn max_points_per_leaf(mut self, n: usize) -> Self {
        self.max_points_per_leaf = n;
        self
    }
    /// Deepest tree level (default 16 in 3D, capped at the Morton key's depth).
    pub fn max_depth(mut self, d: u32) -> Self {
        self.max_depth = Some(d);
        self
    }
    /// Also compute gradients (default: potentials only).
    pub fn gradients(mut self, on: bool) -> Self {
        self.gradients = on;
        self
    }
    /// Where operators are cached.
    pub fn cache(mut self, mode: CacheMode) -> Self {
        self.cache = mode;
        self
    }
    /// Shorthand for `cache(CacheMode::Dir(dir))`.
    pub fn cache_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cache = CacheMode::Dir(dir.into());
        self
    }
    /// Threads for `evaluate` (default: rayon's global pool). `build` itself runs on the
    /// global pool. Results are bit-identical for any thread count.
    pub fn threads(mut self, n: usize) -> Self {
        self.threads = Some(n);
        self
    }
    /// The M2L backend (default [`M2l::Auto`]).
    pub fn m2l(mut self, backend: M2l) -> Self {
        self.m2l = backend;
        self
    }
    /// Surface radii and tolerances (default: [`OperatorParams::defaults`]).
    pub fn operator_params(mut self, p: OperatorParams) -> Self {
        self.params = Some(p);
        self
    }

    /// Builds tree, lists, operators (from the cache when possible) and the task graph.
    pub fn build(self) -> Result<Fmm<K, ORDER, D, T>> {
        let sources = self.sources.ok_or(Error::Empty { what: "sources" })?;
        let max_depth = self.max_depth.unwrap_or(MortonKey::<D>::MAX_LEVEL.min(16));
        let pool = match self.threads {
            Some(0) => {
                return Err(Error::InvalidParameter {
                    name: "threads",
                    reason: "must be at least 1".into(),
                });
            }
            Some(n) => Some(
                rayon::ThreadPoolBuilder::new()
                    .num_threads(n)
                    .build()
                    .map_err(|e| Error::InvalidParameter {
                        name: "threads",
                        reason: e.to_string(),
                    })?,
            ),
            None => None,
        };
        let params = self
            .params
            .unwrap_or_else(|| OperatorParams::defaults(ORDER, T::EPSILON.to_f64()));
        if !(1.0 < params.alpha_inner
            && params.alpha_inner < params.alpha_outer
            && params.alpha_outer < 3.0)
        {
            return Err(Error::InvalidParameter {
                name: "operator_params",
                reason: format!(
                    "need 1 < alpha_inner < alpha_outer < 3, got {} and {}",
                    params.alpha_inner, params.alpha_outer
                ),
            });
        }
        for (what, t) in [
            ("pinv_tolerance", params.pinv_tolerance),
            ("m2l_tolerance", params.m2l_tolerance),
        ] {
            if !(t > 0.0 && t < 1.0) {
                return Err(Error::InvalidParameter {
                    name: "operator_params",
                    reason: format!("{what} must lie in (0, 1), got {t}"),
                });
            }
        }
        let m2l = self.m2l.resolve(D, T::PRECISION == Precision::F32, ORDER);
        if m2l == M2l::Fft && D != 3 {
            return Err(Error::InvalidParameter {
                name: "m2l",
                reason: "the FFT M2L is implemented in 3D only".into(),
            });
        }
        let run = || -> Result<Fmm<K, ORDER, D, T>> {
            let mut report = BuildReport::default();
            // The operator cache does not depend on the tree: open and verify an existing
            // file while the tree and lists are built (computing a missing or invalid one
            // waits for the tree, so invalid input fails fast; see `CacheLoad`).
            let (tree_lists, cached) = rayon::join(
                || -> Result<_> {
                    let t0 = Instant::now();
                    let tree = LinearTree::build(
                        sources,
                        self.targets,
                        &TreeOptions::adaptive(self.max_points_per_leaf, max_depth),
                    )?;
                    let t_tree = t0.elapsed();
                    let t0 = Instant::now();
                    let lists = InteractionLists::build(&tree);
                    Ok((tree, t_tree, lists, t0.elapsed()))
                },
                || Operators::<T>::load_cache::<K, D>(ORDER, &params, &self.cache),
            );
            let (tree, t_tree, lists, t_lists) = tree_lists?;
            report.tree = t_tree;
            report.lists = t_lists;
            let t0 = Instant::now();
            let cache_time = cached.as_ref().map_or(Duration::ZERO, |c| c.elapsed);
            let (ops, cache_note, times) =
                Operators::<T>::load::<K, D>(ORDER, &tree, &params, cached)?;
            report.operators = cache_time + t0.elapsed();
            report.operators_open = times.open;
            report.operators_verify = times.verify;
            report.operators_verified_by_stamp = times.by_stamp;
            report.cache = cache_note;
            let t0 = Instant::now();
            let chunks = chunk_ranges(&tree);
            let plan = Plan::build(&tree, &lists, &chunks, m2l);
            let graph = build_graph(&tree, &lists, &chunks, &plan);
            report.graph = t0.elapsed();

            // Points are stored relative to the domain's centre (the kernel is translation
            // invariant): f32 runs keep their resolution on data far from the origin, and the
            // surfaces are built in the same frame.
            let shift = tree.domain.centre();
            let soa = |set: &[[T; D]], order: &[u32]| -> [Vec<T>; D] {
                std::array::from_fn(|k| {
                    order
                        .par_iter()
                        .map(|&i| T::from_f64(set[i as usize][k].to_f64() - shift[k]))
                        .collect()
                })
            };
            let src = soa(sources, &tree.source_order);
            let tgt = soa(self.targets.unwrap_or(sources), &tree.target_order);
            let n = ops.n;
            let k = if m2l == M2l::Fft { n } else { ops.max_rank };
            let nodes = tree.len();
            let n_out = if self.gradients { 1 + D } else { 1 };
            let sizes = WorkspaceSizes {
                charges: tree.source_order.len(),
                equiv: nodes * n,
                up_hat: if m2l == M2l::Fft { 0 } else { nodes * k },
                down_hat: nodes * k,
                out: tree.target_order.len() * n_out,
                tasks: graph.len(),
                threads: pool
                    .as_ref()
                    .map_or_else(rayon::current_num_threads, |p| p.current_num_threads()),
            };
            let work = sizes.allocate();
            report.nodes = nodes;
            report.leaves = tree.leaves.len();
            report.depth = tree.depth();
            report.tasks = graph.len();
            report.edges = graph.edges();
            report.m2l_rank = ops.sets.iter().map(|s| s.m2l_rank).collect();
            report.m2l_flops = plan.flops(&tree, &ops, ORDER);
            report.m2l = m2l;
            report.tree_bytes = tree.bytes();
            report.lists_bytes = lists.bytes() + plan.bytes();
            report.operator_bytes = ops.bytes();
            report.workspace_bytes = std::mem::size_of::<T>()
                * (work.charges.len()
                    + work.up_equiv.len()
                    + work.up_hat.len()
                    + work.down_hat.len()
                    + work.down_equiv.len()
                    + work.out.len()
                    + D * (src[0].len() + tgt[0].len()));
            Ok(Fmm {
                tree,
                lists,
                ops,
                graph,
                plan,
                sources: src,
                targets: tgt,
                gradients: self.gradients,
                work: Mutex::new(work),
                sizes,
                pool: None,
                m2l,
                build_report: report,
                last: Mutex::new(None),
                _k: PhantomData,
            })
        };
        // Built on the global pool, so the operators (and hence the results) do not depend
        // on the thread count chosen for `evaluate`.
        let mut fmm = run()?;
        fmm.pool = pool;
        Ok(fmm)
    }
}

/// Sizes of the evaluation buffers.
#[derive(Clone, Copy, Debug)]
struct WorkspaceSizes {
    charges: usize,
    equiv: usize,
    up_hat: usize,
    down_hat: usize,
    out: usize,
    tasks: usize,
    /// Worker threads: one task scratch buffer each (plus one spare).
    threads: usize,
}

impl WorkspaceSizes {
    fn allocate<T: Real>(&self) -> Workspace<T> {
        Workspace {
            charges: vec![T::ZERO; self.charges],
            up_equiv: vec![T::ZERO; self.equiv],
            up_hat: vec![T::ZERO; self.up_hat],
            down_hat: vec![T::ZERO; self.down_hat],
            down_equiv: vec![T::ZERO; self.equiv],
            out: vec![T::ZERO; self.out],
            counters: (0..self.tasks).map(|_| AtomicU32::new(0)).collect(),
            scratch: (0..=self.threads).map(|_| Mutex::new(Vec::new())).collect(),
            scratch64: (0..=self.threads).map(|_| Mutex::new(Vec::new())).collect(),
        }
    }
}

/// The evaluation buffers, sized at build time; one evaluation at a time holds them.
struct Workspace<T> {
    charges: Vec<T>,
    up_equiv: Vec<T>,
    up_hat: Vec<T>,
    down_hat: Vec<T>,
    down_equiv: Vec<T>,
    out: Vec<T>,
    /// One in-degree counter per task, reset by each execution.
    counters: Vec<AtomicU32>,
    /// Task scratch buffers (M2L gathers, FFT spectra), grown on first use and reused by later
    /// evaluations; owned by the `Fmm`, so dropped with it.
    scratch: Vec<Mutex<Vec<T>>>,
    /// f64 scratch buffers for the check-to-equivalent products, likewise.
    scratch64: Vec<Mutex<Vec<f64>>>,
}

/// A buffer shared by the tasks of one graph execution.
struct Shared<T> {
    ptr: *mut T,
    len: usize,
}

// SAFETY: `Shared` is only handed to the tasks of one `TaskGraph::execute`, whose edges make
// every range written by a task disjoint from every range another task reads or writes at
// the same time (see `build_graph`); T is a plain float.
unsafe impl<T: Send> Send for Shared<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for Shared<T> {}

impl<T> Shared<T> {
    fn new(v: &mut [T]) -> Self {
        Self {
            ptr: v.as_mut_ptr(),
            len: v.len(),
        }
    }
    /// # Safety
    /// No task may write `r` while the returned slice lives (guaranteed by graph edges).
    #[inline]
    unsafe fn get(&self, r: Range<usize>) -> &[T] {
        assert!(r.start <= r.end && r.end <= self.len);
        // SAFETY: in bounds (checked); no concurrent writer by the caller's contract.
        unsafe { std::slice::from_raw_parts(self.ptr.add(r.start), r.len()) }
    }
    /// # Safety
    /// The calling task must be the only one touching `r` (guaranteed by graph edges).
    #[inline]
    #[allow(clippy::mut_from_ref)]
    unsafe fn get_mut(&self, r: Range<usize>) -> &mut [T] {
        assert!(r.start <= r.end && r.end <= self.len);
        // SAFETY: in bounds (checked); exclusive by the caller's contract.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(r.start), r.len()) }
    }
}

/// Operators in the run's precision: memory-mapped from the cache or owned.
struct Operators<T> {
    store: Store<T>,
    sets: Vec<SetInfo>,
    /// Level set used by each tree level.
    set_of_level: Vec<usize>,
    scales: Vec<LevelScales>,
    /// Half-width of boxes at each level.
    half_width: Vec<f64>,
    unit: Vec<f64>,
    n: usize,
    max_rank: usize,
    alpha_inner: f64,
    alpha_outer: f64,
    /// FFT M2L (3D): grid, twiddles in T, and the (parent offset, child pair) table.
    fft_grid: Option<crate::fft::FftGrid>,
    tw_cos: Vec<T>,
    tw_sin: Vec<T>,
    pair_table: Vec<u32>,
}

enum Store<T> {
    Mapped(Box<OperatorCache>),
    Owned(Vec<(String, OwnedData)>, PhantomData<T>),
}

#[derive(Clone, Debug)]
struct SetInfo {
    uc2e_rank: usize,
    dc2e_rank: usize,
    m2l_rank: usize,
    /// Rank `r_t` of each transfer vector's recompressed core.
    core_ranks: Vec<usize>,
    /// Offset of each core's factors in `m2l_core_a` / `m2l_core_bt` (`nt + 1` entries).
    core_offsets: Vec<usize>,
}

/// Slices of one level set's operators.
struct SetView<'a, T> {
    uc2e_a: &'a [f64],
    uc2e_b: &'a [f64],
    uc2e_rank: usize,
    dc2e_a: &'a [f64],
    dc2e_b: &'a [f64],
    dc2e_rank: usize,
    m2m: &'a [T],
    l2l: &'a [T],
    m2l_u: &'a [T],
    m2l_vt: &'a [T],
    m2l_core_a: &'a [T],
    m2l_core_bt: &'a [T],
    core_ranks: &'a [usize],
    core_offsets: &'a [usize],
    k: usize,
    fft_re: &'a [T],
    fft_im: &'a [T],
}

const SET_ARRAYS: [&str; 11] = [
    "uc2e_a",
    "uc2e_b",
    "dc2e_a",
    "dc2e_b",
    "m2m",
    "l2l",
    "m2l_u",
    "m2l_vt",
    "m2l_core_a",
    "m2l_core_bt",
    "m2l_core_rank",
];

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

/// An operator array before it goes to the cache: name, shape, data.
/// An operator array in the run's precision, or in f64 (the check-to-equivalent operators).
type NamedVec = (String, Vec<usize>, OwnedData);

/// `v` in precision `T`, as stored.
fn in_precision<T: Real>(v: &[f64]) -> OwnedData {
    match T::PRECISION {
        Precision::F64 => OwnedData::F64(v.to_vec()),
        Precision::F32 => OwnedData::F32(v.iter().map(|&x| x as f32).collect()),
    }
}

fn set_arrays<T: Real>(s: usize, ls: &LevelSet, n: usize) -> Vec<NamedVec> {
    let conv = |v: &[f64]| in_precision::<T>(v);
    // The check-to-equivalent pseudo-inverses stay in f64 for every precision: they amplify
    // the rounding of their entries and operands (f32 storage alone doubled the error, and
    // f32 application held f32 runs near 2e-4), so they are applied in f64 (see `apply_c2e`).
    let c2e = |v: &[f64]| OwnedData::F64(v.to_vec());
    let fshape = |f: &crate::operators::Factored, first: bool| -> Vec<usize> {
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
        (
            format!("s{s}.uc2e_a"),
            fshape(&ls.uc2e, true),
            c2e(&ls.uc2e.a),
        ),
        (
            format!("s{s}.uc2e_b"),
            fshape(&ls.uc2e, false),
            c2e(&ls.uc2e.b),
        ),
        (
            format!("s{s}.dc2e_a"),
            fshape(&ls.dc2e, true),
            c2e(&ls.dc2e.a),
        ),
        (
            format!("s{s}.dc2e_b"),
            fshape(&ls.dc2e, false),
            c2e(&ls.dc2e.b),
        ),
        (format!("s{s}.m2m"), vec![n, c * n], conv(&ls.m2m)),
        (format!("s{s}.l2l"), vec![c, n, n], conv(&ls.l2l)),
        (format!("s{s}.m2l_u"), vec![n, k], conv(&ls.m2l_u)),
        (format!("s{s}.m2l_vt"), vec![k, n], conv(&ls.m2l_vt)),
        (
            format!("s{s}.m2l_core_a"),
            vec![ls.m2l_core_a.len()],
            conv(&ls.m2l_core_a),
        ),
        (
            format!("s{s}.m2l_core_bt"),
            vec![ls.m2l_core_bt.len()],
            conv(&ls.m2l_core_bt),
        ),
        (
            format!("s{s}.m2l_core_rank"),
            vec![ranks.len()],
            conv(&ranks),
        ),
    ]
}

/// The tree-independent first step of operator loading: the existing operator cache file,
/// opened and verified, with its path, parameters and how long that took. Run by `build()`
/// concurrently with tree and list construction. If it failed (no file, or an unusable one),
/// [`Operators::load`] goes through [`crate::cache::load_or_create_timed`], which says why
/// and recomputes, only once the tree was built: invalid input is reported before any
/// precomputation starts.
struct CacheLoad {
    path: PathBuf,
    params: CacheParams,
    first: Result<(OperatorCache, LoadTimes)>,
    elapsed: Duration,
}

/// All operator arrays of one set per radius in `set_radii`, in precision `T` (the
/// check-to-equivalent operators in f64).
fn compute_arrays<K: Kernel<D>, const D: usize, T: Real>(
    order: usize,
    set_radii: &[f64],
    prm: &OperatorParams,
) -> Result<Vec<NamedVec>> {
    let n = crate::operators::surface_len(D, order);
    let sets: Vec<LevelSet> = set_radii
        .iter()
        .map(|&r| level_set::<K, D>(order, r, prm))
        .collect::<Result<_>>()?;
    let mut arrays: Vec<NamedVec> = sets
        .iter()
        .enumerate()
        .flat_map(|(s, ls)| set_arrays::<T>(s, ls, n))
        .collect();
    if D == 3 {
        let conv = |v: &[f64]| in_precision::<T>(v);
        for (s, &r) in set_radii.iter().enumerate() {
            let (re, im) = crate::fft::transfer_functions::<K, D>(order, r, prm.alpha_inner);
            let nt = crate::operators::transfer_vectors::<D>().len();
            let nf = re.len() / nt;
            arrays.push((format!("s{s}.fft_re"), vec![nf, nt], conv(&re)));
            arrays.push((format!("s{s}.fft_im"), vec![nf, nt], conv(&im)));
        }
    }
    Ok(arrays)
}

impl<T: Real> Operators<T> {
    /// Whether operators for kernel `K` are read from / written to the cache in `mode`:
    /// homogeneous kernels only (one unit-size set, independent of the tree).
    fn cacheable<K: Kernel<D>, const D: usize>(mode: &CacheMode) -> bool {
        K::HOMOGENEOUS_DEGREE.is_some() && *mode != CacheMode::Off
    }

    /// Opens and verifies an existing operator cache file. `None` when the operators are not
    /// cached (see [`Self::cacheable`]). Needs no tree.
    fn load_cache<K: Kernel<D>, const D: usize>(
        order: usize,
        prm: &OperatorParams,
        mode: &CacheMode,
    ) -> Option<CacheLoad> {
        if !Self::cacheable::<K, D>(mode) {
            return None;
        }
        let t0 = Instant::now();
        let dir = match mode {
            CacheMode::Dir(d) => d.clone(),
            _ => crate::cache::default_cache_dir(),
        };
        let params = cache_params::<K, D, T>(order, prm);
        let path = dir.join(params.file_name());
        let mut times = LoadTimes::default();
        let first = crate::cache::open_verified(&path, &params, &mut times).map(|c| (c, times));
        Some(CacheLoad {
            path,
            params,
            first,
            elapsed: t0.elapsed(),
        })
    }

    /// Operators for `tree`: from `cached` (the result of [`Self::load_cache`] for the same
    /// order, parameters and mode) when the kernel is cacheable, else computed in memory.
    /// Also returns the cache note and the (open, verify) times of the cache file.
    fn load<K: Kernel<D>, const D: usize>(
        order: usize,
        tree: &LinearTree<D>,
        prm: &OperatorParams,
        cached: Option<CacheLoad>,
    ) -> Result<(Self, String, LoadTimes)> {
        let n = crate::operators::surface_len(D, order);
        let depth = tree.depth() as usize;
        let root_half = 0.5 * tree.domain.width;
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
        let owned = |arrays: Vec<NamedVec>| {
            Store::Owned(
                arrays.into_iter().map(|(name, _, v)| (name, v)).collect(),
                PhantomData,
            )
        };
        let mut times = LoadTimes::default();
        // Operators computed for the cache, kept in case the file cannot be written.
        let mut computed: std::cell::OnceCell<Vec<NamedVec>> = Default::default();
        let (store, note) = match cached {
            Some(CacheLoad {
                path,
                params,
                first,
                ..
            }) => match first
                .map(|(cache, t)| (cache, CacheOutcome::Loaded, t))
                .or_else(|_| {
                    crate::cache::load_or_create_timed(&path, &params, || {
                        if computed.get().is_none() {
                            let _ =
                                computed.set(compute_arrays::<K, D, T>(order, &set_radii, prm)?);
                        }
                        Ok(computed
                            .get()
                            .expect("set above")
                            .iter()
                            .cloned()
                            .map(|(name, shape, data)| OwnedArray { name, shape, data })
                            .collect())
                    })
                }) {
                Ok((cache, outcome, t)) => {
                    times = t;
                    let note = match outcome {
                        CacheOutcome::Loaded => format!("loaded {}", path.display()),
                        CacheOutcome::Created => {
                            format!("computed, saved to {}", path.display())
                        }
                        CacheOutcome::Replaced { reason } => format!(
                            "cache was invalid ({reason}); recomputed, saved to {}",
                            path.display()
                        ),
                    };
                    (Store::Mapped(Box::new(cache)), note)
                }
                // A cache that cannot be written (read-only home, full disk) must not stop the
                // FMM: compute in memory and say why.
                Err(e @ (Error::Io { .. } | Error::Cache { .. })) => {
                    // Reuse the arrays computed for the failed write, if any.
                    let arrays = match computed.take() {
                        Some(arrays) => arrays,
                        None => compute_arrays::<K, D, T>(order, &set_radii, prm)?,
                    };
                    let note = format!("computed in memory; operator cache unusable: {e}");
                    eprintln!("oxifmm: warning: {note}");
                    (owned(arrays), note)
                }
                Err(e) => return Err(e),
            },
            None => (
                owned(compute_arrays::<K, D, T>(order, &set_radii, prm)?),
                "computed in memory (not cached)".to_string(),
            ),
        };
        let (ops, note) = Self::finish::<D>(
            store,
            note,
            order,
            set_radii.len(),
            set_of_level,
            scales,
            half_width,
            prm,
            n,
        )?;
        Ok((ops, note, times))
    }

    /// Wraps the store, checks every array's size against the order, and sets up the views.
    #[allow(clippy::too_many_arguments)]
    fn finish<const D: usize>(
        store: Store<T>,
        note: String,
        order: usize,
        n_sets: usize,
        set_of_level: Vec<usize>,
        scales: Vec<LevelScales>,
        half_width: Vec<f64>,
        prm: &OperatorParams,
        n: usize,
    ) -> Result<(Self, String)> {
        let mut ops = Operators {
            store,
            sets: Vec::new(),
            set_of_level,
            scales,
            half_width,
            unit: unit_surface::<D>(order).into_iter().flatten().collect(),
            n,
            max_rank: 0,
            alpha_inner: prm.alpha_inner,
            alpha_outer: prm.alpha_outer,
            fft_grid: None,
            tw_cos: Vec::new(),
            tw_sin: Vec::new(),
            pair_table: Vec::new(),
        };
        if D == 3 {
            let g = crate::fft::FftGrid::new(order);
            let (c, s) = g.twiddles::<T>();
            ops.tw_cos = c;
            ops.tw_sin = s;
            ops.fft_grid = Some(g);
            ops.pair_table = crate::fft::child_pair_table();
        }
        for s in 0..n_sets {
            let a = ops.array64(&format!("s{s}.uc2e_a"))?.len();
            let d = ops.array64(&format!("s{s}.dc2e_a"))?.len();
            let u = ops.array(&format!("s{s}.m2l_u"))?.len();
            let uc2e_rank = if ops.array64(&format!("s{s}.uc2e_b"))?.is_empty() {
                0
            } else {
                a / n
            };
            let dc2e_rank = if ops.array64(&format!("s{s}.dc2e_b"))?.is_empty() {
                0
            } else {
                d / n
            };
            let nt = crate::operators::transfer_vectors::<D>().len();
            let k = u / n;
            let len = |name: &str| ops.array(&format!("s{s}.{name}")).map(|a| a.len());
            let len64 = |name: &str| ops.array64(&format!("s{s}.{name}")).map(|a| a.len());
            let bad = |what: &str| Error::InvalidParameter {
                name: "operators",
                reason: format!(
                    "operator array s{s}.{what} has the wrong size for order {order} in {D}D"
                ),
            };
            let c2e_ok = |a: usize, b: usize, r: usize| {
                if r == 0 {
                    a == n * n && b == 0
                } else {
                    a == n * r && b == r * n
                }
            };
            if u % n != 0 || k == 0 || len("m2l_vt")? != k * n {
                return Err(bad("m2l"));
            }
            // Core ranks: whole numbers in 1..=k, one per transfer vector, whose factors fill
            // the factor arrays exactly.
            let core_ranks: Vec<usize> = ops
                .array(&format!("s{s}.m2l_core_rank"))?
                .iter()
                .map(|r| r.to_f64())
                .map(|r| (r.fract() == 0.0 && r >= 1.0 && r <= k as f64).then_some(r as usize))
                .collect::<Option<_>>()
                .ok_or_else(|| bad("m2l_core_rank"))?;
            let mut core_offsets = Vec::with_capacity(nt + 1);
            core_offsets.push(0);
            for &r in &core_ranks {
                core_offsets.push(core_offsets.last().unwrap() + k * r);
            }
            let total = *core_offsets.last().unwrap();
            if core_ranks.len() != nt || len("m2l_core_a")? != total || len("m2l_core_bt")? != total
            {
                return Err(bad("m2l cores"));
            }
            let info = SetInfo {
                uc2e_rank,
                dc2e_rank,
                m2l_rank: k,
                core_ranks,
                core_offsets,
            };
            if !c2e_ok(a, len64("uc2e_b")?, uc2e_rank) || !c2e_ok(d, len64("dc2e_b")?, dc2e_rank) {
                return Err(bad("c2e"));
            }
            if len("m2m")? != n * n * (1 << D) || len("l2l")? != n * n * (1 << D) {
                return Err(bad("m2m/l2l"));
            }
            if D == 3 {
                let nf = crate::fft::FftGrid::new(order).nfreq;
                if len("fft_re")? != nf * nt || len("fft_im")? != nf * nt {
                    return Err(bad("fft"));
                }
            }
            for name in SET_ARRAYS {
                if name.contains("c2e") {
                    ops.array64(&format!("s{s}.{name}"))?;
                } else {
                    ops.array(&format!("s{s}.{name}"))?;
                }
            }
            ops.max_rank = ops.max_rank.max(info.m2l_rank);
            ops.sets.push(info);
        }
        Ok((ops, note))
    }

    /// The named array in the run's precision.
    fn array(&self, name: &str) -> Result<&[T]> {
        match (&self.store, T::PRECISION) {
            (Store::Mapped(c), Precision::F64) => Ok(same(c.f64(name)?)),
            (Store::Mapped(c), Precision::F32) => Ok(same(c.f32(name)?)),
            (Store::Owned(..), _) => match self.owned(name)? {
                OwnedData::F64(d) if T::PRECISION == Precision::F64 => Ok(same(d)),
                OwnedData::F32(d) if T::PRECISION == Precision::F32 => Ok(same(d)),
                _ => Err(Self::missing(name)),
            },
        }
    }

    /// The named f64 array (the check-to-equivalent operators, in every precision).
    fn array64(&self, name: &str) -> Result<&[f64]> {
        match &self.store {
            Store::Mapped(c) => c.f64(name),
            Store::Owned(..) => match self.owned(name)? {
                OwnedData::F64(d) => Ok(d),
                OwnedData::F32(_) => Err(Self::missing(name)),
            },
        }
    }

    fn owned(&self, name: &str) -> Result<&OwnedData> {
        match &self.store {
            Store::Owned(v, _) => v
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, d)| d)
                .ok_or_else(|| Self::missing(name)),
            Store::Mapped(_) => Err(Self::missing(name)),
        }
    }

    fn missing(name: &str) -> Error {
        Error::InvalidParameter {
            name: "operators",
            reason: format!("missing array {name} (or of another precision)"),
        }
    }

    fn views(&self) -> Vec<SetView<'_, T>> {
        (0..self.sets.len())
            .map(|s| {
                let g = |name: &str| {
                    self.array(&format!("s{s}.{name}"))
                        .expect("validated at build")
                };
                let g64 = |name: &str| {
                    self.array64(&format!("s{s}.{name}"))
                        .expect("validated at build")
                };
                let info = &self.sets[s];
                SetView {
                    uc2e_a: g64("uc2e_a"),
                    uc2e_b: g64("uc2e_b"),
                    uc2e_rank: info.uc2e_rank,
                    dc2e_a: g64("dc2e_a"),
                    dc2e_b: g64("dc2e_b"),
                    dc2e_rank: info.dc2e_rank,
                    m2m: g("m2m"),
                    l2l: g("l2l"),
                    m2l_u: g("m2l_u"),
                    m2l_vt: g("m2l_vt"),
                    m2l_core_a: g("m2l_core_a"),
                    m2l_core_bt: g("m2l_core_bt"),
                    core_ranks: &info.core_ranks,
                    core_offsets: &info.core_offsets,
                    k: info.m2l_rank,
                    fft_re: self.array(&format!("s{s}.fft_re")).unwrap_or(&[]),
                    fft_im: self.array(&format!("s{s}.fft_im")).unwrap_or(&[]),
                }
            })
            .collect()
    }

    fn bytes(&self) -> usize {
        match &self.store {
            Store::Mapped(c) => c.byte_len(),
            Store::Owned(v, _) => v
                .iter()
                .map(|(_, d)| match d {
                    OwnedData::F64(x) => 8 * x.len(),
                    OwnedData::F32(x) => 4 * x.len(),
                })
                .sum(),
        }
    }
}

/// Precomputed M2L work: per M2L task, the (target, source) pairs grouped by transfer vector.
#[derive(Default)]
struct Plan {
    /// SVD backend: per chunk, the (target, source) pairs grouped by transfer vector.
    groups: Vec<M2lGroups>,
    /// FFT backend: per chunk, target parents and their source parents.
    fft: Vec<FftChunk>,
}

/// The FFT M2L work of one chunk (whole sibling groups of one level).
#[derive(Default)]
struct FftChunk {
    /// Parent of each sibling group in the chunk.
    tparents: Vec<u32>,
    /// Distinct source parents (internal neighbours of the target parents with sources).
    sparents: Vec<u32>,
    /// `tparents.len() x 27`: local index into `sparents` per parent offset, or `u32::MAX`.
    slots: Vec<u32>,
}

#[derive(Default)]
struct M2lGroups {
    /// Transfer vector of each group.
    t: Vec<u32>,
    /// Group `g` is `pairs[offsets[g]..offsets[g + 1]]`.
    offsets: Vec<u32>,
    /// (target node, source node).
    pairs: Vec<(u32, u32)>,
    /// Source nodes this task reads.
    max_group: usize,
}

impl Plan {
    fn build<const D: usize>(
        tree: &LinearTree<D>,
        lists: &InteractionLists,
        ranges: &[(u32, Range<u32>)],
        m2l: M2l,
    ) -> Self {
        if m2l == M2l::Fft {
            return Self::build_fft(tree, ranges);
        }
        // Transfer-vector index by linear offset in [-3, 3]^D.
        let table: Vec<u32> = (0..7usize.pow(D as u32))
            .map(|lin| {
                let mut t = lin;
                let mut off = [0i64; D];
                for k in (0..D).rev() {
                    off[k] = (t % 7) as i64 - 3;
                    t /= 7;
                }
                transfer_index(off).map_or(u32::MAX, |i| i as u32)
            })
            .collect();
        let n_tv = crate::operators::transfer_vectors::<D>().len();
        // Box anchors decoded once (each box is a V-list source of up to 189 targets).
        let anchors: Vec<[u64; D]> = tree.keys.par_iter().map(|k| k.anchor()).collect();
        let groups = ranges
            .par_iter()
            .map(|(level, r)| {
                if *level < 2 {
                    return M2lGroups::default();
                }
                // (transfer vector, target, source), targets ascending; then a counting sort
                // by transfer vector (stable: targets stay ascending within each group).
                let mut triples: Vec<(u32, u32, u32)> = Vec::new();
                let mut count = vec![0u32; n_tv + 1];
                for b in r.clone() {
                    let b = b as usize;
                    if tree.targets(b).is_empty() {
                        continue;
                    }
                    let ba = anchors[b];
                    // Box widths are powers of two: a shift, not a division, per coordinate.
                    let shift = tree.keys[b].width_units().trailing_zeros();
                    for &a in lists.v.row(b) {
                        if tree.sources(a as usize).is_empty() {
                            continue;
                        }
                        let aa = anchors[a as usize];
                        let mut lin = 0usize;
                        for k in 0..D {
                            lin = lin * 7 + (((aa[k] as i64 - ba[k] as i64) >> shift) + 3) as usize;
                        }
                        let t = table[lin];
                        debug_assert!(t != u32::MAX, "V-list pairs are transfer vectors");
                        count[t as usize + 1] += 1;
                        triples.push((t, b as u32, a));
                    }
                }
                for t in 0..n_tv {
                    count[t + 1] += count[t];
                }
                let mut g = M2lGroups::default();
                for t in 0..n_tv {
                    if count[t + 1] > count[t] {
                        g.t.push(t as u32);
                        g.offsets.push(count[t]);
                    }
                }
                g.offsets.push(triples.len() as u32);
                g.pairs = vec![(0, 0); triples.len()];
                for &(t, b, a) in &triples {
                    let slot = &mut count[t as usize];
                    g.pairs[*slot as usize] = (b, a);
                    *slot += 1;
                }
                g.max_group = g
                    .offsets
                    .windows(2)
                    .map(|w| (w[1] - w[0]) as usize)
                    .max()
                    .unwrap_or(0);
                g
            })
            .collect();
        Plan {
            groups,
            fft: Vec::new(),
        }
    }

    fn build_fft<const D: usize>(tree: &LinearTree<D>, ranges: &[(u32, Range<u32>)]) -> Self {
        let fft = ranges
            .par_iter()
            .map(|(level, r)| {
                let mut ch = FftChunk::default();
                if *level < 2 {
                    return ch;
                }
                let n_children = 1u32 << D;
                let mut s = r.start;
                while s < r.end {
                    let p = tree.parent[s as usize];
                    ch.tparents.push(p);
                    let pk = tree.keys[p as usize];
                    for ti in 0..3usize.pow(D as u32) {
                        let mut off = [0i64; D];
                        let mut t = ti;
                        for k in (0..D).rev() {
                            off[k] = (t % 3) as i64 - 1;
                            t /= 3;
                        }
                        let slot = if off.iter().all(|&o| o == 0) {
                            None
                        } else {
                            pk.neighbour(off)
                                .and_then(|nk| tree.index_of(nk))
                                .filter(|&i| !tree.is_leaf(i) && !tree.sources(i).is_empty())
                        };
                        ch.slots.push(match slot {
                            Some(i) => match ch.sparents.iter().position(|&x| x == i as u32) {
                                Some(local) => local as u32,
                                None => {
                                    ch.sparents.push(i as u32);
                                    (ch.sparents.len() - 1) as u32
                                }
                            },
                            None => u32::MAX,
                        });
                    }
                    s += n_children;
                }
                ch
            })
            .collect();
        Plan {
            groups: Vec::new(),
            fft,
        }
    }

    /// See [`BuildReport::m2l_flops`].
    fn flops<const D: usize, T>(&self, tree: &LinearTree<D>, ops: &Operators<T>, p: usize) -> f64 {
        let mut total = 0.0;
        for g in &self.groups {
            if g.pairs.is_empty() {
                continue;
            }
            let level = tree.keys[g.pairs[0].0 as usize].level() as usize;
            let set = &ops.sets[ops.set_of_level[level]];
            let k = set.m2l_rank as f64;
            for (gi, &t) in g.t.iter().enumerate() {
                let m = (g.offsets[gi + 1] - g.offsets[gi]) as f64;
                total += 4.0 * k * set.core_ranks[t as usize] as f64 * m;
            }
        }
        if !self.fft.is_empty() {
            let (pf, n) = (p as f64, 2.0 * p as f64);
            let nz = n / 2.0 + 1.0;
            let nf = n * n * nz;
            // Per 8-lane transform: z, y and x passes (multiply-adds on complex data).
            let fwd =
                8.0 * (pf * pf * nz * pf * 4.0 + pf * pf * n * nz * 8.0 + n * pf * n * nz * 8.0);
            let inv =
                8.0 * (n * pf * n * nz * 8.0 + pf * n * pf * nz * 8.0 + pf * pf * pf * nz * 4.0);
            for ch in &self.fft {
                let pairs = ch.slots.iter().filter(|&&s| s != u32::MAX).count() as f64;
                total += pairs * 64.0 * 8.0 * nf
                    + fwd * ch.sparents.len() as f64
                    + inv * ch.tparents.len() as f64;
            }
        }
        total
    }

    fn bytes(&self) -> usize {
        self.groups
            .iter()
            .map(|g| g.t.len() * 4 + g.offsets.len() * 4 + g.pairs.len() * 8)
            .sum::<usize>()
            + self
                .fft
                .iter()
                .map(|c| 4 * (c.tparents.len() + c.sparents.len() + c.slots.len()))
                .sum::<usize>()
    }
}

/// The fixed node chunks: (level, node range), level by level.
fn chunk_ranges<const D: usize>(tree: &LinearTree<D>) -> Vec<(u32, Range<u32>)> {
    let mut out = Vec::new();
    for (l, r) in tree.levels.iter().enumerate() {
        let mut s = r.start;
        while s < r.end {
            let e = (s + CHUNK).min(r.end);
            out.push((l as u32, s as u32..e as u32));
            s = e;
        }
    }
    out
}

/// Builds the task graph: one task per (operator, chunk), with every data dependency.
fn build_graph<const D: usize>(
    tree: &LinearTree<D>,
    lists: &InteractionLists,
    chunks: &[(u32, Range<u32>)],
    plan: &Plan,
) -> TaskGraph {
    let n_chunks = chunks.len();
    // chunk index of a node: chunks are laid out level by level in node order.
    let mut chunk_of = vec![0u32; tree.len()];
    for (c, (_, r)) in chunks.iter().enumerate() {
        for i in r.clone() {
            chunk_of[i as usize] = c as u32;
        }
    }
    let has_leaf_targets = |r: &Range<u32>| {
        r.clone()
            .any(|i| tree.is_leaf(i as usize) && !tree.targets(i as usize).is_empty())
    };
    // Task ids: op-major, NONE where the task would be empty.
    let ops = [Op::P2p, Op::Upward, Op::M2l, Op::Downward, Op::Evaluate];
    let mut id = vec![[u32::MAX; 5]; n_chunks];
    let mut tasks = Vec::new();
    for (c, (level, r)) in chunks.iter().enumerate() {
        for (o, &op) in ops.iter().enumerate() {
            let needed = match op {
                Op::P2p | Op::Evaluate => has_leaf_targets(r),
                Op::Upward | Op::M2l | Op::Downward => *level >= 2,
            };
            if needed {
                id[c][o] = tasks.len() as u32;
                tasks.push(Task {
                    op,
                    level: *level,
                    chunk: c as u32,
                    nodes: r.clone(),
                });
            }
        }
    }
    let (p2p, up, m2l, down, eval) = (0, 1, 2, 3, 4);
    let mut edges: Vec<(u32, u32)> = Vec::new();
    for (c, (level, r)) in chunks.iter().enumerate() {
        // Upward: children's upward first.
        if id[c][up] != u32::MAX {
            for i in r.clone() {
                for ch in tree.children(i as usize) {
                    let pc = id[chunk_of[ch] as usize][up];
                    edges.push((pc, id[c][up]));
                }
            }
        }
        // M2L: the sources' upward.
        if id[c][m2l] != u32::MAX {
            let mut preds: Vec<u32> = match plan.groups.get(c) {
                Some(g) => g
                    .pairs
                    .iter()
                    .map(|&(_, a)| id[chunk_of[a as usize] as usize][up])
                    .collect(),
                None => plan.fft[c]
                    .sparents
                    .iter()
                    .flat_map(|&sp| {
                        tree.children(sp as usize)
                            .map(|ch| id[chunk_of[ch] as usize][up])
                    })
                    .collect(),
            };
            preds.sort_unstable();
            preds.dedup();
            edges.extend(preds.into_iter().map(|p| (p, id[c][m2l])));
        }
        // Downward: own M2L, parents' downward.
        if id[c][down] != u32::MAX {
            edges.push((id[c][m2l], id[c][down]));
            if *level >= 3 {
                for i in r.clone() {
                    let p = tree.parent[i as usize] as usize;
                    edges.push((id[chunk_of[p] as usize][down], id[c][down]));
                }
            }
        }
        // Evaluate: own P2P (same output), own downward (L2P), W-list sources' upward (M2P).
        if id[c][eval] != u32::MAX {
            edges.push((id[c][p2p], id[c][eval]));
            if *level >= 2 {
                edges.push((id[c][down], id[c][eval]));
            }
            for i in r.clone() {
                if tree.is_leaf(i as usize) {
                    for &a in lists.w.row(i as usize) {
                        edges.push((id[chunk_of[a as usize] as usize][up], id[c][eval]));
                    }
                }
            }
        }
    }
    edges.retain(|&(a, b)| a != u32::MAX && a != b);
    TaskGraph::new(tasks, edges)
}

/// Everything a task reads, and the shared buffers it writes.
struct Ctx<'a, K, const D: usize, T> {
    tree: &'a LinearTree<D>,
    lists: &'a InteractionLists,
    plan: &'a Plan,
    ops: &'a Operators<T>,
    views: Vec<SetView<'a, T>>,
    src: [&'a [T]; D],
    tgt: [&'a [T]; D],
    charges: &'a [T],
    up_equiv: Shared<T>,
    up_hat: Shared<T>,
    down_hat: Shared<T>,
    down_equiv: Shared<T>,
    out: Shared<T>,
    n_out: usize,
    gradients: bool,
    m2l: M2l,
    /// The domain centre: stored points are relative to it.
    shift: [f64; D],
    /// Stride of `down_hat` per node: the SVD rank, or `n` (check potentials) for the FFT.
    hat_stride: usize,
    times: [AtomicU64; 8],
    /// Task scratch buffers (see [`Workspace::scratch`]).
    scratch: &'a [Mutex<Vec<T>>],
    /// f64 task scratch buffers.
    scratch64: &'a [Mutex<Vec<f64>>],
    _k: PhantomData<K>,
}

/// Forward DFTs of the source children of an FFT M2L task, 8 siblings at a time, into the
/// task's plane-major spectra (run through pulp's dispatch so that the 8-lane loops of
/// [`crate::fft::forward8`] compile to the machine's SIMD).
struct Forward<'a, 'c, K, const D: usize, T> {
    ctx: &'a Ctx<'c, K, D, T>,
    plan: &'a FftChunk,
    g: &'a crate::fft::FftGrid,
    tw: &'a crate::fft::Twiddles<'a, T>,
    spec: &'a mut [T],
    scratch: &'a mut [T],
}

impl<K: Kernel<D>, const D: usize, T: Real> pulp::WithSimd for Forward<'_, '_, K, D, T> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) -> Self::Output {
        let Forward {
            ctx,
            plan,
            g,
            tw,
            spec,
            scratch,
        } = self;
        let n = ctx.ops.n;
        let ns = plan.sparents.len();
        for (li, &sp) in plan.sparents.iter().enumerate() {
            let first = ctx.tree.first_child[sp as usize] as usize;
            let inputs: [Option<&[T]>; 8] = std::array::from_fn(|sc| {
                let b = first + sc;
                // SAFETY: the source children's upward tasks are predecessors of this task.
                (!ctx.tree.sources(b).is_empty())
                    .then(|| unsafe { ctx.up_equiv.get(b * n..(b + 1) * n) })
            });
            let plane = g.n * g.nz;
            crate::fft::forward8(
                g,
                tw,
                inputs,
                &mut spec[li * plane * 16..],
                ns * plane * 16,
                scratch,
            );
        }
    }
}

/// Inverse DFTs of an FFT M2L task, 8 target siblings at a time, into their check
/// potentials (dispatched like [`Forward`]).
struct Inverse<'a, 'c, K, const D: usize, T> {
    ctx: &'a Ctx<'c, K, D, T>,
    plan: &'a FftChunk,
    g: &'a crate::fft::FftGrid,
    tw: &'a crate::fft::Twiddles<'a, T>,
    accum: &'a [T],
    /// Check potentials of the task's nodes, `n` per node from `first`.
    dst: &'a mut [T],
    first: usize,
    scale: T,
    scratch: &'a mut [T],
}

impl<K: Kernel<D>, const D: usize, T: Real> pulp::WithSimd for Inverse<'_, '_, K, D, T> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) -> Self::Output {
        let Inverse {
            ctx,
            plan,
            g,
            tw,
            accum,
            dst,
            first,
            scale,
            scratch,
        } = self;
        let n = ctx.ops.n;
        let ntp = plan.tparents.len();
        for (tp, &p) in plan.tparents.iter().enumerate() {
            let c0 = ctx.tree.first_child[p as usize] as usize;
            let block = &mut dst[(c0 - first) * n..(c0 - first + 8) * n];
            let mut it = block.chunks_exact_mut(n).enumerate();
            let outs: [Option<&mut [T]>; 8] = std::array::from_fn(|_| {
                let (tc, o) = it.next().expect("8 children");
                (!ctx.tree.targets(c0 + tc).is_empty()).then_some(o)
            });
            let plane = g.n * g.nz;
            crate::fft::inverse8(
                g,
                tw,
                &accum[tp * plane * 16..],
                ntp * plane * 16,
                outs,
                scale,
                scratch,
            );
        }
    }
}

/// Accumulates time into a slot of a local timer array.
struct Clock {
    t: Instant,
}
impl Clock {
    fn start() -> Self {
        Self { t: Instant::now() }
    }
    fn lap(&mut self, acc: &mut [u64; 8], slot: usize) {
        let now = Instant::now();
        acc[slot] += (now - self.t).as_nanos() as u64;
        self.t = now;
    }
}

/// `y = scale * F x` in f64 (see [`Ctx::apply_c2e`]); `tmp` holds `rank x cols`.
#[allow(clippy::too_many_arguments)]
fn c2e_f64(
    a: &[f64],
    b: &[f64],
    rank: usize,
    n: usize,
    x: &[f64],
    cols: usize,
    y: &mut [f64],
    tmp: &mut [f64],
    scale: f64,
) {
    // One column (the leaf P2M): a matrix-vector product with inner dimension n.
    let shape = if cols == 1 { Shape::Gemv } else { Shape::Panel };
    if rank == 0 {
        gemm_n(
            y,
            n,
            Mat::new(a, n, n),
            Mat::new(x, n, cols),
            scale,
            false,
            n,
            shape,
        );
    } else {
        let tmp = &mut tmp[..rank * cols];
        gemm_n(
            tmp,
            rank,
            Mat::new(b, rank, n),
            Mat::new(x, n, cols),
            1.0,
            false,
            n,
            shape,
        );
        gemm(
            y,
            n,
            Mat::new(a, n, rank),
            Mat::new(tmp, rank, cols),
            scale,
            false,
        );
    }
}

/// A task scratch buffer of `len` elements (contents unspecified): one of a pool's buffers,
/// locked until dropped, or an owned one when all are busy (e.g. a nested evaluation).
enum Scratch<'a, U> {
    Pooled(std::sync::MutexGuard<'a, Vec<U>>, usize),
    Owned(Vec<U>),
}

impl<U> std::ops::Deref for Scratch<'_, U> {
    type Target = [U];
    fn deref(&self) -> &[U] {
        match self {
            Scratch::Pooled(v, len) => &v[..*len],
            Scratch::Owned(v) => v,
        }
    }
}

impl<U> std::ops::DerefMut for Scratch<'_, U> {
    fn deref_mut(&mut self) -> &mut [U] {
        match self {
            Scratch::Pooled(v, len) => &mut v[..*len],
            Scratch::Owned(v) => v,
        }
    }
}

/// Takes a free buffer of `pool`, grown to `len` if needed and kept for later tasks, so that
/// tasks do not allocate once the buffers have reached their working size.
fn take_scratch<U: Real>(pool: &[Mutex<Vec<U>>], len: usize) -> Scratch<'_, U> {
    for slot in pool {
        if let Ok(mut v) = slot.try_lock() {
            if v.len() < len {
                v.resize(len, U::ZERO);
            }
            return Scratch::Pooled(v, len);
        }
    }
    Scratch::Owned(vec![U::ZERO; len])
}

impl<K: Kernel<D>, const D: usize, T: Real> Ctx<'_, K, D, T> {
    /// A task scratch buffer of `len` elements of `T` (see [`take_scratch`]).
    fn scratch(&self, len: usize) -> Scratch<'_, T> {
        take_scratch(self.scratch, len)
    }

    /// Writes the surface of node `b` at radius factor `alpha` into `buf` (SoA, D x n).
    #[inline]
    fn surface(&self, b: usize, alpha: f64, buf: &mut [T]) {
        let n = self.ops.n;
        let key = self.tree.keys[b];
        let c = key.centre(&self.tree.domain);
        let r = alpha * self.ops.half_width[key.level() as usize];
        for k in 0..D {
            for i in 0..n {
                buf[k * n + i] = T::from_f64((c[k] - self.shift[k]) + r * self.ops.unit[i * D + k]);
            }
        }
    }

    fn soa(buf: &[T], n: usize) -> [&[T]; D] {
        std::array::from_fn(|k| &buf[k * n..(k + 1) * n])
    }

    /// `y = scale * F x` for a check-to-equivalent operator `F` (dense when `rank` is 0, else
    /// the factors `A B`), kept and applied in f64 for every precision: an f32 `x` is widened
    /// and `y` rounded once (see `set_arrays`).
    #[allow(clippy::too_many_arguments)]
    fn apply_c2e(
        &self,
        a: &[f64],
        b: &[f64],
        rank: usize,
        x: &[T],
        cols: usize,
        y: &mut [T],
        scale: f64,
    ) {
        let n = self.ops.n;
        match T::PRECISION {
            Precision::F64 => {
                let mut tmp = take_scratch(self.scratch64, rank * cols);
                c2e_f64(a, b, rank, n, same(x), cols, same_mut(y), &mut tmp, scale)
            }
            Precision::F32 => {
                let mut buf = take_scratch(self.scratch64, (2 * n + rank) * cols);
                let (x64, rest) = buf.split_at_mut(n * cols);
                let (y64, tmp) = rest.split_at_mut(n * cols);
                for (d, s) in x64.iter_mut().zip(x) {
                    *d = s.to_f64();
                }
                c2e_f64(a, b, rank, n, x64, cols, y64, tmp, scale);
                for (d, s) in y.iter_mut().zip(y64.iter()) {
                    *d = T::from_f64(*s);
                }
            }
        }
    }

    fn run(&self, task: &Task) {
        let mut acc = [0u64; 8];
        match task.op {
            Op::P2p => self.p2p(task, &mut acc),
            Op::Upward => self.upward(task, &mut acc),
            Op::M2l if self.m2l == M2l::Fft => self.m2l_fft(task, &mut acc),
            Op::M2l => self.m2l(task, &mut acc),
            Op::Downward => self.downward(task, &mut acc),
            Op::Evaluate => self.evaluate_leaves(task, &mut acc),
        }
        for (slot, &v) in acc.iter().enumerate() {
            if v > 0 {
                self.times[slot].fetch_add(v, Ordering::Relaxed);
            }
        }
    }

    fn src_slices(&self, r: Range<usize>) -> ([&[T]; D], &[T]) {
        (
            std::array::from_fn(|k| &self.src[k][r.clone()]),
            &self.charges[r],
        )
    }

    fn p2p(&self, task: &Task, acc: &mut [u64; 8]) {
        let mut clock = Clock::start();
        for b in task.nodes.clone() {
            let b = b as usize;
            let tr = self.tree.targets(b);
            if !self.tree.is_leaf(b) || tr.is_empty() {
                continue;
            }
            // SAFETY: this task is the first writer of its leaves' targets; the Evaluate task
            // of the same chunk (the only other writer) waits for it.
            let out = unsafe { self.out.get_mut(tr.start * self.n_out..tr.end * self.n_out) };
            out.fill(T::ZERO);
            let tgt: [&[T]; D] = std::array::from_fn(|k| &self.tgt[k][tr.clone()]);
            for &a in self.lists.u.row(b) {
                let sr = self.tree.sources(a as usize);
                if sr.is_empty() {
                    continue;
                }
                let (s, q) = self.src_slices(sr);
                K::p2p(s, q, tgt, out, self.gradients);
            }
        }
        clock.lap(acc, T_P2P);
    }

    fn upward(&self, task: &Task, acc: &mut [u64; 8]) {
        let n = self.ops.n;
        let level = task.level as usize;
        let set = &self.views[self.ops.set_of_level[level]];
        let scale = self.ops.scales[level];
        let r = task.nodes.start as usize..task.nodes.end as usize;
        let mut buf = self.scratch(D * n + n);
        let (surf, check) = buf.split_at_mut(D * n);
        let mut clock = Clock::start();
        for b in r.clone() {
            // SAFETY: this task is the only writer of up_equiv[b] for b in its range; the
            // readers (parent upward, M2L, M2P) are successors.
            let eq = unsafe { self.up_equiv.get_mut(b * n..(b + 1) * n) };
            let sr = self.tree.sources(b);
            if sr.is_empty() {
                eq.fill(T::ZERO);
                continue;
            }
            if self.tree.is_leaf(b) {
                self.surface(b, self.ops.alpha_outer, surf);
                check.fill(T::ZERO);
                let (s, q) = self.src_slices(sr);
                K::p2p(s, q, Self::soa(surf, n), check, false);
                self.apply_c2e(
                    set.uc2e_a,
                    set.uc2e_b,
                    set.uc2e_rank,
                    check,
                    1,
                    eq,
                    scale.c2e,
                );
                clock.lap(acc, T_P2M);
            } else {
                let ch = self.tree.children(b);
                // SAFETY: the children's upward tasks are predecessors and have finished.
                let child_eq = unsafe { self.up_equiv.get(ch.start * n..ch.end * n) };
                let nc = ch.len();
                gemm_n(
                    eq,
                    n,
                    Mat::new(set.m2m, n, nc * n),
                    Mat::new(child_eq, nc * n, 1),
                    T::ONE,
                    false,
                    n,
                    Shape::M2m,
                );
                clock.lap(acc, T_M2M);
            }
        }
        if self.m2l == M2l::Fft {
            return;
        }
        // Compressed multipoles for M2L: up_hat = Vt * up_equiv over the whole range.
        let k = set.k;
        let kmax = self.ops.max_rank;
        // SAFETY: written above by this task only.
        let eq = unsafe { self.up_equiv.get(r.start * n..r.end * n) };
        // SAFETY: only this task writes up_hat for its range; M2L readers are successors.
        let hat = unsafe { self.up_hat.get_mut(r.start * kmax..r.end * kmax) };
        gemm(
            hat,
            kmax,
            Mat::new(set.m2l_vt, k, n),
            Mat::new(eq, n, r.len()),
            T::ONE,
            false,
        );
        clock.lap(acc, T_M2L);
    }

    fn m2l(&self, task: &Task, acc: &mut [u64; 8]) {
        let c = task.chunk as usize;
        let g = &self.plan.groups[c];
        let level = task.level as usize;
        let set = &self.views[self.ops.set_of_level[level]];
        let k = set.k;
        let kmax = self.ops.max_rank;
        let r = task.nodes.start as usize..task.nodes.end as usize;
        let mut clock = Clock::start();
        // SAFETY: this task is the only writer of down_hat for its range; the downward task of
        // the same chunk reads it after (edge).
        let dst = unsafe { self.down_hat.get_mut(r.start * kmax..r.end * kmax) };
        dst.fill(T::ZERO);
        let mg = g.max_group;
        let rmax = set.core_ranks.iter().copied().max().unwrap_or(0);
        {
            let mut buf = self.scratch(2 * k * mg + rmax * mg);
            let (gathered, rest) = buf.split_at_mut(k * mg);
            let (product, coeffs) = rest.split_at_mut(k * mg);
            for (gi, &t) in g.t.iter().enumerate() {
                let pairs = &g.pairs[g.offsets[gi] as usize..g.offsets[gi + 1] as usize];
                let m = pairs.len();
                for (j, &(_, a)) in pairs.iter().enumerate() {
                    let a = a as usize;
                    // SAFETY: the source's upward task is a predecessor (edge from the plan).
                    let src = unsafe { self.up_hat.get(a * kmax..a * kmax + k) };
                    gathered[j * k..(j + 1) * k].copy_from_slice(src);
                }
                // C_t X = A_t (B_t^T X): two thin products through the core's own rank.
                let t = t as usize;
                let (rt, off) = (set.core_ranks[t], set.core_offsets[t]);
                let coeffs = &mut coeffs[..rt * m];
                gemm(
                    coeffs,
                    rt,
                    Mat::new(&set.m2l_core_bt[off..off + rt * k], rt, k),
                    Mat::new(&gathered[..k * m], k, m),
                    T::ONE,
                    false,
                );
                gemm(
                    &mut product[..k * m],
                    k,
                    Mat::new(&set.m2l_core_a[off..off + k * rt], k, rt),
                    Mat::new(coeffs, rt, m),
                    T::ONE,
                    false,
                );
                for (j, &(b, _)) in pairs.iter().enumerate() {
                    let off = (b as usize - r.start) * kmax;
                    for (d, s) in dst[off..off + k]
                        .iter_mut()
                        .zip(&product[j * k..(j + 1) * k])
                    {
                        *d += *s;
                    }
                }
            }
        }
        clock.lap(acc, T_M2L);
    }

    fn m2l_fft(&self, task: &Task, acc: &mut [u64; 8]) {
        let c = task.chunk as usize;
        let plan = &self.plan.fft[c];
        let g = self.ops.fft_grid.as_ref().expect("FFT operators in 3D");
        let nf = g.nfreq;
        let n = self.ops.n;
        let level = task.level as usize;
        let set = &self.views[self.ops.set_of_level[level]];
        let nt = set.fft_re.len() / nf;
        let scale = T::from_f64(self.ops.scales[level].kernel);
        let tw = crate::fft::Twiddles {
            cos: &self.ops.tw_cos,
            sin: &self.ops.tw_sin,
        };
        let r = task.nodes.start as usize..task.nodes.end as usize;
        let mut clock = Clock::start();
        // SAFETY: this task is the only writer of down_hat (stride n here) for its range.
        let dst = unsafe { self.down_hat.get_mut(r.start * n..r.end * n) };
        dst.fill(T::ZERO);
        let (ns, ntp) = (plan.sparents.len(), plan.tparents.len());
        if ntp == 0 || ns == 0 {
            clock.lap(acc, T_M2L);
            return;
        }
        let mut used = [false; 27];
        for (ti, u) in used.iter_mut().enumerate() {
            *u = (0..ntp).any(|tp| plan.slots[tp * 27 + ti] != u32::MAX);
        }
        let len_spec = nf * ns * 16;
        let len_accum = nf * ntp * 16;
        let len_m = crate::hadamard::HADAMARD_JB * 27 * 128;
        let total = len_spec + len_accum + len_m + g.scratch_len();
        {
            let mut buf = self.scratch(total);
            let (spec, rest) = buf.split_at_mut(len_spec);
            let (accum, rest) = rest.split_at_mut(len_accum);
            let (m, scratch) = rest.split_at_mut(len_m);
            // Source spectra, [kx][source parent][j][re 8 | im 8] (children in lanes).
            pulp::Arch::new().dispatch(Forward {
                ctx: self,
                plan,
                g,
                tw: &tw,
                spec,
                scratch,
            });
            // Hadamard products: accum[f][tp][tc] = sum M[T][f][sc][tc] spec[f][sp][sc].
            crate::hadamard::hadamard(
                g.p,
                crate::hadamard::HadamardArgs {
                    accum,
                    spec,
                    m,
                    gre: set.fft_re,
                    gim: set.fft_im,
                    nt,
                    ns,
                    ntp,
                    slots: &plan.slots,
                    used: &used,
                    pair_table: &self.ops.pair_table,
                },
            );
            // Back to check potentials, 8 target children at a time.
            pulp::Arch::new().dispatch(Inverse {
                ctx: self,
                plan,
                g,
                tw: &tw,
                accum,
                dst,
                first: r.start,
                scale,
                scratch,
            });
        }
        clock.lap(acc, T_M2L);
    }

    fn downward(&self, task: &Task, acc: &mut [u64; 8]) {
        let n = self.ops.n;
        let level = task.level as usize;
        let set = &self.views[self.ops.set_of_level[level]];
        let scale = self.ops.scales[level];
        let r = task.nodes.start as usize..task.nodes.end as usize;
        let m = r.len();
        let mut buf = self.scratch(n * m + D * n);
        let (check, surf) = buf.split_at_mut(n * m);

        let mut clock = Clock::start();
        // M2L expansion: check = scale * U * down_hat over the range (SVD), or the check
        // potentials the FFT M2L wrote.
        let kmax = self.hat_stride;
        // SAFETY: down_hat of this range was written by this chunk's M2L task (predecessor).
        let hat = unsafe { self.down_hat.get(r.start * kmax..r.end * kmax) };
        if self.m2l == M2l::Fft {
            check.copy_from_slice(hat);
        } else {
            let hat = Mat {
                data: hat,
                rows: set.k,
                cols: m,
                ld: kmax,
            };
            gemm(
                check,
                n,
                Mat::new(set.m2l_u, n, set.k),
                hat,
                T::from_f64(scale.kernel),
                false,
            );
        }
        clock.lap(acc, T_M2L);
        for (j, b) in r.clone().enumerate() {
            if self.tree.targets(b).is_empty() {
                continue;
            }
            let col = &mut check[j * n..(j + 1) * n];
            if level >= 3 {
                let p = self.tree.parent[b] as usize;
                let ci = self.tree.keys[b].child_index();
                // SAFETY: the parent's downward task is a predecessor.
                let peq = unsafe { self.down_equiv.get(p * n..(p + 1) * n) };
                let block = &set.l2l[ci * n * n..(ci + 1) * n * n];
                gemm_n(
                    col,
                    n,
                    Mat::new(block, n, n),
                    Mat::new(peq, n, 1),
                    T::from_f64(scale.kernel),
                    true,
                    n,
                    Shape::Gemv,
                );
                clock.lap(acc, T_L2L);
            }
            let x = self.lists.x.row(b);
            if !x.is_empty() {
                self.surface(b, self.ops.alpha_inner, surf);
                for &a in x {
                    let sr = self.tree.sources(a as usize);
                    if sr.is_empty() {
                        continue;
                    }
                    let (s, q) = self.src_slices(sr);
                    K::p2p(s, q, Self::soa(surf, n), col, false);
                }
                clock.lap(acc, T_P2L);
            }
        }
        // SAFETY: only this task writes down_equiv for its range; readers (children's downward,
        // this chunk's evaluate) are successors.
        let eq = unsafe { self.down_equiv.get_mut(r.start * n..r.end * n) };
        self.apply_c2e(
            set.dc2e_a,
            set.dc2e_b,
            set.dc2e_rank,
            check,
            m,
            eq,
            scale.c2e,
        );
        clock.lap(acc, T_L2L);
    }

    fn evaluate_leaves(&self, task: &Task, acc: &mut [u64; 8]) {
        let n = self.ops.n;
        let level = task.level as usize;
        let mut surf = self.scratch(D * n);
        let mut clock = Clock::start();
        for b in task.nodes.clone() {
            let b = b as usize;
            let tr = self.tree.targets(b);
            if !self.tree.is_leaf(b) || tr.is_empty() {
                continue;
            }
            // SAFETY: the P2P task of this chunk (the other writer) is a predecessor.
            let out = unsafe { self.out.get_mut(tr.start * self.n_out..tr.end * self.n_out) };
            let tgt: [&[T]; D] = std::array::from_fn(|k| &self.tgt[k][tr.clone()]);
            if level >= 2 {
                self.surface(b, self.ops.alpha_outer, &mut surf);
                // SAFETY: this chunk's downward task is a predecessor.
                let eq = unsafe { self.down_equiv.get(b * n..(b + 1) * n) };
                K::p2p(Self::soa(&surf, n), eq, tgt, out, self.gradients);
                clock.lap(acc, T_L2P);
            }
            for &a in self.lists.w.row(b) {
                let a = a as usize;
                if self.tree.sources(a).is_empty() {
                    continue;
                }
                self.surface(a, self.ops.alpha_inner, &mut surf);
                // SAFETY: the source box's upward task is a predecessor.
                let eq = unsafe { self.up_equiv.get(a * n..(a + 1) * n) };
                K::p2p(Self::soa(&surf, n), eq, tgt, out, self.gradients);
            }
            clock.lap(acc, T_M2P);
        }
    }
}

impl<K: Kernel<D>, const ORDER: usize, const D: usize, T: Real> Fmm<K, ORDER, D, T>
where
    Expansion<ORDER, D>: SupportedOrder,
{
    /// Potentials (and gradients, if enabled) at the targets for these charges, in the
    /// caller's order. Can be called any number of times; evaluations of one `Fmm` run one
    /// at a time.
    pub fn evaluate(&self, charges: &[T]) -> Result<FmmOutput<T, D>> {
        let ns = self.tree.source_order.len();
        if charges.len() != ns {
            return Err(Error::LengthMismatch {
                what: "charges",
                expected: ns,
                got: charges.len(),
            });
        }
        if let Some(index) = charges.par_iter().position_first(|q| !q.is_finite()) {
            return Err(Error::NonFinite {
                what: "charges",
                index,
            });
        }
        let t_wall = Instant::now();
        // Never block on the workspace: a nested call (evaluate inside a rayon task while
        // another evaluate runs on this thread) would deadlock. A busy workspace means a
        // private one for this call.
        let mut own;
        let mut guard = match self.work.try_lock() {
            Ok(g) => Some(g),
            Err(std::sync::TryLockError::Poisoned(p)) => Some(p.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => None,
        };
        let work: &mut Workspace<T> = match guard.as_deref_mut() {
            Some(w) => w,
            None => {
                own = self.sizes.allocate();
                &mut own
            }
        };
        let counters = std::mem::take(&mut work.counters);
        let t0 = Instant::now();
        work.charges
            .par_iter_mut()
            .zip(&self.tree.source_order)
            .for_each(|(c, &i)| *c = charges[i as usize]);
        let mut sort_time = t0.elapsed();
        let n_out = if self.gradients { 1 + D } else { 1 };
        let ctx = self.context(work, n_out);
        let exec = || {
            self.graph
                .execute(&counters, &|i| ctx.run(&self.graph.tasks[i]))
        };
        match &self.pool {
            Some(p) => p.install(exec),
            None => exec(),
        }
        let times: Vec<(&'static str, Duration)> = OP_NAMES
            .iter()
            .zip(&ctx.times)
            .map(|(&name, t)| (name, Duration::from_nanos(t.load(Ordering::Relaxed))))
            .collect();
        drop(ctx);
        let t0 = Instant::now();
        let nt = self.tree.target_order.len();
        let mut potentials = vec![T::ZERO; nt];
        let mut gradients = if self.gradients {
            vec![[T::ZERO; D]; nt]
        } else {
            Vec::new()
        };
        let out = &work.out;
        // Scatter back to the caller's order (a permutation: sequential writes are fine).
        for (i, &orig) in self.tree.target_order.iter().enumerate() {
            potentials[orig as usize] = out[i * n_out];
            if self.gradients {
                gradients[orig as usize] = std::array::from_fn(|k| out[i * n_out + 1 + k]);
            }
        }
        sort_time += t0.elapsed();
        work.counters = counters;
        drop(guard);
        let report = EvalReport {
            wall: t_wall.elapsed(),
            sort: sort_time,
            operators: times,
        };
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) = Some(report);
        Ok(FmmOutput {
            potentials,
            gradients,
        })
    }

    fn context<'a>(&'a self, work: &'a mut Workspace<T>, n_out: usize) -> Ctx<'a, K, D, T> {
        Ctx::<K, D, T> {
            tree: &self.tree,
            lists: &self.lists,
            plan: &self.plan,
            ops: &self.ops,
            views: self.ops.views(),
            src: std::array::from_fn(|k| self.sources[k].as_slice()),
            tgt: std::array::from_fn(|k| self.targets[k].as_slice()),
            charges: &work.charges,
            up_equiv: Shared::new(&mut work.up_equiv),
            up_hat: Shared::new(&mut work.up_hat),
            down_hat: Shared::new(&mut work.down_hat),
            down_equiv: Shared::new(&mut work.down_equiv),
            out: Shared::new(&mut work.out),
            n_out,
            gradients: self.gradients,
            m2l: self.m2l,
            shift: self.tree.domain.centre(),
            hat_stride: if self.m2l == M2l::Fft {
                self.ops.n
            } else {
                self.ops.max_rank
            },
            times: Default::default(),
            scratch: &work.scratch,
            scratch64: &work.scratch64,
            _k: PhantomData,
        }
    }

    /// Runs only the M2L tasks (all of them, in parallel) on the data of the last
    /// `evaluate`, and returns the number of target boxes they served. For benchmarks of the
    /// M2L backends on real level data (`benches/m2l.rs`).
    #[doc(hidden)]
    pub fn run_m2l_only(&self) -> usize {
        let mut guard = self.work.lock().unwrap_or_else(|e| e.into_inner());
        let n_out = if self.gradients { 1 + D } else { 1 };
        let ctx = self.context(&mut guard, n_out);
        let tasks: Vec<&Task> = self
            .graph
            .tasks
            .iter()
            .filter(|t| t.op == Op::M2l)
            .collect();
        let exec = || tasks.par_iter().for_each(|t| ctx.run(t));
        match &self.pool {
            Some(p) => p.install(exec),
            None => exec(),
        }
        tasks
            .iter()
            .flat_map(|t| t.nodes.clone())
            .filter(|&b| !self.tree.targets(b as usize).is_empty())
            .count()
    }

    /// Timings and sizes of `build()`.
    pub fn build_report(&self) -> &BuildReport {
        &self.build_report
    }

    /// Per-operator timings of the last `evaluate` (None before the first).
    pub fn last_report(&self) -> Option<EvalReport> {
        self.last.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The tree.
    pub fn tree(&self) -> &LinearTree<D> {
        &self.tree
    }

    /// The interaction lists.
    pub fn lists(&self) -> &InteractionLists {
        &self.lists
    }

    /// The task graph.
    pub fn graph(&self) -> &TaskGraph {
        &self.graph
    }

    /// Number of sources.
    pub fn n_sources(&self) -> usize {
        self.tree.source_order.len()
    }

    /// Number of targets.
    pub fn n_targets(&self) -> usize {
        self.tree.target_order.len()
    }

    /// True if gradients are computed.
    pub fn computes_gradients(&self) -> bool {
        self.gradients
    }
}
