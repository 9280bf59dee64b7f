//! Your own kernel, from outside the crate: the Laplace kernel of an anisotropic medium,
//! which oxifmm does not ship, through the FMM.
//!
//! ```text
//! cargo run --release --example custom_kernel [-- N]
//! ```
//!
//! The kernel is the Green's function of `-div(S grad u) = delta` for a diagonal conductivity
//! `S = diag(s)` (heat or current flow in a layered or fibrous material):
//!
//! ```text
//! K(x, y) = 1 / (4 pi sqrt(s0 s1 s2) |S^-1/2 (x - y)|)
//! ```
//!
//! It shows the three things a kernel needs:
//!
//! 1. its **identity** ([`KernelId`]: name, parameters, formula version), which keys the
//!    operator cache, so two conductivities never load each other's operators;
//! 2. how it **scales** ([`Scaling`]): homogeneous of degree -1, so one operator set serves
//!    every level of every tree;
//! 3. its **evaluation** in f64 ([`Kernel::eval`], used to build the operators) and its P2P
//!    ([`Kernel::p2p`]). The P2P here is a pulp SIMD body for f64 (targets in lanes, sources
//!    broadcast, the public [`oxifmm::kernel::simd::rsqrt_f64s`]), and the crate's scalar
//!    reference ([`Kernel::p2p_scalar`]) for f32, which is always a correct fallback.
//!
//! Accuracy (measured, 4000 clustered points, p = 6, relative L2 error of the potential
//! against the direct sum): 3.6e-6 for `s = (1, 0.9, 1.1)`, 9.6e-6 for `(1, 0.8, 1.25)`,
//! 1.3e-2 for `(1, 0.5, 2)`. The interaction lists measure separation isotropically, and in the
//! medium's metric boxes are stretched by `sqrt(max s / min s)`: mild anisotropy only (or
//! rescale the coordinates by `S^-1/2` first, which turns it into the Laplace kernel).

use std::time::Instant;

use oxifmm::kernel::simd::rsqrt_f64s;
use oxifmm::points::{Distribution, charges, generate};
use oxifmm::scalar::{same, same_mut};
use oxifmm::{CacheMode, Fmm, Kernel, KernelId, Precision, Real, Scaling};
use pulp::{Simd, WithSimd};

/// The anisotropic Laplace kernel for the diagonal conductivity `s`.
#[derive(Clone, Copy, Debug)]
struct Anisotropic {
    s: [f64; 3],
}

impl Anisotropic {
    /// `1 / (4 pi sqrt(s0 s1 s2))`.
    fn scale(&self) -> f64 {
        1.0 / (4.0 * std::f64::consts::PI * (self.s[0] * self.s[1] * self.s[2]).sqrt())
    }

    /// `(K, grad_x K)` for one pair; 0 where the points coincide.
    fn value(&self, x: &[f64; 3], y: &[f64; 3]) -> (f64, [f64; 3]) {
        let d: [f64; 3] = std::array::from_fn(|k| x[k] - y[k]);
        let rho2: f64 = (0..3).map(|k| d[k] * d[k] / self.s[k]).sum();
        if rho2 < f64::MIN_POSITIVE {
            return (0.0, [0.0; 3]);
        }
        let inv = 1.0 / rho2.sqrt();
        let c = self.scale();
        let g = -c * inv * inv * inv;
        (c * inv, std::array::from_fn(|k| g * d[k] / self.s[k]))
    }
}

impl Kernel<3> for Anisotropic {
    type Value<T: Real> = T;

    fn id(&self) -> KernelId {
        KernelId::new("anisotropic_laplace", 1)
            .param("s0", self.s[0])
            .param("s1", self.s[1])
            .param("s2", self.s[2])
    }

    fn scaling(&self) -> Scaling {
        Scaling::Homogeneous { degree: -1 }
    }

    fn eval(&self, x: &[f64; 3], y: &[f64; 3]) -> f64 {
        self.value(x, y).0
    }

    fn eval_with_gradient(&self, x: &[f64; 3], y: &[f64; 3]) -> (f64, [f64; 3]) {
        self.value(x, y)
    }

    fn p2p<T: Real>(
        &self,
        sources: [&[T]; 3],
        charges: &[T],
        targets: [&[T]; 3],
        out: &mut [T],
        gradients: bool,
    ) {
        match T::PRECISION {
            Precision::F64 => pulp::Arch::new().dispatch(AnisotropicP2p {
                inv_s: self.s.map(|s| 1.0 / s),
                scale: self.scale(),
                sources: sources.map(same::<T, f64>),
                charges: same(charges),
                targets: targets.map(same::<T, f64>),
                out: same_mut(out),
                gradients,
            }),
            Precision::F32 => self.p2p_scalar(sources, charges, targets, out, gradients),
        }
    }
}

