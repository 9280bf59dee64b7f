//! Seeded test point sets in 2D and 3D, for tests, benchmarks and examples.

use rand::{RngExt, SeedableRng, rngs::StdRng};

use crate::scalar::{Real, Value};

/// A point distribution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Distribution {
    /// Uniform in the unit cube `[0, 1]^D`.
    Uniform,
    /// Uniform on the surface of the unit sphere (circle in 2D) centred at the origin.
    Sphere,
    /// Gaussian clusters (ten of them, widths 0.1 down to 0.001) inside the unit cube: deep,
    /// strongly adaptive trees.
    Clusters,
}

impl std::str::FromStr for Distribution {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "uniform" => Ok(Self::Uniform),
            "sphere" => Ok(Self::Sphere),
            "clusters" => Ok(Self::Clusters),
            _ => Err(format!(
                "unknown distribution `{s}` (uniform, sphere, clusters)"
            )),
        }
    }
}

fn gaussian(rng: &mut StdRng) -> f64 {
    // Box-Muller; u1 in (0, 1] keeps the log finite.
    let u1: f64 = 1.0 - rng.random_range(0.0..1.0);
    let u2: f64 = rng.random_range(0.0..1.0);
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// `n` points of the distribution, reproducible from `seed`.
pub fn generate<T: Real, const D: usize>(dist: Distribution, n: usize, seed: u64) -> Vec<[T; D]> {
    let mut rng = StdRng::seed_from_u64(seed);
    match dist {
        Distribution::Uniform => (0..n)
            .map(|_| std::array::from_fn(|_| T::from_f64(rng.random_range(0.0..1.0))))
            .collect(),
        Distribution::Sphere => (0..n)
            .map(|_| {
                loop {
                    let g: [f64; D] = std::array::from_fn(|_| gaussian(&mut rng));
                    let r = g.iter().map(|x| x * x).sum::<f64>().sqrt();
                    if r > 1e-12 {
                        break std::array::from_fn(|k| T::from_f64(g[k] / r));
                    }
                }
            })
            .collect(),
        Distribution::Clusters => {
            let n_clusters = 10;
            let centres: Vec<[f64; D]> = (0..n_clusters)
                .map(|_| std::array::from_fn(|_| rng.random_range(0.2..0.8)))
                .collect();
            (0..n)
                .map(|i| {
                    let c = i % n_clusters;
                    let sigma = 0.1 * 0.6f64.powi(c as i32);
                    std::array::from_fn(|k| {
                        T::from_f64((centres[c][k] + sigma * gaussian(&mut rng)).clamp(0.0, 1.0))
                    })
                })
                .collect()
        }
    }
}

/// `n` charges uniform in `[-1, 1]`, reproducible from `seed`.
pub fn charges<T: Real>(n: usize, seed: u64) -> Vec<T> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n)
        .map(|_| T::from_f64(rng.random_range(-1.0..1.0)))
        .collect()
}

/// `n` charges of value type `V` (real or complex, as a kernel's [`crate::Kernel::Value`]):
/// real parts [`charges`]`(n, seed)` and, for a complex `V`, imaginary parts
/// [`charges`]`(n, seed + 1)`; all parts uniform in `[-1, 1]`.
///
/// ```
/// use oxifmm::{Complex, points::{charges, values}};
/// let q = values::<Complex<f64>>(4, 7);
/// assert_eq!(q[2].re, charges::<f64>(4, 7)[2]);
/// assert_eq!(q[2].im, charges::<f64>(4, 8)[2]);
/// assert_eq!(values::<f32>(4, 7), charges::<f32>(4, 7));
/// ```
pub fn values<V: Value>(n: usize, seed: u64) -> Vec<V> {
    let re = charges::<V::Real>(n, seed);
    if V::REALS == 1 {
        return re
            .into_iter()
            .map(|r| V::from_parts(r, V::Real::ZERO))
            .collect();
    }
    let im = charges::<V::Real>(n, seed + 1);
    re.into_iter()
        .zip(im)
        .map(|(r, i)| V::from_parts(r, i))
        .collect()
}

/// `n` charges uniform in `[0, 1]`, reproducible from `seed` (the same draws as [`charges`]
/// mapped by `(q + 1) / 2`).
pub fn positive_charges<T: Real>(n: usize, seed: u64) -> Vec<T> {
    charges::<f64>(n, seed)
        .into_iter()
        .map(|q| T::from_f64(0.5 * (q + 1.0)))
        .collect()
}
