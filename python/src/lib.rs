//! The native part of the `oxifmm` Python package (`oxifmm._oxifmm`): the run-time configured
//! FMM ([`oxifmm::DynFmm`]) and the direct sum over numpy arrays. The Python layer
//! (`python/oxifmm/__init__.py`) checks shapes and dtypes and makes arrays contiguous; this
//! layer borrows them without copying, releases the GIL for the work, and turns the library's
//! errors into Python exceptions.

use numpy::{
    Complex32, Complex64, IntoPyArray, PyArrayMethods, PyReadonlyArray1, PyReadonlyArray2,
    PyUntypedArrayMethods,
};
use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use oxifmm::{
    Accuracy, AnyKernel, CacheMode, Coords, DynFmm, DynOutput, Error, FmmConfig, Precision,
    ValueVec, Values,
};

/// A library error as the Python exception a caller expects: `OSError` for files (the
/// operator cache, I/O), `ValueError` for everything about the input.
fn py_err(e: Error) -> PyErr {
    match e {
        Error::Cache { .. } | Error::Io { .. } => PyOSError::new_err(e.to_string()),
        _ => PyValueError::new_err(e.to_string()),
    }
}

/// Borrowed point arrays: `(N, D)`, C-contiguous (the Python layer makes them so).
enum PointArray<'py> {
    F32(PyReadonlyArray2<'py, f32>),
    F64(PyReadonlyArray2<'py, f64>),
}

impl<'py> PointArray<'py> {
    fn extract(obj: &Bound<'py, PyAny>, what: &str) -> PyResult<Self> {
        if let Ok(a) = obj.extract::<PyReadonlyArray2<'py, f64>>() {
            return Ok(PointArray::F64(a));
        }
        if let Ok(a) = obj.extract::<PyReadonlyArray2<'py, f32>>() {
            return Ok(PointArray::F32(a));
        }
        Err(PyValueError::new_err(format!(
            "{what} must be a 2-dimensional float32 or float64 array"
        )))
    }

    fn dim(&self) -> usize {
        match self {
            PointArray::F32(a) => a.shape()[1],
            PointArray::F64(a) => a.shape()[1],
        }
    }

    fn coords(&self, what: &str) -> PyResult<Coords<'_>> {
        let contiguous = || PyValueError::new_err(format!("{what} must be C-contiguous"));
        Ok(match self {
            PointArray::F32(a) => Coords::F32(a.as_slice().map_err(|_| contiguous())?),
            PointArray::F64(a) => Coords::F64(a.as_slice().map_err(|_| contiguous())?),
        })
    }
}

/// Borrowed charge arrays: one-dimensional, contiguous, real or complex.
enum ChargeArray<'py> {
    F32(PyReadonlyArray1<'py, f32>),
    F64(PyReadonlyArray1<'py, f64>),
    C32(PyReadonlyArray1<'py, Complex32>),
    C64(PyReadonlyArray1<'py, Complex64>),
}

impl<'py> ChargeArray<'py> {
    fn extract(obj: &Bound<'py, PyAny>) -> PyResult<Self> {
        if let Ok(a) = obj.extract::<PyReadonlyArray1<'py, f64>>() {
            return Ok(ChargeArray::F64(a));
        }
        if let Ok(a) = obj.extract::<PyReadonlyArray1<'py, f32>>() {
            return Ok(ChargeArray::F32(a));
        }
        if let Ok(a) = obj.extract::<PyReadonlyArray1<'py, Complex64>>() {
            return Ok(ChargeArray::C64(a));
        }
        if let Ok(a) = obj.extract::<PyReadonlyArray1<'py, Complex32>>() {
            return Ok(ChargeArray::C32(a));
        }
        Err(PyValueError::new_err(
            "charges must be a 1-dimensional float32, float64, complex64 or complex128 array",
        ))
    }

    fn values(&self) -> PyResult<Values<'_>> {
        let contiguous = || PyValueError::new_err("charges must be contiguous");
        Ok(match self {
            ChargeArray::F32(a) => Values::F32(a.as_slice().map_err(|_| contiguous())?),
            ChargeArray::F64(a) => Values::F64(a.as_slice().map_err(|_| contiguous())?),
            ChargeArray::C32(a) => Values::C32(a.as_slice().map_err(|_| contiguous())?),
            ChargeArray::C64(a) => Values::C64(a.as_slice().map_err(|_| contiguous())?),
        })
    }
}

