//! Problems (sources, charges, targets) and results as the data files hold them, and the
//! checks every reader applies.

use std::path::Path;

use super::data::{Array, DataError, Dtype, input_err};

/// An N-body problem: sources with charges, and optionally separate targets.
#[derive(Clone, Debug, PartialEq)]
pub struct Problem {
    /// Dimension, 2 or 3.
    pub dim: usize,
    /// Element type the sources were stored in (results are written in it too).
    pub dtype: Dtype,
    /// Source coordinates, row-major `(N, dim)`.
    pub sources: Vec<f64>,
    /// Charges, `(N,)`; (re, im) pairs, `2 N` values, when `complex_charges`.
    pub charges: Vec<f64>,
    /// Whether the charges are complex (stored as `complex128` / `complex64`).
    pub complex_charges: bool,
    /// Target coordinates, row-major `(M, dim)`; `None` means the sources.
    pub targets: Option<Vec<f64>>,
}

impl Problem {
    /// Number of sources.
    pub fn n_sources(&self) -> usize {
        self.sources.len() / self.dim
    }
    /// The element type of the charges: [`Problem::dtype`], complex when `complex_charges`.
    pub fn charge_dtype(&self) -> Dtype {
        self.dtype.with_complex(self.complex_charges)
    }
    /// Number of targets.
    pub fn n_targets(&self) -> usize {
        self.targets
            .as_ref()
            .map_or(self.n_sources(), |t| t.len() / self.dim)
    }
}

/// Results of an evaluation, in target order.
#[derive(Clone, Debug, PartialEq)]
pub struct Results {
    /// Dimension, 2 or 3.
    pub dim: usize,
    /// Element type to store them in (complex for a complex kernel such as Helmholtz).
    pub dtype: Dtype,
    /// Potentials, `(M,)`; (re, im) pairs when `dtype` is complex.
    pub potentials: Vec<f64>,
    /// Gradients, row-major `(M, dim)`, if computed; (re, im) pairs when `dtype` is complex.
    pub gradients: Option<Vec<f64>>,
}

impl Results {
    /// Number of targets.
    pub fn n_targets(&self) -> usize {
        self.potentials.len() / self.dtype.reals()
    }
}

/// Checks a coordinate array: 2-D `(N, D)` with `D` in {2, 3} (or `D == dim` when given),
/// N > 0, every value finite.
pub(crate) fn check_points(
    a: &Array,
    path: &Path,
    what: &str,
    dim: Option<usize>,
) -> Result<(), DataError> {
    let ok = match (a.shape.as_slice(), dim) {
        ([n, d], None) => *n > 0 && (*d == 2 || *d == 3),
        ([n, d], Some(dim)) => *n > 0 && *d == dim,
        _ => false,
    };
    if a.dtype.is_complex() {
        return Err(input_err(
            path,
            format!(
                "{what} are complex ({}); coordinates must be real",
                a.dtype.descr()
            ),
        ));
    }
    if !ok {
        let need = match dim {
            Some(d) => format!("(N, {d}) with N > 0"),
            None => "(N, 3) or (N, 2) with N > 0".into(),
        };
        return Err(input_err(
            path,
            format!("{what} has shape {:?}, expected {need}", a.shape),
        ));
    }
    check_finite(a, path, what)
}

fn check_finite(a: &Array, path: &Path, what: &str) -> Result<(), DataError> {
    if let Some(i) = a.data.iter().position(|x| !x.is_finite()) {
        let element = i / a.dtype.reals();
        let row = if a.shape.len() == 2 {
            element / a.shape[1]
        } else {
            element
        };
        return Err(input_err(
            path,
            format!("{what} has a non-finite value (NaN or inf) at row {row}"),
        ));
    }
    Ok(())
}

pub(crate) fn check_charges(a: &Array, n: usize, path: &Path, what: &str) -> Result<(), DataError> {
    if a.shape != [n] {
        return Err(input_err(
            path,
            format!(
                "{what} has shape {:?}, expected ({n},) to match the sources",
                a.shape
            ),
        ));
    }
    check_finite(a, path, what)
}
