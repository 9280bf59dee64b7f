//! The typed operator set the evaluator reads: every array of every level set, memory-mapped
//! from the operator cache or owned, checked against the order once, and handed out as
//! [`SetView`]s of plain slices.

use std::marker::PhantomData;

use super::fft_grid::FftGrid;
use super::m2l_fft::child_pair_table;
use super::params::{LevelScales, OperatorParams};
use crate::cache::{OperatorCache, OwnedData};
use crate::error::{Error, Result};
use crate::geometry::surface::unit_surface;
use crate::geometry::transfer::transfer_vectors;
use crate::scalar::{Precision, Real, same};

/// The arrays of one level set, by role. [`SetArray::name`] is the one place their names (the
/// keys in the operator cache) are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SetArray {
    /// Upward check-to-equivalent, first factor (or the dense matrix).
    Uc2eA,
    /// Upward check-to-equivalent, second factor (empty when dense).
    Uc2eB,
    /// Downward check-to-equivalent, first factor (or the dense matrix).
    Dc2eA,
    /// Downward check-to-equivalent, second factor (empty when dense).
    Dc2eB,
    /// `n x (2^D n)` M2M.
    M2m,
    /// `2^D` blocks of `n x n` L2L.
    L2l,
    /// `n x k` left M2L basis.
    M2lU,
    /// `k x n` right M2L basis.
    M2lVt,
    /// The cores' `k x r_t` factors, consecutive.
    M2lCoreA,
    /// The cores' `r_t x k` factors, consecutive.
    M2lCoreBt,
    /// The cores' ranks `r_t`, one per transfer vector.
    M2lCoreRank,
    /// FFT transfer functions, real parts (3D).
    FftRe,
    /// FFT transfer functions, imaginary parts (3D).
    FftIm,
}

impl SetArray {
    /// The name in the cache file (one set per file).
    pub(crate) fn name(self) -> &'static str {
        match self {
            SetArray::Uc2eA => "uc2e_a",
            SetArray::Uc2eB => "uc2e_b",
            SetArray::Dc2eA => "dc2e_a",
            SetArray::Dc2eB => "dc2e_b",
            SetArray::M2m => "m2m",
            SetArray::L2l => "l2l",
            SetArray::M2lU => "m2l_u",
            SetArray::M2lVt => "m2l_vt",
            SetArray::M2lCoreA => "m2l_core_a",
            SetArray::M2lCoreBt => "m2l_core_bt",
            SetArray::M2lCoreRank => "m2l_core_rank",
            SetArray::FftRe => "fft_re",
            SetArray::FftIm => "fft_im",
        }
    }

    /// Whether the array is stored in f64 for every precision: the check-to-equivalent
    /// pseudo-inverses amplify the rounding of their entries and operands, so they are kept
    /// and applied in f64 (f32 storage alone doubled the error; f32 application held f32 runs
    /// near 2e-4).
    pub(crate) fn always_f64(self) -> bool {
        matches!(
            self,
            SetArray::Uc2eA | SetArray::Uc2eB | SetArray::Dc2eA | SetArray::Dc2eB
        )
    }
}

/// Where the arrays live.
pub(crate) enum Store<T> {
    /// Memory-mapped from the operator cache.
    Mapped(Box<OperatorCache>),
    /// Computed in memory: (key, data).
    Owned(Vec<(String, OwnedData)>, PhantomData<T>),
}

/// What is known of one level set once its arrays were checked.
#[derive(Clone, Debug)]
pub(crate) struct SetInfo {
    pub(crate) uc2e_rank: usize,
    pub(crate) dc2e_rank: usize,
    pub(crate) m2l_rank: usize,
    /// Rank `r_t` of each transfer vector's recompressed core.
    pub(crate) core_ranks: Vec<usize>,
    /// Offset of each core's factors in `m2l_core_a` / `m2l_core_bt` (`nt + 1` entries).
    pub(crate) core_offsets: Vec<usize>,
}

/// Slices of one level set's operators.
pub(crate) struct SetView<'a, T> {
    pub(crate) uc2e_a: &'a [f64],
    pub(crate) uc2e_b: &'a [f64],
    pub(crate) uc2e_rank: usize,
    pub(crate) dc2e_a: &'a [f64],
    pub(crate) dc2e_b: &'a [f64],
    pub(crate) dc2e_rank: usize,
    pub(crate) m2m: &'a [T],
    pub(crate) l2l: &'a [T],
    pub(crate) m2l_u: &'a [T],
    pub(crate) m2l_vt: &'a [T],
    pub(crate) m2l_core_a: &'a [T],
    pub(crate) m2l_core_bt: &'a [T],
    pub(crate) core_ranks: &'a [usize],
    pub(crate) core_offsets: &'a [usize],
    pub(crate) k: usize,
    pub(crate) fft_re: &'a [T],
    pub(crate) fft_im: &'a [T],
}

