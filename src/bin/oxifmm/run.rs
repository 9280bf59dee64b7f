//! `oxifmm run`: evaluate potentials (and gradients) for a data file and write them out.

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use oxifmm::io::{self, Problem, Results};
use oxifmm::{Expansion, Fmm, Kernel, Laplace, Real, SupportedOrder, Value};

use crate::cli::{Fail, KernelArg, Ui, cache_mode, dispatch, init_threads, to_points};
use oxifmm::Precision;

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Input: an HDF5 file (.h5/.hdf5) or a .npy bundle PREFIX (or its PREFIX.sources.npy).
    #[arg(long)]
    pub input: PathBuf,
    /// Separate targets: an (M, D) .npy file or an HDF5 file (its particle_data/targets).
    /// Default: the input's targets, else the sources.
    #[arg(long)]
    pub targets: Option<PathBuf>,
    /// The kernel: `laplace` (2D and 3D), `yukawa:KAPPA` (3D, `exp(-KAPPA r) / (4 pi r)`),
    /// `helmholtz:K` or `helmholtz:RE,IM` (3D, `exp(i k r) / (4 pi r)`, Im k >= 0: complex
    /// potentials; real charges are taken with zero imaginary part).
    #[arg(long, default_value = "laplace", value_parser = KernelArg::parse)]
    pub kernel: KernelArg,
    /// Expansion order: the accuracy knob (f64 p=6 gives ~2e-6 relative error, f32 p=4 ~3e-4;
    /// the supported orders are listed at the end of `oxifmm --help`).
    #[arg(long, default_value_t = 6)]
    pub order: usize,
    /// Precision of the computation and of the written results (default: the input's).
    #[arg(long, value_enum)]
    pub precision: Option<Precision>,
    /// Largest number of points in a leaf box (trades near-field P2P against far field).
    #[arg(long, default_value_t = 150)]
    pub leaf: usize,
    /// Also compute gradients (written as PREFIX.gradients.npy or particle_data/gradients).
    #[arg(long)]
    pub gradients: bool,
    /// Worker threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Operator cache directory (default as for `operators`).
    #[arg(long)]
    pub cache_dir: Option<PathBuf>,
    /// Compute operators in memory; do not read or write the operator cache.
    #[arg(long, conflicts_with = "cache_dir")]
    pub no_cache: bool,
    /// Output: FILE.h5 (for an HDF5 input, a copy of it with the results added) or a PREFIX
    /// for PREFIX.potentials.npy (and PREFIX.gradients.npy).
    #[arg(long)]
    pub out: PathBuf,
}

fn evaluate<const P: usize, const D: usize, T: Real>(
    kernel: &(impl Kernel<D> + std::fmt::Debug),
    p: &Problem,
    a: &RunArgs,
    ui: &Ui,
) -> Result<Results, Fail>
where
    Expansion<P, D>: SupportedOrder,
{
    let sources = to_points::<T, D>(&p.sources);
    let targets = p.targets.as_deref().map(to_points::<T, D>);
    let q = charges::<D, T, _>(kernel, p)?;
    ui.say(format!(
        "oxifmm: {} {D}D, {} sources, {} targets, order {P}, {}, leaf {}, gradients {}, \
         threads {}",
        a.kernel,
        p.n_sources(),
        p.n_targets(),
        T::PRECISION.name(),
        a.leaf,
        a.gradients,
        rayon::current_num_threads()
    ));
    let pb = ui.spinner("building tree, lists, operators, task graph");
    let mut b = Fmm::<_, P, D, T>::with_kernel(kernel.clone())
        .sources(&sources)
        .max_points_per_leaf(a.leaf)
        .gradients(a.gradients)
        .cache(cache_mode(&a.cache_dir, a.no_cache));
    if let Some(t) = &targets {
        b = b.targets(t);
    }
    let t0 = Instant::now();
    let fmm = b.build()?;
    let build = t0.elapsed();
    pb.finish_and_clear();
    ui.say(format!(
        "\n-- build: {:.3} s\n{}",
        build.as_secs_f64(),
        fmm.build_report()
    ));
    let pb = ui.spinner("evaluating");
    let out = fmm.evaluate(&q)?;
    pb.finish_and_clear();
    if let Some(r) = fmm.last_report() {
        ui.say(format!("\n-- {r}"));
    }
    let reals = |v: &[T]| -> Vec<f64> { v.iter().map(|x| x.to_f64()).collect() };
    Ok(Results {
        dim: D,
        dtype: oxifmm::io::Dtype::of_precision(T::PRECISION).with_complex(is_complex(&q)),
        potentials: reals(Value::as_reals(&out.potentials)),
        gradients: a
            .gradients
            .then(|| reals(Value::as_reals(out.gradients.as_flattened()))),
    })
}

