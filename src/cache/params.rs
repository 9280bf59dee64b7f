//! The parameters that define a set of operators, as stored in (and checked against) a cache
//! file's header (the file name derived from them is in `format.rs`, with the format version
//! it hashes).

use bincode::{Decode, Encode};

/// Every parameter that defines a set of operators. Equality of all fields = same operators.
#[derive(Clone, Debug, PartialEq, Encode, Decode)]
pub struct CacheParams {
    /// Kernel name, e.g. `"laplace"`.
    pub kernel: String,
    /// Spatial dimension.
    pub dim: u32,
    /// Expansion order.
    pub order: u32,
    /// `"f32"` or `"f64"`.
    pub precision: String,
    /// Radius factor of the inner check/equivalent surface.
    pub alpha_inner: f64,
    /// Radius factor of the outer check/equivalent surface.
    pub alpha_outer: f64,
    /// Compression (pseudo-inverse / SVD truncation) tolerance.
    pub tolerance: f64,
    /// Further parameters that define the operators (e.g. tree depth), in a fixed order.
    pub extra: Vec<(String, f64)>,
}

impl CacheParams {
    /// Names the first field that differs from `other`, e.g. `order is 6, expected 8`.
    pub(crate) fn describe_difference(&self, expected: &CacheParams) -> String {
        let mut diffs = Vec::new();
        if self.kernel != expected.kernel {
            diffs.push(format!(
                "kernel is {:?}, expected {:?}",
                self.kernel, expected.kernel
            ));
        }
        if self.dim != expected.dim {
            diffs.push(format!("dim is {}, expected {}", self.dim, expected.dim));
        }
        if self.order != expected.order {
            diffs.push(format!(
                "order is {}, expected {}",
                self.order, expected.order
            ));
        }
        if self.precision != expected.precision {
            diffs.push(format!(
                "precision is {:?}, expected {:?}",
                self.precision, expected.precision
            ));
        }
        for (name, a, b) in [
            ("alpha_inner", self.alpha_inner, expected.alpha_inner),
            ("alpha_outer", self.alpha_outer, expected.alpha_outer),
            ("tolerance", self.tolerance, expected.tolerance),
        ] {
            if a != b {
                diffs.push(format!("{name} is {a:e}, expected {b:e}"));
            }
        }
        if self.extra != expected.extra {
            diffs.push(format!(
                "extra is {:?}, expected {:?}",
                self.extra, expected.extra
            ));
        }
        if diffs.is_empty() {
            diffs.push("parameters compare unequal (NaN?)".to_string());
        }
        format!("parameters differ: {}", diffs.join("; "))
    }
}
