//! Helpers shared by the integration tests.
#![allow(dead_code)] // each test binary uses a part

use oxifmm::{Real, Value};

/// Relative L2 error `||got - want|| / ||want||` in f64 (the absolute norm when `want` is
/// zero). Panics when the lengths differ or `got` holds a NaN or an infinity, so that a
/// silent non-finite result cannot pass for a small error.
pub fn rel_l2<A: Value, B: Value>(got: &[A], want: &[B]) -> f64 {
    match oxifmm::relative_l2(got, want) {
        Ok(e) => e,
        Err(e) => panic!("rel_l2: {e}"),
    }
}

/// One FMM-against-direct comparison: the points, the tree, what is computed.
#[derive(Clone, Copy, Debug)]
pub struct Case {
    /// Source distribution.
    pub dist: oxifmm::points::Distribution,
    /// Number of sources.
    pub n: usize,
    /// Points per leaf.
    pub leaf: usize,
    /// `n / 2` uniform targets instead of the sources.
    pub separate_targets: bool,
    /// Also gradients.
    pub gradients: bool,
    /// Charges uniform in `[0, 1]` (as kifmm-rs and FMM3D test) instead of `[-1, 1]` (zero
    /// mean, as exafmm-t tests, which makes the relative error larger).
    pub positive: bool,
    /// The M2L backend.
    pub m2l: oxifmm::M2l,
}

impl Case {
    /// `n` sources of `dist`, 40 per leaf, potentials only, signed charges, automatic M2L.
    pub fn new(dist: oxifmm::points::Distribution, n: usize) -> Self {
        Self {
            dist,
            n,
            leaf: 40,
            separate_targets: false,
            gradients: false,
            positive: false,
            m2l: oxifmm::M2l::Auto,
        }
    }

    /// (potential error, gradient error) of the FMM for `kernel` at order `P` in precision
    /// `T` against `direct` in f64 (the gradient error is 0 without gradients).
    pub fn errors<K: oxifmm::Kernel<D>, const P: usize, const D: usize, T: Real>(
        &self,
        kernel: &K,
    ) -> (f64, f64)
    where
        oxifmm::Expansion<P, D>: oxifmm::SupportedOrder,
    {
        use oxifmm::Value;
        use oxifmm::points::{charges, generate, positive_charges};
        let src = generate::<T, D>(self.dist, self.n, 3);
        let tgt = if self.separate_targets {
            generate::<T, D>(oxifmm::points::Distribution::Uniform, self.n / 2, 4)
        } else {
            src.clone()
        };
        let parts = |seed: u64| {
            if self.positive {
                positive_charges::<T>(self.n, seed)
            } else {
                charges::<T>(self.n, seed)
            }
        };
        // Real kernels take the real parts only.
        let (re, im) = (parts(5), parts(6));
        let q: Vec<K::Value<T>> = re
            .iter()
            .zip(&im)
            .map(|(&r, &i)| K::Value::<T>::from_parts(r, i))
            .collect();
        let mut b = oxifmm::Fmm::<K, P, D, T>::with_kernel(kernel.clone())
            .sources(&src)
            .max_points_per_leaf(self.leaf)
            .gradients(self.gradients)
            .m2l(self.m2l)
            .cache(oxifmm::CacheMode::Off);
        if self.separate_targets {
            b = b.targets(&tgt);
        }
        let fmm = b.build().unwrap();
        let out = fmm.evaluate(&q).unwrap();
        let to64 = |v: &[[T; D]]| -> Vec<[f64; D]> {
            v.iter()
                .map(|p| std::array::from_fn(|k| p[k].to_f64()))
                .collect()
        };
        let q64: Vec<K::Value<f64>> = q.iter().map(|v| v.cast()).collect();
        let exact = oxifmm::direct(kernel, &to64(&src), &q64, &to64(&tgt), self.gradients).unwrap();
        let n_out = if self.gradients { 1 + D } else { 1 };
        let pot: Vec<K::Value<f64>> = exact.iter().step_by(n_out).copied().collect();
        let e_pot = rel_l2(
            K::Value::<T>::as_reals(&out.potentials),
            K::Value::<f64>::as_reals(&pot),
        );
        let e_grad = if self.gradients {
            let g_exact: Vec<K::Value<f64>> =
                exact.chunks(n_out).flat_map(|c| c[1..].to_vec()).collect();
            let g: Vec<K::Value<T>> = out.gradients.iter().flatten().copied().collect();
            rel_l2(
                K::Value::<T>::as_reals(&g),
                K::Value::<f64>::as_reals(&g_exact),
            )
        } else {
            0.0
        };
        (e_pot, e_grad)
    }
}