/// Whether values of `V` are complex.
fn is_complex<V: Value>(_: &[V]) -> bool {
    V::REALS == 2
}

/// The problem's charges as the kernel's values: real charges are widened to a complex kernel
/// (zero imaginary part); complex charges for a real kernel are refused.
fn charges<const D: usize, T: Real, K: Kernel<D>>(
    _kernel: &K,
    p: &Problem,
) -> Result<Vec<K::Value<T>>, Fail> {
    let complex_kernel = <K::Value<T> as Value>::REALS == 2;
    if p.complex_charges && !complex_kernel {
        return Err(Fail::Input(
            "the charges are complex but the kernel is real: use a complex kernel \
             (--kernel helmholtz:K) or real charges"
                .into(),
        ));
    }
    let t = T::from_f64;
    Ok(if p.complex_charges {
        p.charges
            .chunks_exact(2)
            .map(|z| Value::from_parts(t(z[0]), t(z[1])))
            .collect()
    } else {
        p.charges
            .iter()
            .map(|&x| Value::from_parts(t(x), T::ZERO))
            .collect()
    })
}

pub fn cmd_run(a: &RunArgs, ui: &Ui) -> Result<(), Fail> {
    if a.leaf == 0 {
        return Err(Fail::Usage("--leaf must be at least 1".into()));
    }
    init_threads(a.threads)?;
    let pb = ui.spinner(format!("reading {}", a.input.display()));
    let problem = io::read_problem(&a.input, a.targets.as_deref())?;
    pb.finish_and_clear();
    let prec = a.precision.unwrap_or_else(|| problem.dtype.precision());
    let results = match a.kernel {
        KernelArg::Laplace => dispatch!(
            problem.dim,
            prec,
            a.order,
            evaluate,
            (&Laplace, &problem, a, ui)
        )?,
        KernelArg::Yukawa(k) if problem.dim == 3 => {
            dispatch!(@3d prec, a.order, evaluate, (&k, &problem, a, ui))?
        }
        KernelArg::Helmholtz(k) if problem.dim == 3 => {
            dispatch!(@3d prec, a.order, evaluate, (&k, &problem, a, ui))?
        }
        KernelArg::Yukawa(_) | KernelArg::Helmholtz(_) => {
            let name = if matches!(a.kernel, KernelArg::Yukawa(_)) {
                "Yukawa"
            } else {
                "Helmholtz"
            };
            return Err(Fail::Usage(format!(
                "the {name} kernel is 3D; the input is {}D (--kernel laplace works in 2D)",
                problem.dim
            )));
        }
    };
    let pb = ui.spinner(format!("writing {}", a.out.display()));
    io::write_results(&a.out, &a.input, &problem, &results)?;
    pb.finish_and_clear();
    if io::is_hdf5(&a.out) {
        ui.say(format!("\nwrote {}", a.out.display()));
    } else {
        ui.say(format!(
            "\nwrote {}{}",
            io::bundle_file(&a.out, "potentials").display(),
            if a.gradients {
                format!(" and {}", io::bundle_file(&a.out, "gradients").display())
            } else {
                String::new()
            }
        ));
    }
    Ok(())
}
