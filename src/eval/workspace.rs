//! The evaluation buffers, sized at build time (no allocation inside `evaluate`'s passes):
//! expansions, sorted charges and outputs, the task counters, and the task scratch pools; and
//! the shared view the tasks of one graph execution write through.

use std::ops::Range;
use std::sync::Mutex;
use std::sync::atomic::AtomicU32;

use crate::scalar::Real;

/// Sizes of the evaluation buffers.
#[derive(Clone, Copy, Debug)]
pub(crate) struct WorkspaceSizes {
    pub(crate) charges: usize,
    pub(crate) equiv: usize,
    pub(crate) up_hat: usize,
    pub(crate) down_hat: usize,
    pub(crate) out: usize,
    pub(crate) tasks: usize,
    /// Worker threads: one task scratch buffer each (plus one spare).
    pub(crate) threads: usize,
}

impl WorkspaceSizes {
    pub(crate) fn allocate<T: Real>(&self) -> Workspace<T> {
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
pub(crate) struct Workspace<T> {
    pub(crate) charges: Vec<T>,
    pub(crate) up_equiv: Vec<T>,
    pub(crate) up_hat: Vec<T>,
    pub(crate) down_hat: Vec<T>,
    pub(crate) down_equiv: Vec<T>,
    pub(crate) out: Vec<T>,
    /// One in-degree counter per task, reset by each execution.
    pub(crate) counters: Vec<AtomicU32>,
    /// Task scratch buffers (M2L gathers, FFT spectra), grown on first use and reused by later
    /// evaluations; owned by the `Fmm`, so dropped with it.
    pub(crate) scratch: Vec<Mutex<Vec<T>>>,
    /// f64 scratch buffers for the check-to-equivalent products, likewise.
    pub(crate) scratch64: Vec<Mutex<Vec<f64>>>,
}

/// A buffer shared by the tasks of one graph execution.
pub(crate) struct Shared<T> {
    ptr: *mut T,
    len: usize,
}

// SAFETY: `Shared` is only handed to the tasks of one `TaskGraph::execute` (or to the M2L
// tasks alone in `Fmm::run_m2l_only`, whose argument is in its docs), whose edges make
// every range written by a task disjoint from every range another task reads or writes at
// the same time (see `schedule::build_graph`); T is a plain float.
unsafe impl<T: Send> Send for Shared<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for Shared<T> {}

impl<T> Shared<T> {
    pub(crate) fn new(v: &mut [T]) -> Self {
        Self {
            ptr: v.as_mut_ptr(),
            len: v.len(),
        }
    }
    /// # Safety
    /// No task may write `r` while the returned slice lives (guaranteed by graph edges).
    #[inline]
    pub(crate) unsafe fn get(&self, r: Range<usize>) -> &[T] {
        assert!(r.start <= r.end && r.end <= self.len);
        // SAFETY: in bounds (checked); no concurrent writer by the caller's contract.
        unsafe { std::slice::from_raw_parts(self.ptr.add(r.start), r.len()) }
    }
    /// # Safety
    /// The calling task must be the only one touching `r` (guaranteed by graph edges).
    #[inline]
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn get_mut(&self, r: Range<usize>) -> &mut [T] {
        assert!(r.start <= r.end && r.end <= self.len);
        // SAFETY: in bounds (checked); exclusive by the caller's contract.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(r.start), r.len()) }
    }
}

/// A task scratch buffer of `len` elements (contents unspecified): one of a pool's buffers,
/// locked until dropped, or an owned one when all are busy (e.g. a nested evaluation).
pub(crate) enum Scratch<'a, U> {
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
pub(crate) fn take_scratch<U: Real>(pool: &[Mutex<Vec<U>>], len: usize) -> Scratch<'_, U> {
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
