//! The FMM configured at run time: kernel, dimension, precision and order (or an accuracy
//! `eps`) are values, dispatched once to the const-generic [`Fmm`]. The command line and the
//! Python package use it; Rust code that knows its configuration when it is compiled uses
//! [`Fmm`] directly.

use std::path::PathBuf;

pub use super::any_kernel::AnyKernel;
pub use super::dyn_values::{Coords, DynOutput, ValueVec, Values};
use super::eps::{EpsPlan, plan_for_eps};
use super::{BuildReport, EvalReport, Fmm, FmmOutput};
use crate::cache::CacheMode;
use crate::error::{Error, Result};
use crate::kernel::{Helmholtz, Kernel, Laplace, Yukawa};
use crate::m2l::M2l;
use crate::operators::OperatorParams;
use crate::order::{Expansion, SUPPORTED_ORDERS, SupportedOrder};
use crate::scalar::{Precision, Real};

/// How the expansion order is chosen.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Accuracy {
    /// This expansion order.
    Order(usize),
    /// The cheapest measured plan (order and M2L tolerance) whose relative L2 error of the
    /// potential is at most `eps`, and within a factor of ten of it where the table allows,
    /// for the kernel, dimension and precision (see [`plan_for_eps`](crate::plan_for_eps)).
    Eps(f64),
}

/// Everything [`DynFmm::build`] needs besides the points.
///
/// ```
/// use oxifmm::{Accuracy, AnyKernel, CacheMode, Coords, DynFmm, FmmConfig, Values};
///
/// let points: Vec<f64> = (0..3000).map(|i| ((i * 7919) % 1000) as f64 / 1000.0).collect();
/// let config = FmmConfig {
///     accuracy: Accuracy::Order(4),
///     leaf: 64,
///     cache: CacheMode::Off,
///     ..FmmConfig::default()
/// };
/// let fmm = DynFmm::build(&config, 3, Coords::F64(&points), None)?;
/// let charges: Vec<f64> = (0..1000).map(|i| (i % 5) as f64 - 2.0).collect();
/// let out = fmm.evaluate(Values::F64(&charges))?;
/// assert_eq!(out.potentials.len(), 1000);
/// assert_eq!(fmm.order(), 4);
/// # Ok::<(), oxifmm::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct FmmConfig {
    /// The kernel (default [`AnyKernel::Laplace`]).
    pub kernel: AnyKernel,
    /// The order, or the accuracy to reach (default `Eps(1e-6)`).
    pub accuracy: Accuracy,
    /// The precision; `None` (the default) takes that of the sources.
    pub precision: Option<Precision>,
    /// Largest number of points in a leaf box (default 150).
    pub leaf: usize,
    /// Also compute gradients (default false).
    pub gradients: bool,
    /// Worker threads; `None` (the default) uses rayon's global pool.
    pub threads: Option<usize>,
    /// The operator cache (default [`CacheMode::Default`]).
    pub cache: CacheMode,
    /// The M2L backend (default [`M2l::Auto`]).
    pub m2l: M2l,
    /// Surface radii and tolerances; `None` (the default): those of the plan chosen for
    /// `eps`, or [`OperatorParams::defaults`] for a given order.
    pub operator_params: Option<OperatorParams>,
}

impl Default for FmmConfig {
    fn default() -> Self {
        Self {
            kernel: AnyKernel::Laplace,
            accuracy: Accuracy::Eps(1e-6),
            precision: None,
            leaf: 150,
            gradients: false,
            threads: None,
            cache: CacheMode::Default,
            m2l: M2l::Auto,
            operator_params: None,
        }
    }
}

impl FmmConfig {
    /// The operator cache in `dir` (`None`: the default directory).
    pub fn with_cache_dir(mut self, dir: Option<PathBuf>) -> Self {
        self.cache = dir.map_or(CacheMode::Default, CacheMode::Dir);
        self
    }
}

