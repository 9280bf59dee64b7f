//! The parameters that define a set of operators, and the per-level scales of homogeneous
//! kernels.

/// Parameters that define a set of operators (besides kernel, order, dimension, precision).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OperatorParams {
    /// Radius factor of the inner surfaces (upward equivalent, downward check).
    pub alpha_inner: f64,
    /// Radius factor of the outer surfaces (upward check, downward equivalent).
    pub alpha_outer: f64,
    /// Relative singular-value cutoff of the check-to-equivalent pseudo-inverses.
    pub pinv_tolerance: f64,
    /// Relative singular-value cutoff of the M2L compression.
    pub m2l_tolerance: f64,
}

impl OperatorParams {
    /// Defaults for order `p` and unit roundoff `epsilon` of the run's precision:
    /// alphas 1.05 / 2.95; pseudo-inverse cutoff 1e-9 for both precisions, since the
    /// check-to-equivalent operators are kept and applied in f64 (smaller cutoffs let roundoff
    /// into the equivalent densities: at p = 10, f64, 1e-13 gives 3e-6 against 5e-9 with 1e-9);
    /// M2L cutoff `10^-p` (f64; at p = 6 rank 116 of 152, costing < 10 % in
    /// accuracy against the uncompressed M2L), at least `100 epsilon`.
    pub fn defaults(order: usize, epsilon: f64) -> Self {
        Self {
            alpha_inner: 1.05,
            alpha_outer: 2.95,
            // The check-to-equivalent operators are applied in f64 for both precisions.
            pinv_tolerance: 1e-9,
            m2l_tolerance: 10f64.powi(-(order as i32)).max(100.0 * epsilon),
        }
    }
}

/// Per-level scalars that turn a homogeneous kernel's unit level set into level `l`'s.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LevelScales {
    /// Multiplies `uc2e` and `dc2e` (`r^-d`).
    pub c2e: f64,
    /// Multiplies the M2L and L2L check potentials (`r^d`).
    pub kernel: f64,
}

impl LevelScales {
    /// Scales for half-width `r` relative to the unit set, homogeneity degree `d`
    /// (`None`: per-level sets, all scales 1).
    pub fn new(r: f64, degree: Option<i32>) -> Self {
        match degree {
            Some(d) => Self {
                c2e: r.powi(-d),
                kernel: r.powi(d),
            },
            None => Self {
                c2e: 1.0,
                kernel: 1.0,
            },
        }
    }
}
