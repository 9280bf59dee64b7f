//! The context of one graph execution: what every task reads (tree, lists, plan, operators,
//! sorted points and charges), the shared buffers it writes, the per-operator timers, and the
//! dispatch from a task to its pass.

use std::marker::PhantomData;
use std::ops::Range;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use super::graph::{Op, Task};
use super::workspace::{Scratch, Shared, take_scratch};
use crate::kernel::Kernel;
use crate::linalg::{Mat, Shape, gemm, gemm_surface};
use crate::m2l::{M2l, Plan};
use crate::operators::store::{Operators, SetView};
use crate::order::SupportedOrder;
use crate::scalar::{Precision, Real, Value, same, same_mut};
use crate::tree::{InteractionLists, LinearTree};

/// The operators timed per evaluation, in the order of the timer slots below.
pub(crate) const OP_NAMES: [&str; 8] = ["P2M", "M2M", "M2L", "L2L", "L2P", "P2P", "M2P", "P2L"];
pub(crate) const T_P2M: usize = 0;
pub(crate) const T_M2M: usize = 1;
pub(crate) const T_M2L: usize = 2;
pub(crate) const T_L2L: usize = 3;
pub(crate) const T_L2P: usize = 4;
pub(crate) const T_P2P: usize = 5;
pub(crate) const T_M2P: usize = 6;
pub(crate) const T_P2L: usize = 7;

