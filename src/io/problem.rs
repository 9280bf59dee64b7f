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
    /// Charges, `(N,)`.
    pub charges: Vec<f64>,
    /// Target coordinates, row-major `(M, dim)`; `None` means the sources.
    pub targets: Option<Vec<f64>>,
}

impl Problem {
    /// Number of sources.
    pub fn n_sources(&self) -> usize {
        self.charges.len()
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
    /// Element type to store them in.
    pub dtype: Dtype,
    /// Potentials, `(M,)`.
    pub potentials: Vec<f64>,
    /// Gradients, row-major `(M, dim)`, if computed.
    pub gradients: Option<Vec<f64>>,
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
        let row = if a.shape.len() == 2 {
            i / a.shape[1]
        } else {
            i
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
