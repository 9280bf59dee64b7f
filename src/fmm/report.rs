//! The reports of a build and of an evaluation: timings, sizes, memory and where the operators
//! came from; `Display` prints them as the tables the example and the CLI show.

use std::time::Duration;

use crate::m2l::M2l;
use crate::operators::OperatorSource;

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
    /// Where the operators came from (the operator cache, or computed in memory, and why).
    pub cache: OperatorSource,
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
    /// What the build found questionable but not wrong (also logged as warnings): an
    /// oscillatory kernel whose boxes are too many wavelengths across for the order.
    pub warnings: Vec<String>,
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
        )?;
        for w in &self.warnings {
            write!(f, "\nwarning: {w}")?;
        }
        Ok(())
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

pub(crate) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
