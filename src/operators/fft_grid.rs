//! The DFT grid of the FFT M2L: side `N = 2p`, the surface points' place in it, twiddles, and
//! the full spectrum of a complex signal from the half spectra of its parts.

use crate::scalar::Real;

/// The full spectrum of a complex signal from the half spectra of its real parts (a real
/// signal's spectrum at `-k` is the conjugate of that at `k`): `(X(k), X(-k))` of the signal
/// whose parts have half-spectrum values `a = A(k)` and `b = B(k)` (each as `(re, im)`).
#[inline(always)]
pub(crate) fn pair<T: Real>(a: (T, T), b: (T, T)) -> ((T, T), (T, T)) {
    ((a.0 - b.1, a.1 + b.0), (a.0 + b.1, b.0 - a.1))
}

/// Geometry and twiddles of the DFT on the `N^3` grid for order `p`.
#[derive(Clone, Debug)]
pub(crate) struct FftGrid {
    /// Expansion order.
    pub p: usize,
    /// Grid side `N = 2p`.
    pub n: usize,
    /// Frequencies kept along the last axis: `N / 2 + 1`.
    pub nz: usize,
    /// Number of stored frequencies: `N * N * (N / 2 + 1)`.
    pub nfreq: usize,
    /// Grid index `(x p + y) p + z` in the `p^3` cube of each surface point.
    pub surf_cube: Vec<usize>,
    /// `cos(2 pi k x / N)`, `[k][x]`, k < N, x < N.
    pub(crate) cos: Vec<f64>,
    /// `sin(2 pi k x / N)`, `[k][x]`.
    pub(crate) sin: Vec<f64>,
}

impl FftGrid {
    /// The grid for order `p` (3D).
    pub fn new(p: usize) -> Self {
        let n = 2 * p;
        let nz = n / 2 + 1;
        let mut surf_cube = Vec::new();
        for x in 0..p {
            for y in 0..p {
                for z in 0..p {
                    let b = |i: usize| i == 0 || i == p - 1;
                    if b(x) || b(y) || b(z) {
                        surf_cube.push((x * p + y) * p + z);
                    }
                }
            }
        }
        let mut cos = vec![0.0; n * n];
        let mut sin = vec![0.0; n * n];
        for k in 0..n {
            for x in 0..n {
                let a = std::f64::consts::TAU * ((k * x) % n) as f64 / n as f64;
                cos[k * n + x] = a.cos();
                sin[k * n + x] = a.sin();
            }
        }
        Self {
            p,
            n,
            nz,
            nfreq: n * n * nz,
            surf_cube,
            cos,
            sin,
        }
    }

    /// Twiddles in the run's precision: (cos, sin).
    pub fn twiddles<T: Real>(&self) -> (Vec<T>, Vec<T>) {
        (
            self.cos.iter().map(|&x| T::from_f64(x)).collect(),
            self.sin.iter().map(|&x| T::from_f64(x)).collect(),
        )
    }

    /// Scratch length (elements of T) needed by `m2l::fft::transforms::forward8` and `inverse8`.
    pub fn scratch_len(&self) -> usize {
        let (p, n, nz) = (self.p, self.n, self.nz);
        LANES * (p * p * p + 2 * (p * p * nz + p * n * nz) + 2 * n * nz)
    }
}

/// Densities transformed together: the 8 children of one parent, one per lane.
pub const LANES: usize = 8;

/// Twiddles of one precision, borrowed by the transforms.
pub(crate) struct Twiddles<'a, T> {
    /// `cos(2 pi k x / N)`.
    pub cos: &'a [T],
    /// `sin(2 pi k x / N)`.
    pub sin: &'a [T],
}
