//! Helpers shared by the integration tests.
#![allow(dead_code)] // each test binary uses a part

use oxifmm::Real;

/// Relative L2 error `||got - want|| / ||want||` in f64 (the absolute norm when `want` is
/// zero). Panics when the lengths differ or `got` holds a NaN or an infinity, so that a
/// silent non-finite result cannot pass for a small error.
pub fn rel_l2<A: Real, B: Real>(got: &[A], want: &[B]) -> f64 {
    assert_eq!(got.len(), want.len(), "rel_l2: lengths differ");
    assert!(got.iter().all(|x| x.is_finite()), "non-finite output");
    let (mut num, mut den) = (0.0f64, 0.0f64);
    for (g, w) in got.iter().zip(want) {
        num += (g.to_f64() - w.to_f64()).powi(2);
        den += w.to_f64().powi(2);
    }
    if den == 0.0 {
        num.sqrt()
    } else {
        (num / den).sqrt()
    }
}