/// What [`DynFmm`] needs of a built [`Fmm`], whatever its type.
trait Erased: Send + Sync + std::fmt::Debug {
    fn evaluate(&self, charges: Values<'_>) -> Result<DynOutput>;
    fn build_report(&self) -> &BuildReport;
    fn last_report(&self) -> Option<EvalReport>;
    fn n_sources(&self) -> usize;
    fn n_targets(&self) -> usize;
}

impl<K, const P: usize, const D: usize, T: Real> Erased for Fmm<K, P, D, T>
where
    K: Kernel<D> + std::fmt::Debug,
    Expansion<P, D>: SupportedOrder,
{
    fn evaluate(&self, charges: Values<'_>) -> Result<DynOutput> {
        let q = charges.values::<K::Value<T>>()?;
        let FmmOutput {
            potentials,
            gradients,
        } = Fmm::evaluate(self, &q)?;
        Ok(DynOutput {
            potentials: ValueVec::of(potentials),
            gradients: self
                .computes_gradients()
                .then(|| ValueVec::of(gradients.into_flattened())),
        })
    }
    fn build_report(&self) -> &BuildReport {
        Fmm::build_report(self)
    }
    fn last_report(&self) -> Option<EvalReport> {
        Fmm::last_report(self)
    }
    fn n_sources(&self) -> usize {
        Fmm::n_sources(self)
    }
    fn n_targets(&self) -> usize {
        Fmm::n_targets(self)
    }
}

/// An FMM whose kernel, dimension, precision and order were chosen at run time: built once,
/// evaluated any number of times (also from several threads at once).
#[derive(Debug)]
pub struct DynFmm {
    inner: Box<dyn Erased>,
    kernel: AnyKernel,
    dim: usize,
    order: usize,
    precision: Precision,
    gradients: bool,
    plan: Option<EpsPlan>,
}

/// Builds the typed FMM of one (kernel, order, dimension, precision).
fn build_typed<K, const P: usize, const D: usize, T: Real>(
    kernel: K,
    config: &FmmConfig,
    params: Option<OperatorParams>,
    sources: &Coords<'_>,
    targets: Option<&Coords<'_>>,
) -> Result<Box<dyn Erased>>
where
    K: Kernel<D> + std::fmt::Debug,
    Expansion<P, D>: SupportedOrder,
{
    let src = sources.points::<T, D>("sources")?;
    let tgt = targets.map(|t| t.points::<T, D>("targets")).transpose()?;
    let mut b = Fmm::<K, P, D, T>::with_kernel(kernel)
        .sources(&src)
        .max_points_per_leaf(config.leaf)
        .gradients(config.gradients)
        .cache(config.cache.clone())
        .m2l(config.m2l);
    if let Some(t) = &tgt {
        b = b.targets(t);
    }
    if let Some(n) = config.threads {
        b = b.threads(n);
    }
    if let Some(p) = params {
        b = b.operator_params(p);
    }
    Ok(Box::new(b.build()?))
}

impl DynFmm {
    /// Builds the FMM for `sources` (and `targets`, else the sources) in `dim` dimensions.
    ///
    /// The precision is `config.precision`, else that of `sources` (targets in the other
    /// precision are converted). With [`Accuracy::Eps`] the order comes from the measured
    /// table ([`plan_for_eps`](crate::plan_for_eps)), and so does the M2L tolerance unless
    /// `config.operator_params` is given.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] for a dimension the kernel does not exist in, an
    /// unsupported order, an `eps` the table cannot meet, or coordinates that are not a
    /// multiple of `dim`; then everything [`FmmBuilder::build`](crate::FmmBuilder::build)
    /// reports (empty or non-finite points, a bad leaf size, ...).
    pub fn build(
        config: &FmmConfig,
        dim: usize,
        sources: Coords<'_>,
        targets: Option<Coords<'_>>,
    ) -> Result<DynFmm> {
        let kernel = config.kernel;
        check_dim(&kernel, dim)?;
        let precision = config.precision.unwrap_or(sources.precision());
        let (order, plan) = match config.accuracy {
            Accuracy::Order(p) => (p, None),
            Accuracy::Eps(eps) => {
                let plan = plan_for_eps(&kernel, dim, precision, eps)?;
                (plan.order, Some(plan))
            }
        };
        let params = config.operator_params.or(plan.map(|p| p.params));
        let (s, t) = (&sources, targets.as_ref());
        macro_rules! typed {
            ($k:expr, $t:ty) => {
                match (&$k, dim) {
                    (AnyKernel::Laplace, _) => with_order!(dim, order, |P, D| {
                        build_typed::<Laplace, P, D, $t>(Laplace, config, params, s, t)
                    }),
                    (AnyKernel::Yukawa(k), 3) => with_order!(3, order, |P| {
                        build_typed::<Yukawa, P, 3, $t>(*k, config, params, s, t)
                    }),
                    (AnyKernel::Helmholtz(k), 3) => with_order!(3, order, |P| {
                        build_typed::<Helmholtz, P, 3, $t>(*k, config, params, s, t)
                    }),
                    _ => unreachable!("checked by supports_dim"),
                }
            };
        }
        let built = match precision {
            Precision::F64 => typed!(kernel, f64),
            Precision::F32 => typed!(kernel, f32),
        };
        let inner = built.ok_or_else(|| Error::InvalidParameter {
            name: "order",
            reason: format!(
                "order {order} is not supported in {dim}D (supported: {SUPPORTED_ORDERS})"
            ),
        })??;
        Ok(DynFmm {
            inner,
            kernel,
            dim,
            order,
            precision,
            gradients: config.gradients,
            plan,
        })
    }

    /// Potentials (and gradients, if configured) at the targets, in the caller's order.
    /// Charges of another precision are converted; real charges for a complex kernel are
    /// taken with zero imaginary part.
    ///
    /// # Errors
    ///
    /// As [`Fmm::evaluate`]; also complex charges for a real kernel.
    pub fn evaluate(&self, charges: Values<'_>) -> Result<DynOutput> {
        self.inner.evaluate(charges)
    }

    /// The build's report (times, sizes, the cache outcome, warnings).
    pub fn build_report(&self) -> &BuildReport {
        self.inner.build_report()
    }