/// Values as a numpy array of shape `(len / width, width)`, or `(len,)` when `width` is 0.
fn to_numpy<'py>(py: Python<'py>, v: ValueVec, width: usize) -> PyResult<Bound<'py, PyAny>> {
    macro_rules! arr {
        ($v:expr) => {{
            let rows = $v.len() / width.max(1);
            let a = $v.into_pyarray(py);
            if width == 0 {
                a.into_any()
            } else {
                a.reshape([rows, width])?.into_any()
            }
        }};
    }
    Ok(match v {
        ValueVec::F32(v) => arr!(v),
        ValueVec::F64(v) => arr!(v),
        ValueVec::C32(v) => arr!(v),
        ValueVec::C64(v) => arr!(v),
    })
}

fn output<'py>(py: Python<'py>, out: DynOutput, dim: usize) -> PyResult<Bound<'py, PyAny>> {
    let potential = to_numpy(py, out.potentials, 0)?;
    let gradient = match out.gradients {
        Some(g) => to_numpy(py, g, dim)?,
        None => py.None().into_bound(py),
    };
    Ok((potential, gradient).into_pyobject(py)?.into_any())
}

fn parse_kernel(spec: &str) -> PyResult<AnyKernel> {
    spec.parse().map_err(py_err)
}

/// The built FMM (see `oxifmm.Fmm`, which wraps it).
#[pyclass(name = "_Fmm", module = "oxifmm._oxifmm", frozen)]
struct PyFmm {
    fmm: DynFmm,
}

#[pymethods]
impl PyFmm {
    /// Builds the FMM; arguments as `oxifmm.Fmm`, already checked and converted.
    #[new]
    #[pyo3(signature = (sources, targets, kernel, eps, order, leaf, gradients, threads, cache_dir))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        sources: &Bound<'_, PyAny>,
        targets: Option<&Bound<'_, PyAny>>,
        kernel: &str,
        eps: Option<f64>,
        order: Option<usize>,
        leaf: usize,
        gradients: bool,
        threads: Option<usize>,
        cache_dir: Option<std::path::PathBuf>,
    ) -> PyResult<Self> {
        let src = PointArray::extract(sources, "sources")?;
        let tgt = targets
            .map(|t| PointArray::extract(t, "targets"))
            .transpose()?;
        let dim = src.dim();
        if let Some(t) = &tgt
            && t.dim() != dim
        {
            return Err(PyValueError::new_err(format!(
                "targets are {}-dimensional but sources are {dim}-dimensional",
                t.dim()
            )));
        }
        let accuracy = match (eps, order) {
            (Some(_), Some(_)) => {
                return Err(PyValueError::new_err("give eps or order, not both"));
            }
            (_, Some(p)) => Accuracy::Order(p),
            (Some(e), None) => Accuracy::Eps(e),
            (None, None) => Accuracy::Eps(1e-6),
        };
        let config = FmmConfig {
            kernel: parse_kernel(kernel)?,
            accuracy,
            precision: None,
            leaf,
            gradients,
            threads,
            cache: cache_dir.map_or(CacheMode::Default, CacheMode::Dir),
            ..FmmConfig::default()
        };
        let s = src.coords("sources")?;
        let t = tgt.as_ref().map(|t| t.coords("targets")).transpose()?;
        let fmm = py
            .detach(|| DynFmm::build(&config, dim, s, t))
            .map_err(py_err)?;
        Ok(PyFmm { fmm })
    }

    /// `(potential, gradient or None)` for these charges, in the caller's target order.
    fn evaluate<'py>(
        &self,
        py: Python<'py>,
        charges: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let q = ChargeArray::extract(charges)?;
        let v = q.values()?;
        let out = py.detach(|| self.fmm.evaluate(v)).map_err(py_err)?;
        output(py, out, self.fmm.dim())
    }

    /// The chosen expansion order.
    #[getter]
    fn order(&self) -> usize {
        self.fmm.order()
    }

    /// The dimension (2 or 3).
    #[getter]
    fn dim(&self) -> usize {
        self.fmm.dim()
    }

    /// `"float32"` or `"float64"`.
    #[getter]
    fn precision(&self) -> &'static str {
        match self.fmm.precision() {
            Precision::F32 => "float32",
            Precision::F64 => "float64",
        }
    }

    /// Number of sources.
    #[getter]
    fn n_sources(&self) -> usize {
        self.fmm.n_sources()
    }

    /// Number of targets.
    #[getter]
    fn n_targets(&self) -> usize {
        self.fmm.n_targets()
    }

    /// Timings (seconds), sizes (bytes), the order (with `eps`: also the M2L tolerance and the
    /// table's smallest and largest error for them) and the cache outcome, as a dict.
    fn report<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        let b = self.fmm.build_report();
        d.set_item("kernel", self.fmm.kernel().to_string())?;
        d.set_item("order", self.fmm.order())?;
        if let Some(plan) = self.fmm.eps_plan() {
            d.set_item("m2l_tolerance", plan.params.m2l_tolerance)?;
            d.set_item("table_error", (plan.min_error, plan.max_error))?;
        }
        d.set_item("dim", self.fmm.dim())?;
        d.set_item("precision", self.precision())?;
        d.set_item("m2l", format!("{:?}", b.m2l))?;
        d.set_item("tree_seconds", b.tree.as_secs_f64())?;
        d.set_item("lists_seconds", b.lists.as_secs_f64())?;
        d.set_item("operators_seconds", b.operators.as_secs_f64())?;
        d.set_item("graph_seconds", b.graph.as_secs_f64())?;
        d.set_item("operator_cache", b.cache.to_string())?;
        d.set_item("nodes", b.nodes)?;
        d.set_item("leaves", b.leaves)?;
        d.set_item("depth", b.depth)?;
        d.set_item("tree_bytes", b.tree_bytes)?;
        d.set_item("lists_bytes", b.lists_bytes)?;
        d.set_item("operator_bytes", b.operator_bytes)?;
        d.set_item("workspace_bytes", b.workspace_bytes)?;
        d.set_item(
            "memory_bytes",
            b.tree_bytes + b.lists_bytes + b.operator_bytes + b.workspace_bytes,
        )?;
        d.set_item("warnings", b.warnings.clone())?;
        if let Some(r) = self.fmm.last_report() {
            d.set_item("evaluate_seconds", r.wall.as_secs_f64())?;
            let ops = PyDict::new(py);
            for (name, t) in &r.operators {
                ops.set_item(*name, t.as_secs_f64())?;
            }
            d.set_item("operator_seconds", ops)?;
        }
        Ok(d)
    }
}