/// Operators in the run's precision: memory-mapped from the cache or owned.
pub(crate) struct Operators<T> {
    /// One store per level set.
    pub(crate) stores: Vec<Store<T>>,
    pub(crate) sets: Vec<SetInfo>,
    /// Level set used by each tree level.
    pub(crate) set_of_level: Vec<usize>,
    pub(crate) scales: Vec<LevelScales>,
    /// Half-width of boxes at each level.
    pub(crate) half_width: Vec<f64>,
    /// The unit surface, `n` points of `D` coordinates, flat.
    pub(crate) unit: Vec<f64>,
    /// Points per surface.
    pub(crate) n: usize,
    /// Reals per surface: `n` times the reals of a kernel value (the rows of the operators).
    pub(crate) nv: usize,
    pub(crate) max_rank: usize,
    pub(crate) alpha_inner: f64,
    pub(crate) alpha_outer: f64,
    /// FFT M2L (3D): grid, twiddles in T, and the (parent offset, child pair) table.
    pub(crate) fft_grid: Option<FftGrid>,
    pub(crate) tw_cos: Vec<T>,
    pub(crate) tw_sin: Vec<T>,
    pub(crate) pair_table: Vec<u32>,
}

/// The geometry of an operator set: which level set each tree level uses, and the per-level
/// scales and half-widths.
pub(crate) struct SetLayout {
    pub(crate) set_of_level: Vec<usize>,
    pub(crate) scales: Vec<LevelScales>,
    pub(crate) half_width: Vec<f64>,
}

impl<T: Real> Operators<T> {
    /// Wraps the stores (one per level set), checks every array's size against the order, and
    /// sets up the views.
    pub(crate) fn new<const D: usize>(
        stores: Vec<Store<T>>,
        order: usize,
        reals: usize,
        layout: SetLayout,
        prm: &OperatorParams,
    ) -> Result<Self> {
        let unit = unit_surface::<D>(order);
        let n = unit.len();
        let n_sets = stores.len();
        let mut ops = Operators {
            stores,
            sets: Vec::new(),
            set_of_level: layout.set_of_level,
            scales: layout.scales,
            half_width: layout.half_width,
            unit: unit.into_iter().flatten().collect(),
            n,
            nv: n * reals,
            max_rank: 0,
            alpha_inner: prm.alpha_inner,
            alpha_outer: prm.alpha_outer,
            fft_grid: None,
            tw_cos: Vec::new(),
            tw_sin: Vec::new(),
            pair_table: Vec::new(),
        };
        // The FFT M2L (3D): complex kernels carry twice the transfer functions (at k and -k).
        if D == 3 {
            let g = FftGrid::new(order);
            let (c, s) = g.twiddles::<T>();
            ops.tw_cos = c;
            ops.tw_sin = s;
            ops.fft_grid = Some(g);
            ops.pair_table = child_pair_table();
        }
        let nt = transfer_vectors::<D>().len();
        for s in 0..n_sets {
            let info = ops.check_set::<D>(s, order, nt)?;
            ops.max_rank = ops.max_rank.max(info.m2l_rank);
            ops.sets.push(info);
        }
        Ok(ops)
    }

    /// Checks the sizes of level set `s`'s arrays (every array is fetched, so a missing one or
    /// one of the wrong precision is found here) and derives its ranks and core offsets.
    fn check_set<const D: usize>(&self, s: usize, order: usize, nt: usize) -> Result<SetInfo> {
        use SetArray::*;
        let n = self.nv;
        let len = |a: SetArray| -> Result<usize> {
            if a.always_f64() {
                self.get64(s, a).map(<[f64]>::len)
            } else {
                self.get(s, a).map(<[T]>::len)
            }
        };
        let bad = |what: &str| Error::InvalidParameter {
            name: "operators",
            reason: format!(
                "operator array {what} of level set {s} has the wrong size for order {order} in {D}D"
            ),
        };
        // A check-to-equivalent operator: dense `n x n` (rank 0, no second factor) or two
        // factors `n x r` and `r x n`.
        let c2e_rank = |a: SetArray, b: SetArray| -> Result<usize> {
            let (la, lb) = (len(a)?, len(b)?);
            let r = if lb == 0 { 0 } else { la / n };
            let ok = if r == 0 {
                la == n * n && lb == 0
            } else {
                la == n * r && lb == r * n
            };
            if ok { Ok(r) } else { Err(bad("c2e")) }
        };
        let u = len(M2lU)?;
        let k = u / n;
        if u % n != 0 || k == 0 || len(M2lVt)? != k * n {
            return Err(bad("m2l"));
        }
        // Core ranks: whole numbers in 1..=k, one per transfer vector, whose factors fill
        // the factor arrays exactly.
        let core_ranks: Vec<usize> = self
            .get(s, M2lCoreRank)?
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
        if core_ranks.len() != nt || len(M2lCoreA)? != total || len(M2lCoreBt)? != total {
            return Err(bad("m2l cores"));
        }
        let uc2e_rank = c2e_rank(Uc2eA, Uc2eB)?;
        let dc2e_rank = c2e_rank(Dc2eA, Dc2eB)?;
        if len(M2m)? != n * n * (1 << D) || len(L2l)? != n * n * (1 << D) {
            return Err(bad("m2m/l2l"));
        }
        if let Some(g) = &self.fft_grid
            && (len(FftRe)? != g.nfreq * nt * self.reals()
                || len(FftIm)? != g.nfreq * nt * self.reals())
        {
            return Err(bad("fft"));
        }
        Ok(SetInfo {
            uc2e_rank,
            dc2e_rank,
            m2l_rank: k,
            core_ranks,
            core_offsets,
        })
    }

