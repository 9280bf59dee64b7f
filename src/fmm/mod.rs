//! The FMM: [`Fmm`], built once by its [`builder`](Fmm::builder) for a set of sources and
//! targets, then [`evaluate`](Fmm::evaluate)d for any number of charge vectors.

mod any_kernel;
mod builder;
mod dyn_values;
mod eps;
mod report;
mod runtime;

pub use builder::FmmBuilder;
pub use eps::{EpsPlan, TOLERANCE_STEPS, measured_error, order_for_eps, plan_for_eps};
pub use report::{BuildReport, EvalReport};
pub use runtime::{
    Accuracy, AnyKernel, Coords, DynFmm, DynOutput, FmmConfig, ValueVec, Values, direct_any,
};

use std::marker::PhantomData;
use std::sync::Mutex;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::eval::context::{Ctx, OP_NAMES};
use crate::eval::graph::{Op, Task, TaskGraph};
use crate::eval::workspace::{Shared, Workspace, WorkspaceSizes};
use crate::kernel::Kernel;
use crate::m2l::{M2l, Plan};
use crate::operators::store::Operators;
use crate::order::{Expansion, SupportedOrder};
use crate::scalar::{Real, Value};
use crate::tree::{InteractionLists, LinearTree};

/// A built FMM: tree, lists, operators and task graph for one set of sources and targets;
/// [`evaluate`](Fmm::evaluate) runs it for any number of charge vectors.
///
/// `ORDER` is the expansion order (the supported range is [`crate::order::SUPPORTED_ORDERS`];
/// another order does not compile), `D` the dimension (2 or 3, default 3), `T` the precision
/// (`f32` or `f64`, default `f64`). Because the order is a type, the evaluation passes are
/// compiled for it: the surface size is a constant of their loops, and the generated
/// fixed-size dense kernels and FFT Hadamard kernels of that order are bound at compile time
/// (see [`crate::order`]). A run-time order becomes one with [`crate::with_order!`].
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
    kernel: K,
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
}

impl<K: std::fmt::Debug, const ORDER: usize, const D: usize, T: Real> std::fmt::Debug
    for Fmm<K, ORDER, D, T>
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fmm")
            .field("kernel", &self.kernel)
            .field("order", &ORDER)
            .field("dim", &D)
            .field("precision", &T::PRECISION)
            .field("sources", &self.tree.source_order().len())
            .field("targets", &self.tree.target_order().len())
            .field("nodes", &self.tree.len())
            .field("depth", &self.tree.depth())
            .field("gradients", &self.gradients)
            .field("m2l", &self.m2l)
            .field("tasks", &self.graph.len())
            .finish_non_exhaustive()
    }
}

/// Potentials (and gradients) at the targets, in the caller's order.
#[derive(Clone, Debug, PartialEq)]
pub struct FmmOutput<T, const D: usize> {
    /// `phi(x_i)` for each target.
    pub potentials: Vec<T>,
    /// `grad phi(x_i)` for each target (empty unless gradients were requested).
    pub gradients: Vec<[T; D]>,
}

impl<K: Kernel<D>, const ORDER: usize, const D: usize, T: Real> Fmm<K, ORDER, D, T>
where
    Expansion<ORDER, D>: SupportedOrder,
{
    /// Potentials (and gradients, if enabled) at the targets for these charges, in the
    /// caller's order. Can be called any number of times; evaluations of one `Fmm` run one
    /// at a time.
    pub fn evaluate(&self, charges: &[K::Value<T>]) -> Result<FmmOutput<K::Value<T>, D>> {
        let ns = self.tree.source_order().len();
        if charges.len() != ns {
            return Err(Error::LengthMismatch {
                what: "charges",
                expected: ns,
                got: charges.len(),
            });
        }
        if let Some(index) = charges.par_iter().position_first(|q| !q.all_finite()) {
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
        {
            let sorted = <K::Value<T> as Value>::from_reals_mut(&mut work.charges);
            sorted
                .par_iter_mut()
                .zip(self.tree.source_order())
                .for_each(|(c, &i)| *c = charges[i as usize]);
        }
        let mut sort_time = t0.elapsed();
        let n_out = if self.gradients { 1 + D } else { 1 };
        let ctx = self.context(work, n_out * <K::Value<T> as Value>::REALS);
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
        let nt = self.tree.target_order().len();
        let zero = K::Value::<T>::default();
        let mut potentials = vec![zero; nt];
        let mut gradients = if self.gradients {
            vec![[zero; D]; nt]
        } else {
            Vec::new()
        };
        let out = <K::Value<T> as Value>::from_reals(&work.out);
        // Scatter back to the caller's order (a permutation: sequential writes are fine).
        for (i, &orig) in self.tree.target_order().iter().enumerate() {
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

    fn context<'a>(
        &'a self,
        work: &'a mut Workspace<T>,
        n_out: usize,
    ) -> Ctx<'a, K, Expansion<ORDER, D>, D, T> {
        debug_assert_eq!(
            self.ops.n,
            <Expansion<ORDER, D> as SupportedOrder>::SURFACE_LEN
        );
        Ctx {
            kernel: &self.kernel,
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
            nv: self.ops.nv,
            gradients: self.gradients,
            m2l: self.m2l,
            shift: self.tree.domain().centre(),
            hat_stride: if self.m2l == M2l::Fft {
                self.ops.nv
            } else {
                self.ops.max_rank
            },
            times: Default::default(),
            scratch: &work.scratch,
            scratch64: &work.scratch64,
            _o: PhantomData,
        }
    }

    /// Runs only the M2L tasks (all of them, in parallel) on the data of the last
    /// `evaluate`, and returns the number of target boxes they served. For benchmarks of the
    /// M2L backends on real level data (`benches/m2l.rs`). Not a stable API.
    ///
    /// Safe without the graph's edges: it holds the workspace lock for the whole run, so no
    /// evaluation writes the buffers meanwhile; every M2L task reads only `up_hat` (SVD) or
    /// `up_equiv` (FFT), which no M2L task writes, and writes only the `down_hat` range of its
    /// own chunk, disjoint from every other task's (chunks partition the nodes).
    #[doc(hidden)]
    pub fn run_m2l_only(&self) -> usize {
        let mut guard = self.work.lock().unwrap_or_else(|e| e.into_inner());
        let n_out = if self.gradients { 1 + D } else { 1 };
        let ctx = self.context(&mut guard, n_out * <K::Value<T> as Value>::REALS);
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

    /// The kernel.
    pub fn kernel(&self) -> &K {
        &self.kernel
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
        self.tree.source_order().len()
    }

    /// Number of targets.
    pub fn n_targets(&self) -> usize {
        self.tree.target_order().len()
    }

    /// True if gradients are computed.
    pub fn computes_gradients(&self) -> bool {
        self.gradients
    }
}