/// The direct sum `sum_j K(t_i, s_j) q_j` at every target: `(potential, gradient or None)`,
/// in the precision of the sources (targets and charges converted to it).
#[pyfunction]
#[pyo3(signature = (sources, charges, targets, kernel, gradients))]
fn direct<'py>(
    py: Python<'py>,
    sources: &Bound<'py, PyAny>,
    charges: &Bound<'py, PyAny>,
    targets: &Bound<'py, PyAny>,
    kernel: &str,
    gradients: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let kernel = parse_kernel(kernel)?;
    let src = PointArray::extract(sources, "sources")?;
    let tgt = PointArray::extract(targets, "targets")?;
    let q = ChargeArray::extract(charges)?;
    let dim = src.dim();
    if tgt.dim() != dim {
        return Err(PyValueError::new_err(format!(
            "targets are {}-dimensional but sources are {dim}-dimensional",
            tgt.dim()
        )));
    }
    let (s, t, v) = (src.coords("sources")?, tgt.coords("targets")?, q.values()?);
    let out = py
        .detach(|| oxifmm::direct_any(&kernel, dim, s, v, t, gradients))
        .map_err(py_err)?;
    output(py, out, dim)
}

/// The orders oxifmm supports in `dim` dimensions, as `(lowest, highest)`.
#[pyfunction]
fn supported_orders(dim: usize) -> PyResult<(usize, usize)> {
    let r = oxifmm::order::supported_orders(dim);
    if r.is_empty() {
        return Err(PyValueError::new_err(format!(
            "oxifmm works in 2D and 3D, not {dim}D"
        )));
    }
    Ok((*r.start(), *r.end()))
}

/// The order `eps` selects for a kernel (spec string), dimension and precision
/// (`"float32"` or `"float64"`).
#[pyfunction]
fn order_for_eps(kernel: &str, dim: usize, precision: &str, eps: f64) -> PyResult<usize> {
    let precision = match precision {
        "float32" => Precision::F32,
        "float64" => Precision::F64,
        other => {
            return Err(PyValueError::new_err(format!(
                "precision must be float32 or float64, got {other:?}"
            )));
        }
    };
    oxifmm::order_for_eps(&parse_kernel(kernel)?, dim, precision, eps).map_err(py_err)
}

#[pymodule]
fn _oxifmm(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyFmm>()?;
    m.add_function(wrap_pyfunction!(direct, m)?)?;
    m.add_function(wrap_pyfunction!(supported_orders, m)?)?;
    m.add_function(wrap_pyfunction!(order_for_eps, m)?)?;
    Ok(())
}
