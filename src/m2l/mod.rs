//! The M2L stage: the backend choice ([`M2l`]) and the precomputed plans that the evaluation's
//! M2L tasks follow (the SVD backend's pairs grouped by transfer vector, `svd.rs`; the FFT
//! backend's sibling groups and its transforms, transfer functions and Hadamard kernels,
//! `fft/`).

pub(crate) mod fft;
pub(crate) mod svd;

use std::ops::Range;

use fft::plan::FftChunk;
use svd::M2lGroups;

use crate::scalar::Precision;
use crate::tree::{InteractionLists, LinearTree};

/// The M2L backend.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum M2l {
    /// SVD-compressed M2L (shared bases, per transfer vector a core stored as two factors of
    /// its own rank), applied per transfer vector and task as two thin products (2D and 3D).
    Svd,
    /// FFT-based M2L: Hadamard products in the frequency domain between sibling groups
    /// (3D only).
    Fft,
    /// Per (kernel values, dimension, precision, order) from the tables in the README,
    /// produced by `cargo bench --bench m2l` (one thread, 200k uniform points, p = 4, 6, 8,
    /// f32 and f64, Laplace and Helmholtz with k = 10), confirmed on whole 1M-point runs:
    ///
    /// - real kernels (Laplace, Yukawa, your own): the SVD backend everywhere. With each
    ///   transfer vector's core recompressed to its own rank it serves 1.3x (p = 10, f64) to
    ///   8.7x (p = 8, f32) more target boxes per second than the FFT backend.
    /// - complex kernels (Helmholtz): the SVD backend in f32 (1.4x to 7.8x ahead) and in f64
    ///   up to p = 7 (p = 4: 1.16x; p = 6 and 7 level); the FFT backend in f64 from p = 8,
    ///   where the complex cores stay nearly full rank (M2L alone 1.2x ahead at p = 8; 1M
    ///   points with k = 10: 12.8-13.3 s against 13.9 s).
    ///
    /// [`M2l::resolve`] applies this rule.
    #[default]
    Auto,
}

impl M2l {
    /// The backend `Auto` resolves to for a `dim`-dimensional kernel whose values are complex
    /// or real, at `precision` and expansion `order` (see [`M2l::Auto`] for the measurements);
    /// an explicit backend is returned as it is.
    ///
    /// ```
    /// use oxifmm::{M2l, Precision};
    ///
    /// assert_eq!(M2l::Auto.resolve(3, 6, Precision::F64, false), M2l::Svd);
    /// assert_eq!(M2l::Auto.resolve(3, 8, Precision::F64, true), M2l::Fft);
    /// assert_eq!(M2l::Auto.resolve(3, 8, Precision::F32, true), M2l::Svd);
    /// assert_eq!(M2l::Fft.resolve(3, 4, Precision::F32, false), M2l::Fft);
    /// ```
    pub fn resolve(self, dim: usize, order: usize, precision: Precision, complex: bool) -> M2l {
        match self {
            M2l::Auto if dim == 3 && complex && precision == Precision::F64 && order >= 8 => {
                M2l::Fft
            }
            M2l::Auto => M2l::Svd,
            other => other,
        }
    }
}

/// Precomputed M2L work: per M2L task, the (target, source) pairs grouped by transfer vector.
#[derive(Default)]
pub(crate) struct Plan {
    /// SVD backend: per chunk, the (target, source) pairs grouped by transfer vector.
    pub(crate) groups: Vec<M2lGroups>,
    /// FFT backend: per chunk, target parents and their source parents.
    pub(crate) fft: Vec<FftChunk>,
}

impl Plan {
    /// The plan of `backend` (resolved) over the task chunks `ranges` (level, node range).
    pub(crate) fn build<const D: usize>(
        tree: &LinearTree<D>,
        lists: &InteractionLists,
        ranges: &[(u32, Range<u32>)],
        backend: M2l,
    ) -> Self {
        if backend == M2l::Fft {
            Plan {
                groups: Vec::new(),
                fft: fft::plan::build(tree, ranges),
            }
        } else {
            Plan {
                groups: svd::build(tree, lists, ranges),
                fft: Vec::new(),
            }
        }
    }

    /// Floating-point operations of one execution of the M2L tasks (see the build report's
    /// `m2l_flops`): `ranks(level)` gives the SVD rank `k` and the core ranks `r_t` of the
    /// operators that `level` uses; `p` is the order; `reals` the reals per kernel value (a
    /// complex kernel's FFT M2L does every transform and Hadamard product twice).
    pub(crate) fn flops<'r, const D: usize>(
        &self,
        tree: &LinearTree<D>,
        ranks: impl Fn(usize) -> (usize, &'r [usize]),
        p: usize,
        reals: usize,
    ) -> f64 {
        let mut total = 0.0;
        for g in &self.groups {
            if g.pairs.is_empty() {
                continue;
            }
            let level = tree.keys()[g.pairs[0].0 as usize].level() as usize;
            let (k, core_ranks) = ranks(level);
            for (gi, &t) in g.t.iter().enumerate() {
                let m = (g.offsets[gi + 1] - g.offsets[gi]) as f64;
                total += 4.0 * k as f64 * core_ranks[t as usize] as f64 * m;
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
                total += reals as f64
                    * (pairs * 64.0 * 8.0 * nf
                        + fwd * ch.sparents.len() as f64
                        + inv * ch.tparents.len() as f64);
            }
        }
        total
    }

    /// Bytes held by the plan.
    pub(crate) fn bytes(&self) -> usize {
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