    /// Array `a` of level set `s` in the run's precision.
    pub(crate) fn get(&self, s: usize, a: SetArray) -> Result<&[T]> {
        let key = a.name();
        match (&self.stores[s], T::PRECISION) {
            (Store::Mapped(c), Precision::F64) => Ok(same(c.f64(key)?)),
            (Store::Mapped(c), Precision::F32) => Ok(same(c.f32(key)?)),
            (store @ Store::Owned(..), _) => match Self::owned(store, key)? {
                OwnedData::F64(d) if T::PRECISION == Precision::F64 => Ok(same(d)),
                OwnedData::F32(d) if T::PRECISION == Precision::F32 => Ok(same(d)),
                _ => Err(Self::missing(key)),
            },
        }
    }

    /// Array `a` of level set `s` in f64 (the check-to-equivalent operators, in every
    /// precision).
    pub(crate) fn get64(&self, s: usize, a: SetArray) -> Result<&[f64]> {
        let key = a.name();
        match &self.stores[s] {
            Store::Mapped(c) => c.f64(key),
            store @ Store::Owned(..) => match Self::owned(store, key)? {
                OwnedData::F64(d) => Ok(d),
                OwnedData::F32(_) => Err(Self::missing(key)),
            },
        }
    }

    fn owned<'s>(store: &'s Store<T>, key: &str) -> Result<&'s OwnedData> {
        match store {
            Store::Owned(v, _) => v
                .iter()
                .find(|(n, _)| n == key)
                .map(|(_, d)| d)
                .ok_or_else(|| Self::missing(key)),
            Store::Mapped(_) => Err(Self::missing(key)),
        }
    }

    fn missing(key: &str) -> Error {
        Error::InvalidParameter {
            name: "operators",
            reason: format!("missing array {key} (or of another precision)"),
        }
    }

    /// Reals per kernel value: 1 (real kernel) or 2 (complex).
    pub(crate) fn reals(&self) -> usize {
        self.nv / self.n
    }

    /// One view per level set (every array was checked by [`Operators::new`]).
    pub(crate) fn views(&self) -> Vec<SetView<'_, T>> {
        use SetArray::*;
        (0..self.sets.len())
            .map(|s| {
                let g = |a| self.get(s, a).expect("validated at build");
                let g64 = |a| self.get64(s, a).expect("validated at build");
                let info = &self.sets[s];
                SetView {
                    uc2e_a: g64(Uc2eA),
                    uc2e_b: g64(Uc2eB),
                    uc2e_rank: info.uc2e_rank,
                    dc2e_a: g64(Dc2eA),
                    dc2e_b: g64(Dc2eB),
                    dc2e_rank: info.dc2e_rank,
                    m2m: g(M2m),
                    l2l: g(L2l),
                    m2l_u: g(M2lU),
                    m2l_vt: g(M2lVt),
                    m2l_core_a: g(M2lCoreA),
                    m2l_core_bt: g(M2lCoreBt),
                    core_ranks: &info.core_ranks,
                    core_offsets: &info.core_offsets,
                    k: info.m2l_rank,
                    fft_re: self.get(s, FftRe).unwrap_or(&[]),
                    fft_im: self.get(s, FftIm).unwrap_or(&[]),
                }
            })
            .collect()
    }

    /// The SVD M2L rank `k` and the core ranks `r_t` of the operators tree level `level` uses.
    pub(crate) fn m2l_ranks(&self, level: usize) -> (usize, &[usize]) {
        let set = &self.sets[self.set_of_level[level]];
        (set.m2l_rank, &set.core_ranks)
    }

    /// Bytes of operators (memory-mapped or owned).
    pub(crate) fn bytes(&self) -> usize {
        self.stores
            .iter()
            .map(|store| match store {
                Store::Mapped(c) => c.byte_len(),
                Store::Owned(v, _) => v
                    .iter()
                    .map(|(_, d)| match d {
                        OwnedData::F64(x) => 8 * x.len(),
                        OwnedData::F32(x) => 4 * x.len(),
                    })
                    .sum(),
            })
            .sum()
    }
}
