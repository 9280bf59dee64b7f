//! Check and equivalent surfaces: the boundary points of a `p^D` grid on a box.

/// Number of points on the order-`p` surface in `D` dimensions: `p^D - (p - 2)^D`
/// (3D: `6 (p - 1)^2 + 2`, 2D: `4 (p - 1)`).
pub const fn surface_len(d: usize, p: usize) -> usize {
    p.pow(d as u32) - (p - 2).pow(d as u32)
}

/// The unit surface: boundary points of a `p^D` grid on `[-1, 1]^D`, lexicographic order.
pub fn unit_surface<const D: usize>(p: usize) -> Vec<[f64; D]> {
    let total = p.pow(D as u32);
    let mut out = Vec::with_capacity(surface_len(D, p));
    for idx in 0..total {
        let mut t = idx;
        let mut pt = [0.0; D];
        let mut on_boundary = false;
        for k in (0..D).rev() {
            let i = t % p;
            t /= p;
            on_boundary |= i == 0 || i == p - 1;
            pt[k] = -1.0 + 2.0 * i as f64 / (p - 1) as f64;
        }
        if on_boundary {
            out.push(pt);
        }
    }
    out
}

/// The surface `unit` scaled by `radius` about `centre`.
pub fn scaled_surface<const D: usize>(
    unit: &[[f64; D]],
    centre: [f64; D],
    radius: f64,
) -> Vec<[f64; D]> {
    unit.iter()
        .map(|g| std::array::from_fn(|k| centre[k] + radius * g[k]))
        .collect()
}
