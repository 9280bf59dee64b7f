//! The static task graph: tasks over contiguous node ranges of one level, with an edge for
//! every data dependency, executed on rayon with an atomic in-degree counter per task.
//!
//! The graph is built once (by [`Fmm`](crate::Fmm)'s builder) and run again for every
//! `evaluate`. Each task writes only its own node range (or its leaves' targets), and every
//! reader of that range is a successor, so a task never races with another: the edges are
//! the synchronisation, there are no locks.

use std::ops::Range;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::tree::Csr;

/// What a task does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Op {
    /// Near field of leaves: P2P over the U list (first writer of the leaves' targets).
    P2p,
    /// Multipoles: P2M for leaves, M2M for internal boxes, then the compressed multipoles.
    Upward,
    /// M2L over the V list: for the SVD backend gathered per transfer vector into two thin
    /// products (BLAS-3 shape); for the FFT backend transforms and Hadamard products.
    M2l,
    /// Downward check potentials (L2L, M2L expansion, P2L) and local densities (DC2E).
    Downward,
    /// Leaves' far field: L2P and M2P (W list), after the leaves' P2P.
    Evaluate,
}

/// One task: an operator over a contiguous range of node indices of one level.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Task {
    /// The operator.
    pub op: Op,
    /// The level of every node in the range.
    pub level: u32,
    /// Index of the node chunk (the builder's per-chunk plans are indexed by it).
    pub chunk: u32,
    /// Node indices (tree order).
    pub nodes: Range<u32>,
}

/// Tasks, their successors, and their in-degrees.
#[derive(Clone, Debug, Default)]
pub struct TaskGraph {
    /// The tasks.
    pub tasks: Vec<Task>,
    /// Row `i`: the tasks that wait for task `i`.
    pub successors: Csr,
    /// Number of predecessors of each task.
    pub in_degree: Vec<u32>,
}

impl TaskGraph {
    /// Builds the graph from tasks and (predecessor, successor) edges; duplicates are merged.
    pub fn new(tasks: Vec<Task>, mut edges: Vec<(u32, u32)>) -> Self {
        edges.sort_unstable();
        edges.dedup();
        let n = tasks.len();
        let mut rows: Vec<Vec<u32>> = vec![Vec::new(); n];
        let mut in_degree = vec![0u32; n];
        for (a, b) in edges {
            debug_assert!(a != b);
            rows[a as usize].push(b);
            in_degree[b as usize] += 1;
        }
        Self {
            tasks,
            successors: Csr::from_rows(rows),
            in_degree,
        }
    }

    /// Number of tasks.
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// True if there are no tasks.
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// Number of edges.
    pub fn edges(&self) -> usize {
        self.successors.indices.len()
    }

    /// Runs every task once, each after all its predecessors, on the current rayon pool.
    /// `counters` must have one entry per task (reused across runs to avoid allocation).
    pub fn execute(&self, counters: &[AtomicU32], run: &(dyn Fn(usize) + Sync)) {
        assert_eq!(counters.len(), self.tasks.len());
        for (c, &d) in counters.iter().zip(&self.in_degree) {
            c.store(d, Ordering::Relaxed);
        }
        rayon::scope(|s| {
            for (i, &d) in self.in_degree.iter().enumerate() {
                if d == 0 {
                    s.spawn(move |s| self.run_task(s, counters, run, i));
                }
            }
        });
    }

    fn run_task<'s>(
        &'s self,
        s: &rayon::Scope<'s>,
        counters: &'s [AtomicU32],
        run: &'s (dyn Fn(usize) + Sync),
        i: usize,
    ) {
        run(i);
        for &succ in self.successors.row(i) {
            // AcqRel: the last predecessor to finish sees (acquire) every other
            // predecessor's writes (released by their own decrement) before it spawns the
            // successor, so the successor reads complete data.
            if counters[succ as usize].fetch_sub(1, Ordering::AcqRel) == 1 {
                s.spawn(move |s| self.run_task(s, counters, run, succ as usize));
            }
        }
    }
}
