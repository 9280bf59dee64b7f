//! Building an [`Fmm`]: the options, their checks, and the one pass from points to a ready
//! evaluator (tree and lists while the operator cache is opened, then operators, the M2L plan,
//! the task graph and the evaluation buffers).

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rayon::prelude::*;

use super::Fmm;
use super::report::BuildReport;
use crate::cache::CacheMode;
use crate::error::{Error, Result};
use crate::eval::schedule::{build_graph, chunk_ranges};
use crate::eval::workspace::WorkspaceSizes;
use crate::geometry::{Domain, MortonKey};
use crate::kernel::{Kernel, Scaling};
use crate::m2l::{M2l, Plan};
use crate::operators::OperatorParams;
use crate::operators::store::Operators;
use crate::order::{Expansion, SupportedOrder};
use crate::scalar::{Real, Value};
use crate::tree::{InteractionLists, LinearTree, TreeOptions};

/// Builder for [`Fmm`]; see [`Fmm::builder`].
pub struct FmmBuilder<'a, K, const ORDER: usize, const D: usize, T> {
    kernel: K,
    sources: Option<&'a [[T; D]]>,
    targets: Option<&'a [[T; D]]>,
    max_points_per_leaf: usize,
    max_depth: Option<u32>,
    gradients: bool,
    cache: CacheMode,
    threads: Option<usize>,
    params: Option<OperatorParams>,
    m2l: M2l,
}

/// The options, with the point sets shown by their lengths.
impl<K: std::fmt::Debug, const ORDER: usize, const D: usize, T> std::fmt::Debug
    for FmmBuilder<'_, K, ORDER, D, T>
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FmmBuilder")
            .field("kernel", &self.kernel)
            .field("order", &ORDER)
            .field("dim", &D)
            .field("sources", &self.sources.map(<[_]>::len))
            .field("targets", &self.targets.map(<[_]>::len))
            .field("max_points_per_leaf", &self.max_points_per_leaf)
            .field("max_depth", &self.max_depth)
            .field("gradients", &self.gradients)
            .field("cache", &self.cache)
            .field("threads", &self.threads)
            .field("params", &self.params)
            .field("m2l", &self.m2l)
            .finish()
    }
}

/// For an oscillatory kernel: the warning when the largest boxes with far-field (M2L)
/// interactions, those of level 2, are too many radians `k w` across for order `p`. Measured
/// (Helmholtz, 10k uniform points, relative L2 error of the potential): at `k w` = 0.8, 3.1
/// and 7.9 order 4 gives 1.8e-4, 4.9e-4 and 1.4e-1, order 6 1.8e-6, 3.2e-6 and 2.3e-4, order 8
/// 3e-8, 4e-8 and 7e-7: the accuracy of order `p` holds up to about `k w = p`.
fn frequency_warning<K: Kernel<D>, const D: usize>(
    kernel: &K,
    tree: &LinearTree<D>,
    order: usize,
) -> Option<String> {
    let k = kernel.wavenumber()?;
    if tree.depth() < 2 {
        return None;
    }
    let kw = k * tree.domain().width / 4.0;
    (kw > order as f64).then(|| {
        format!(
            "the largest boxes with far-field interactions are {:.2} wavelengths across \
             (k w = {kw:.1}); KIFMM is a low-frequency method and order {order} loses accuracy \
             past k w = {order}: raise the order to about {:.0} (or more), or split the domain",
            kw / (2.0 * std::f64::consts::PI),
            kw.ceil()
        )
    })
}

impl<K: Kernel<D>, const ORDER: usize, const D: usize, T: Real> Fmm<K, ORDER, D, T>
where
    Expansion<ORDER, D>: SupportedOrder,
{
    /// Starts a builder for the kernel's default value (`Fmm::<Laplace, 6>::builder()`); a
    /// kernel with parameters is given with [`FmmBuilder::kernel`] or [`Fmm::with_kernel`].
    /// Defaults: targets = sources, 150 points per leaf, depth bound `MortonKey::MAX_LEVEL`
    /// (capped at 16), potentials only, the default cache directory, rayon's global pool.
    pub fn builder<'a>() -> FmmBuilder<'a, K, ORDER, D, T>
    where
        K: Default,
    {
        Self::with_kernel(K::default())
    }

    /// Starts a builder for this kernel value (which may hold parameters):
    /// `Fmm::<Yukawa, 6>::with_kernel(Yukawa::new(20.0)?)`. The defaults of [`Fmm::builder`].
    pub fn with_kernel<'a>(kernel: K) -> FmmBuilder<'a, K, ORDER, D, T> {
        FmmBuilder {
            kernel,
            sources: None,
            targets: None,
            max_points_per_leaf: 150,
            max_depth: None,
            gradients: false,
            cache: CacheMode::Default,
            threads: None,
            params: None,
            m2l: M2l::Auto,
        }
    }
}