    /// The report of the latest evaluation, if any.
    pub fn last_report(&self) -> Option<EvalReport> {
        self.inner.last_report()
    }

    /// The kernel.
    pub fn kernel(&self) -> AnyKernel {
        self.kernel
    }

    /// The dimension.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The expansion order (given, or chosen for `eps`).
    pub fn order(&self) -> usize {
        self.order
    }

    /// The plan chosen for [`Accuracy::Eps`] (order, operator parameters and the errors the
    /// table measured for them); `None` for a given order.
    pub fn eps_plan(&self) -> Option<&EpsPlan> {
        self.plan.as_ref()
    }

    /// The precision of the computation and of the results.
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// Whether gradients are computed.
    pub fn computes_gradients(&self) -> bool {
        self.gradients
    }

    /// Number of sources.
    pub fn n_sources(&self) -> usize {
        self.inner.n_sources()
    }

    /// Number of targets.
    pub fn n_targets(&self) -> usize {
        self.inner.n_targets()
    }
}

/// The direct sum ([`direct`](crate::direct())) for a kernel, dimension and precision chosen
/// at run time: the precision is that of `sources` (targets and charges are converted to it).
///
/// ```
/// use oxifmm::{AnyKernel, Coords, Values, ValueVec, direct_any};
///
/// let s = [0.0, 0.0, 0.0, 1.0, 0.0, 0.0];
/// let t = [0.0, 0.0, 2.0];
/// let out = direct_any(&AnyKernel::Laplace, 3, Coords::F64(&s), Values::F64(&[1.0, 2.0]),
///                      Coords::F64(&t), true)?;
/// let ValueVec::F64(phi) = out.potentials else { unreachable!() };
/// let expected = (1.0 / 2.0 + 2.0 / 5.0f64.sqrt()) / (4.0 * std::f64::consts::PI);
/// assert!((phi[0] - expected).abs() < 1e-15);
/// assert_eq!(out.gradients.map(|g| g.len()), Some(3));
/// # Ok::<(), oxifmm::Error>(())
/// ```
///
/// # Errors
///
/// As [`direct`](crate::direct()); also a dimension the kernel does not exist in, coordinates
/// that are not a multiple of `dim`, and complex charges for a real kernel.
pub fn direct_any(
    kernel: &AnyKernel,
    dim: usize,
    sources: Coords<'_>,
    charges: Values<'_>,
    targets: Coords<'_>,
    gradients: bool,
) -> Result<DynOutput> {
    check_dim(kernel, dim)?;
    fn run<K: Kernel<D>, const D: usize, T: Real>(
        kernel: &K,
        sources: &Coords<'_>,
        charges: &Values<'_>,
        targets: &Coords<'_>,
        gradients: bool,
    ) -> Result<DynOutput> {
        let src = sources.points::<T, D>("sources")?;
        let tgt = targets.points::<T, D>("targets")?;
        let q = charges.values::<K::Value<T>>()?;
        let out = crate::kernel::direct(kernel, &src, &q, &tgt, gradients)?;
        if !gradients {
            return Ok(DynOutput {
                potentials: ValueVec::of(out),
                gradients: None,
            });
        }
        let (mut pot, mut grad) = (
            Vec::with_capacity(tgt.len()),
            Vec::with_capacity(D * tgt.len()),
        );
        for row in out.chunks_exact(1 + D) {
            pot.push(row[0]);
            grad.extend_from_slice(&row[1..]);
        }
        Ok(DynOutput {
            potentials: ValueVec::of(pot),
            gradients: Some(ValueVec::of(grad)),
        })
    }
    let (s, q, t) = (&sources, &charges, &targets);
    macro_rules! typed {
        ($t:ty) => {
            match (kernel, dim) {
                (AnyKernel::Laplace, 2) => run::<Laplace, 2, $t>(&Laplace, s, q, t, gradients),
                (AnyKernel::Laplace, _) => run::<Laplace, 3, $t>(&Laplace, s, q, t, gradients),
                (AnyKernel::Yukawa(k), _) => run::<Yukawa, 3, $t>(k, s, q, t, gradients),
                (AnyKernel::Helmholtz(k), _) => run::<Helmholtz, 3, $t>(k, s, q, t, gradients),
            }
        };
    }
    match sources.precision() {
        Precision::F64 => typed!(f64),
        Precision::F32 => typed!(f32),
    }
}

/// [`Error::InvalidParameter`] (`dim`) unless `kernel` exists in `dim` dimensions.
fn check_dim(kernel: &AnyKernel, dim: usize) -> Result<()> {
    if kernel.supports_dim(dim) {
        return Ok(());
    }
    Err(Error::InvalidParameter {
        name: "dim",
        reason: if dim == 2 || dim == 3 {
            let name = match kernel {
                AnyKernel::Laplace => "Laplace",
                AnyKernel::Yukawa(_) => "Yukawa",
                AnyKernel::Helmholtz(_) => "Helmholtz",
            };
            format!("the {name} kernel is 3D; the points are {dim}D (Laplace works in 2D)")
        } else {
            format!("points must be 2D or 3D, got {dim}D")
        },
    })
}