/// The f64 P2P: a block of targets in the SIMD lanes, each source broadcast to all of them.
struct AnisotropicP2p<'a> {
    inv_s: [f64; 3],
    scale: f64,
    sources: [&'a [f64]; 3],
    charges: &'a [f64],
    targets: [&'a [f64]; 3],
    out: &'a mut [f64],
    gradients: bool,
}

impl WithSimd for AnisotropicP2p<'_> {
    type Output = ();

    // `inline(always)` so that the body is compiled once per instruction set pulp dispatches
    // to (a closure would lose the target features).
    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        let lanes = S::F64_LANES;
        let width = if self.gradients { 4 } else { 1 };
        let zero = simd.splat_f64s(0.0);
        let tiny = simd.splat_f64s(f64::MIN_POSITIVE);
        let inv_s = self.inv_s.map(|v| simd.splat_f64s(v));
        let nt = self.targets[0].len();
        let mut start = 0;
        while start < nt {
            let n = lanes.min(nt - start);
            let t: [S::f64s; 3] =
                std::array::from_fn(|k| simd.partial_load_f64s(&self.targets[k][start..start + n]));
            let mut phi = zero;
            let mut g = [zero; 3];
            for (j, &q) in self.charges.iter().enumerate() {
                let d: [S::f64s; 3] = std::array::from_fn(|k| {
                    simd.sub_f64s(t[k], simd.splat_f64s(self.sources[k][j]))
                });
                let mut rho2 = simd.mul_f64s(simd.mul_f64s(d[0], d[0]), inv_s[0]);
                for k in 1..3 {
                    rho2 = simd.mul_add_e_f64s(simd.mul_f64s(d[k], d[k]), inv_s[k], rho2);
                }
                // A coincident source contributes exactly 0: mask, no branch.
                let coincident = simd.less_than_f64s(rho2, tiny);
                let inv = simd.select_f64s(coincident, zero, rsqrt_f64s(simd, rho2));
                let q_inv = simd.mul_f64s(simd.splat_f64s(q), inv);
                phi = simd.add_f64s(phi, q_inv);
                if self.gradients {
                    let q_inv3 = simd.mul_f64s(q_inv, simd.mul_f64s(inv, inv));
                    for k in 0..3 {
                        g[k] = simd.mul_add_e_f64s(simd.mul_f64s(q_inv3, inv_s[k]), d[k], g[k]);
                    }
                }
            }
            // Back to memory through stack buffers (no allocation in the P2P).
            let mut buf = [[0.0f64; 16]; 4];
            simd.partial_store_f64s(&mut buf[0][..lanes], phi);
            for k in 0..3 {
                simd.partial_store_f64s(&mut buf[k + 1][..lanes], g[k]);
            }
            let out = &mut self.out[width * start..width * (start + n)];
            for (l, o) in out.chunks_exact_mut(width).enumerate() {
                o[0] += self.scale * buf[0][l];
                for k in 1..width {
                    o[k] -= self.scale * buf[k][l];
                }
            }
            start += n;
        }
    }
}

fn main() -> Result<(), oxifmm::Error> {
    let n: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse().expect("N: a number of points"))
        .unwrap_or(200_000);
    let kernel = Anisotropic { s: [1.0, 0.9, 1.1] };
    let points = generate::<f64, 3>(Distribution::Uniform, n, 1);
    let q = charges::<f64>(n, 2);

    // The SIMD P2P against the scalar reference, with gradients, on a small block.
    let soa = |p: &[[f64; 3]]| -> [Vec<f64>; 3] {
        std::array::from_fn(|k| p.iter().map(|x| x[k]).collect())
    };
    let (s, t) = (soa(&points[..300]), soa(&points[..37]));
    let (sr, tr) = (
        s.each_ref().map(Vec::as_slice),
        t.each_ref().map(Vec::as_slice),
    );
    let (mut fast, mut reference) = (vec![0.0; 4 * 37], vec![0.0; 4 * 37]);
    kernel.p2p(sr, &q[..300], tr, &mut fast, true);
    kernel.p2p_scalar(sr, &q[..300], tr, &mut reference, true);
    let worst = fast
        .iter()
        .zip(&reference)
        .map(|(a, b)| (a - b).abs() / b.abs().max(1.0))
        .fold(0.0, f64::max);
    println!("SIMD P2P vs scalar reference: worst relative difference {worst:.1e}");
    assert!(worst < 1e-12);

    let t0 = Instant::now();
    let fmm = Fmm::<Anisotropic, 6>::with_kernel(kernel)
        .sources(&points)
        .cache(CacheMode::Default)
        .build()?;
    let t_build = t0.elapsed();
    let t0 = Instant::now();
    let phi = fmm.evaluate(&q)?.potentials;
    let t_eval = t0.elapsed();
    println!(
        "N = {n}, p = 6: build {:.2} s ({}), evaluate {:.2} s",
        t_build.as_secs_f64(),
        fmm.build_report().cache,
        t_eval.as_secs_f64()
    );

    // Accuracy on 1000 sampled targets against the direct sum.
    let err = oxifmm::sampled_error(&kernel, &points, &q, &points, &phi, 1000)?;
    println!("relative L2 error of the potential (1000 targets): {err:.2e}");
    assert!(err < 1e-4, "error {err:e}");
    Ok(())
}