/// Everything a task reads, and the shared buffers it writes.
pub(crate) struct Ctx<'a, K, O, const D: usize, T> {
    pub(crate) kernel: &'a K,
    pub(crate) tree: &'a LinearTree<D>,
    pub(crate) lists: &'a InteractionLists,
    pub(crate) plan: &'a Plan,
    pub(crate) ops: &'a Operators<T>,
    pub(crate) views: Vec<SetView<'a, T>>,
    pub(crate) src: [&'a [T]; D],
    pub(crate) tgt: [&'a [T]; D],
    pub(crate) charges: &'a [T],
    pub(crate) up_equiv: Shared<T>,
    pub(crate) up_hat: Shared<T>,
    pub(crate) down_hat: Shared<T>,
    pub(crate) down_equiv: Shared<T>,
    pub(crate) out: Shared<T>,
    /// Reals of output per target: values per target (1, or `1 + D` with gradients) times
    /// the reals of a value.
    pub(crate) n_out: usize,
    /// Reals per surface: points per surface times the reals of a value (a density's or a
    /// check potential's length, the operators' rows).
    pub(crate) nv: usize,
    pub(crate) gradients: bool,
    pub(crate) m2l: M2l,
    /// The domain centre: stored points are relative to it.
    pub(crate) shift: [f64; D],
    /// Stride of `down_hat` per node: the SVD rank, or `n` (check potentials) for the FFT.
    pub(crate) hat_stride: usize,
    pub(crate) times: [AtomicU64; 8],
    /// Task scratch buffers (see `Workspace::scratch`).
    pub(crate) scratch: &'a [Mutex<Vec<T>>],
    /// f64 task scratch buffers.
    pub(crate) scratch64: &'a [Mutex<Vec<f64>>],
    /// The order (`O::SURFACE_LEN` points per surface), as a type.
    pub(crate) _o: PhantomData<O>,
}

/// Accumulates time into a slot of a local timer array.
pub(crate) struct Clock {
    t: Instant,
}
impl Clock {
    pub(crate) fn start() -> Self {
        Self { t: Instant::now() }
    }
    pub(crate) fn lap(&mut self, acc: &mut [u64; 8], slot: usize) {
        let now = Instant::now();
        acc[slot] += (now - self.t).as_nanos() as u64;
        self.t = now;
    }
}

/// `y = scale * F x` in f64 (see [`Ctx::apply_c2e`]) for `n` reals per surface of values
/// `V`; `tmp` holds `rank x cols`.
#[allow(clippy::too_many_arguments)]
fn c2e_f64<O: SupportedOrder, V: Value<Real = f64>>(
    n: usize,
    a: &[f64],
    b: &[f64],
    rank: usize,
    x: &[f64],
    cols: usize,
    y: &mut [f64],
    tmp: &mut [f64],
    scale: f64,
) {
    // One column (the leaf P2M): a matrix-vector product with inner dimension n.
    let shape = if cols == 1 { Shape::Gemv } else { Shape::Panel };
    if rank == 0 {
        gemm_surface::<O, V>(
            y,
            n,
            Mat::new(a, n, n),
            Mat::new(x, n, cols),
            scale,
            false,
            shape,
        );
    } else {
        let tmp = &mut tmp[..rank * cols];
        gemm_surface::<O, V>(
            tmp,
            rank,
            Mat::new(b, rank, n),
            Mat::new(x, n, cols),
            1.0,
            false,
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

impl<K: Kernel<D>, O: SupportedOrder, const D: usize, T: Real> Ctx<'_, K, O, D, T> {
    /// The kernel's P2P on buffers of reals, as the evaluator stores densities and outputs
    /// (a complex value is two reals).
    #[inline]
    pub(crate) fn p2p_reals(
        &self,
        sources: [&[T]; D],
        charges: &[T],
        targets: [&[T]; D],
        out: &mut [T],
        gradients: bool,
    ) {
        self.kernel.p2p(
            sources,
            <K::Value<T> as Value>::from_reals(charges),
            targets,
            <K::Value<T> as Value>::from_reals_mut(out),
            gradients,
        );
    }

    /// A task scratch buffer of `len` elements of `T` (see [`take_scratch`]).
    pub(crate) fn scratch(&self, len: usize) -> Scratch<'_, T> {
        take_scratch(self.scratch, len)
    }

    /// Writes the surface of node `b` at radius factor `alpha` into `buf` (SoA, D x n).
    #[inline]
    pub(crate) fn surface(&self, b: usize, alpha: f64, buf: &mut [T]) {
        let n = O::SURFACE_LEN;
        let key = self.tree.keys()[b];
        let c = key.centre(self.tree.domain());
        let r = alpha * self.ops.half_width[key.level() as usize];
        for k in 0..D {
            for i in 0..n {
                buf[k * n + i] = T::from_f64((c[k] - self.shift[k]) + r * self.ops.unit[i * D + k]);
            }
        }
    }

    pub(crate) fn soa(buf: &[T], n: usize) -> [&[T]; D] {
        std::array::from_fn(|k| &buf[k * n..(k + 1) * n])
    }

    /// `y = scale * F x` for a check-to-equivalent operator `F` (dense when `rank` is 0, else
    /// the factors `A B`), kept and applied in f64 for every precision: an f32 `x` is widened
    /// and `y` rounded once (see `SetArray::always_f64`).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn apply_c2e(
        &self,
        a: &[f64],
        b: &[f64],
        rank: usize,
        x: &[T],
        cols: usize,
        y: &mut [T],
        scale: f64,
    ) {
        let n = self.nv;
        match T::PRECISION {
            Precision::F64 => {
                let mut tmp = take_scratch(self.scratch64, rank * cols);
                c2e_f64::<O, K::Value<f64>>(
                    n,
                    a,
                    b,
                    rank,
                    same(x),
                    cols,
                    same_mut(y),
                    &mut tmp,
                    scale,
                )
            }
            Precision::F32 => {
                let mut buf = take_scratch(self.scratch64, (2 * n + rank) * cols);
                let (x64, rest) = buf.split_at_mut(n * cols);
                let (y64, tmp) = rest.split_at_mut(n * cols);
                for (d, s) in x64.iter_mut().zip(x) {
                    *d = s.to_f64();
                }
                c2e_f64::<O, K::Value<f64>>(n, a, b, rank, x64, cols, y64, tmp, scale);
                for (d, s) in y.iter_mut().zip(y64.iter()) {
                    *d = T::from_f64(*s);
                }
            }
        }
    }

    pub(crate) fn run(&self, task: &Task) {
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

    /// The sources of range `r` (coordinates) and their charges (as reals).
    pub(crate) fn src_slices(&self, r: Range<usize>) -> ([&[T]; D], &[T]) {
        let reals = <K::Value<T> as Value>::REALS;
        (
            std::array::from_fn(|k| &self.src[k][r.clone()]),
            &self.charges[r.start * reals..r.end * reals],
        )
    }
}