impl<'a, K: Kernel<D>, const ORDER: usize, const D: usize, T: Real> FmmBuilder<'a, K, ORDER, D, T>
where
    Expansion<ORDER, D>: SupportedOrder,
{
    /// The kernel (default: `K::default()`, for kernels that have one).
    pub fn kernel(mut self, kernel: K) -> Self {
        self.kernel = kernel;
        self
    }
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
        let reals = <K::Value<T> as Value>::REALS;
        let m2l = self.m2l.resolve(D, ORDER, T::PRECISION, reals == 2);
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
                    let mut options = TreeOptions::adaptive(self.max_points_per_leaf, max_depth);
                    // Per-level operators are cached by box size: round it to a grid so that
                    // similar point sets share them.
                    // The points are checked once, by the tree builder (before it reads this
                    // domain): a non-finite or empty set fails there with its own error.
                    if !matches!(self.kernel.scaling(), Scaling::Homogeneous { .. }) {
                        let bounding = match self.targets {
                            Some(t) => Domain::bounding(&[sources, t]),
                            None => Domain::bounding(&[sources]),
                        };
                        options.domain = Some(bounding.on_width_grid());
                    }
                    let tree = LinearTree::build(sources, self.targets, &options)?;
                    let t_tree = t0.elapsed();
                    let t0 = Instant::now();
                    let lists = InteractionLists::build(&tree);
                    Ok((tree, t_tree, lists, t0.elapsed()))
                },
                || Operators::<T>::load_cache(&self.kernel, ORDER, &params, &self.cache),
            );
            let (tree, t_tree, lists, t_lists) = tree_lists?;
            report.tree = t_tree;
            report.lists = t_lists;
            let t0 = Instant::now();
            let cache_time = cached.as_ref().map_or(Duration::ZERO, |c| c.elapsed);
            let (ops, source, times) =
                Operators::<T>::load(&self.kernel, ORDER, &tree, &params, &self.cache, cached)?;
            report.operators = cache_time + t0.elapsed();
            report.operators_open = times.open;
            report.operators_verify = times.verify;
            report.operators_verified_by_stamp = times.by_stamp;
            report.cache = source;
            if let Some(w) = frequency_warning(&self.kernel, &tree, ORDER) {
                log::warn!("{w}");
                report.warnings.push(w);
            }
            let t0 = Instant::now();
            let chunks = chunk_ranges(&tree);
            let plan = Plan::build(&tree, &lists, &chunks, m2l);
            let graph = build_graph(&tree, &lists, &chunks, &plan);
            report.graph = t0.elapsed();

            // Points are stored relative to the domain's centre (the kernel is translation
            // invariant): f32 runs keep their resolution on data far from the origin, and the
            // surfaces are built in the same frame.
            let shift = tree.domain().centre();
            let soa = |set: &[[T; D]], order: &[u32]| -> [Vec<T>; D] {
                std::array::from_fn(|k| {
                    order
                        .par_iter()
                        .map(|&i| T::from_f64(set[i as usize][k].to_f64() - shift[k]))
                        .collect()
                })
            };
            let src = soa(sources, tree.source_order());
            let tgt = soa(self.targets.unwrap_or(sources), tree.target_order());
            // Buffers hold reals: a complex value is two.
            let n = ops.nv;
            let k = if m2l == M2l::Fft { n } else { ops.max_rank };
            let nodes = tree.len();
            let n_out = if self.gradients { 1 + D } else { 1 };
            let sizes = WorkspaceSizes {
                charges: tree.source_order().len() * reals,
                equiv: nodes * n,
                up_hat: if m2l == M2l::Fft { 0 } else { nodes * k },
                down_hat: nodes * k,
                out: tree.target_order().len() * n_out * reals,
                tasks: graph.len(),
                threads: pool
                    .as_ref()
                    .map_or_else(rayon::current_num_threads, |p| p.current_num_threads()),
            };
            let work = sizes.allocate();
            report.nodes = nodes;
            report.leaves = tree.leaves().len();
            report.depth = tree.depth();
            report.tasks = graph.len();
            report.edges = graph.edges();
            report.m2l_rank = ops.sets.iter().map(|s| s.m2l_rank).collect();
            report.m2l_flops = plan.flops(&tree, |level| ops.m2l_ranks(level), ORDER, reals);
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
                kernel: self.kernel.clone(),
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
            })
        };
        // Built on the global pool, so the operators (and hence the results) do not depend
        // on the thread count chosen for `evaluate`.
        let mut fmm = run()?;
        fmm.pool = pool;
        Ok(fmm)
    }
}
