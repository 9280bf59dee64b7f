//! `oxifmm run`: evaluate potentials (and gradients) for a data file and write them out.

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use oxifmm::io::{self, Dtype, Problem, Results};
use oxifmm::{Accuracy, AnyKernel, Complex, Coords, DynFmm, FmmConfig, Precision, Value, Values};

use crate::cli::{Fail, Ui, cache_mode, init_threads};

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
    #[arg(long, default_value = "laplace", value_parser = parse_kernel)]
    pub kernel: AnyKernel,
    /// Expansion order (f64 p=6 gives ~2e-6 relative error, f32 p=4 ~3e-4; the supported
    /// orders are listed at the end of `oxifmm --help`). Ignored with --eps.
    #[arg(long, default_value_t = 6)]
    pub order: usize,
    /// The relative L2 error of the potential to meet instead of an order: the cheapest
    /// measured order and M2L tolerance whose error on uniform, sphere and clustered points
    /// lies in [EPS/10, EPS] (at most EPS where no plan is that close).
    #[arg(long, conflicts_with = "order")]
    pub eps: Option<f64>,
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

/// clap's value parser for `--kernel` (the library's spelling; its message becomes a usage
/// error).
fn parse_kernel(s: &str) -> Result<AnyKernel, String> {
    s.parse().map_err(|e: oxifmm::Error| e.to_string())
}

/// Builds and evaluates the FMM of the problem through the library's run-time entry point
/// (one dispatch to the compiled kernel, order, dimension and precision).
fn evaluate(p: &Problem, a: &RunArgs, precision: Precision, ui: &Ui) -> Result<Results, Fail> {
    if p.complex_charges && !a.kernel.is_complex() {
        return Err(Fail::Input(
            "the charges are complex but the kernel is real: use a complex kernel \
             (--kernel helmholtz:K) or real charges"
                .into(),
        ));
    }
    let config = FmmConfig {
        kernel: a.kernel,
        accuracy: match a.eps {
            Some(eps) => Accuracy::Eps(eps),
            None => Accuracy::Order(a.order),
        },
        precision: Some(precision),
        leaf: a.leaf,
        gradients: a.gradients,
        threads: None,
        cache: cache_mode(&a.cache_dir, a.no_cache),
        m2l: oxifmm::M2l::Auto,
        operator_params: None,
    };
    let pb = ui.spinner("building tree, lists, operators, task graph");
    let t0 = Instant::now();
    let sources = Coords::F64(&p.sources);
    let targets = p.targets.as_deref().map(Coords::F64);
    let fmm = DynFmm::build(&config, p.dim, sources, targets)?;
    let build = t0.elapsed();
    pb.finish_and_clear();
    ui.say(format!(
        "oxifmm: {} {}D, {} sources, {} targets, order {}, {}, leaf {}, gradients {}, \
         threads {}",
        a.kernel,
        p.dim,
        p.n_sources(),
        p.n_targets(),
        fmm.order(),
        precision.name(),
        a.leaf,
        a.gradients,
        rayon::current_num_threads()
    ));
    if let Some(plan) = fmm.eps_plan() {
        ui.say(format!(
            "eps {:e}: order {}, M2L tolerance {:.1e} (measured errors {:.1e} .. {:.1e} on \
             uniform, sphere and clustered points)",
            a.eps.unwrap_or_default(),
            plan.order,
            plan.params.m2l_tolerance,
            plan.min_error,
            plan.max_error
        ));
    }
    ui.say(format!(
        "\n-- build: {:.3} s\n{}",
        build.as_secs_f64(),
        fmm.build_report()
    ));
    let charges = if p.complex_charges {
        Values::C64(<Complex<f64> as Value>::from_reals(&p.charges))
    } else {
        Values::F64(&p.charges)
    };
    let pb = ui.spinner("evaluating");
    let out = fmm.evaluate(charges)?;
    pb.finish_and_clear();
    if let Some(r) = fmm.last_report() {
        ui.say(format!("\n-- {r}"));
    }
    Ok(Results {
        dim: p.dim,
        dtype: Dtype::of_precision(precision).with_complex(a.kernel.is_complex()),
        potentials: out.potentials.to_f64_reals(),
        gradients: out.gradients.map(|g| g.to_f64_reals()),
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
    let results = evaluate(&problem, a, prec, ui)?;
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
