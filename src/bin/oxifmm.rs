//! `oxifmm`: the command-line front end of the oxifmm crate (Laplace kernel).
//!
//! Subcommands: `generate` (test data), `operators` (fill the operator cache, HDF5
//! export/import), `run` (evaluate potentials and gradients for a data file), `bench-report`
//! (timings, accuracy and memory over a parameter sweep, as markdown and an SVG chart).
//! File formats are described in the `oxifmm::io` module docs and in `oxifmm --help`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use oxifmm::io::{self, DataError, Dtype, Problem, Results};
use oxifmm::points::{Distribution, charges, generate};
use oxifmm::{
    CacheMode, CacheParams, Error, Expansion, Fmm, Kernel, Laplace, OperatorCache, OperatorParams,
    Real, SupportedOrder,
};

const FORMATS: &str = "\
FILES:
  A name ending in .h5 or .hdf5 is an HDF5 file (needs oxifmm built with --features hdf5) in
  PyExaFMM's experiment layout: particle_data/sources (N,D), particle_data/source_densities
  (N,), particle_data/targets (M,D; optional). `run` writes particle_data/potentials (M,) and
  particle_data/gradients (M,D) into a copy of the input file written to --out.
  Any other name is the PREFIX of a NumPy .npy bundle: PREFIX.sources.npy (N,D),
  PREFIX.charges.npy (N,), optional PREFIX.targets.npy (M,D); `run` writes
  PREFIX.potentials.npy (M,) and PREFIX.gradients.npy (M,D). Arrays are float64 ('<f8') or
  float32 ('<f4'), C order. Outputs are written to a temporary file and renamed: a failed run
  leaves no partial file.

EXIT CODES:
  0 success, 1 computation failure, 2 usage error, 3 bad input file (missing datasets, wrong
  shapes or dtypes, NaN/inf values), 4 output failure (unwritable file or cache directory).";

/// Kernel-independent fast multipole method (Laplace kernel, 2D and 3D) from the command line.
#[derive(Parser, Debug)]
#[command(name = "oxifmm", version, after_help = FORMATS)]
struct Cli {
    /// Turn off progress output (spinners, bars and reports); errors are still printed.
    #[arg(long, short, global = true)]
    quiet: bool,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Write random points and charges as test data.
    Generate(GenerateArgs),
    /// Precompute operators into the operator cache; export them to or import them from HDF5.
    Operators(OperatorsArgs),
    /// Evaluate potentials (and gradients) for a data file and write them out.
    Run(RunArgs),
    /// Benchmark: operator-time chart, accuracy/memory/runtime table, precomputation timings.
    BenchReport(BenchArgs),
}

/// Point distribution.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum Dist {
    /// Uniform in the unit cube (square in 2D).
    Uniform,
    /// Uniform on the unit sphere (circle in 2D).
    Sphere,
    /// Ten Gaussian clusters of decreasing width inside the unit cube.
    Clusters,
}

impl Dist {
    fn get(self) -> Distribution {
        match self {
            Dist::Uniform => Distribution::Uniform,
            Dist::Sphere => Distribution::Sphere,
            Dist::Clusters => Distribution::Clusters,
        }
    }
}

/// Floating-point precision.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Prec {
    /// Single precision (float32).
    F32,
    /// Double precision (float64).
    F64,
}

impl Prec {
    fn dtype(self) -> Dtype {
        match self {
            Prec::F32 => Dtype::F32,
            Prec::F64 => Dtype::F64,
        }
    }
    fn from_dtype(d: Dtype) -> Self {
        match d {
            Dtype::F32 => Prec::F32,
            Dtype::F64 => Prec::F64,
        }
    }
}

#[derive(Args, Debug)]
struct GenerateArgs {
    /// Number of source points.
    #[arg(long)]
    n: usize,
    /// Point distribution.
    #[arg(long, value_enum, default_value = "uniform")]
    dist: Dist,
    /// Dimension: 2 or 3.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u8).range(2..=3))]
    dim: u8,
    /// Random seed (points use SEED, charges SEED+1, separate targets SEED+2).
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Also write this many separate targets (same distribution); default: targets = sources.
    #[arg(long)]
    n_targets: Option<usize>,
    /// Element type of the written arrays.
    #[arg(long, value_enum, default_value = "f64")]
    precision: Prec,
    /// Output: FILE.h5 (PyExaFMM layout) or a PREFIX for PREFIX.sources.npy and
    /// PREFIX.charges.npy (charges uniform in [-1, 1]).
    #[arg(long)]
    out: PathBuf,
}

#[derive(Args, Debug)]
struct OperatorsArgs {
    /// Expansion order (3D: 2..=12). Not needed with --import.
    #[arg(long, required_unless_present = "import")]
    order: Option<usize>,
    /// Dimension. Only 3D operators are cached: 2D Laplace is not homogeneous, its operators
    /// depend on the tree and are computed per run.
    #[arg(long, default_value_t = 3)]
    dim: usize,
    /// Precision of the operators.
    #[arg(long, value_enum, default_value = "f64")]
    precision: Prec,
    /// Cache directory (default: $OXIFMM_CACHE_DIR, else $XDG_CACHE_HOME/oxifmm, else
    /// ~/.cache/oxifmm).
    #[arg(long)]
    cache_dir: Option<PathBuf>,
    /// After precomputing (or loading), export the operators to this HDF5 file (feature hdf5).
    #[arg(long, conflicts_with = "import")]
    export: Option<PathBuf>,
    /// Convert this HDF5 operator file (written by --export) into the cache (feature hdf5);
    /// its parameters come from the file.
    #[arg(long)]
    import: Option<PathBuf>,
}

#[derive(Args, Debug)]
struct RunArgs {
    /// Input: an HDF5 file (.h5/.hdf5) or a .npy bundle PREFIX (or its PREFIX.sources.npy).
    #[arg(long)]
    input: PathBuf,
    /// Separate targets: an (M, D) .npy file or an HDF5 file (its particle_data/targets).
    /// Default: the input's targets, else the sources.
    #[arg(long)]
    targets: Option<PathBuf>,
    /// Expansion order: the accuracy knob (3D: 2..=12, 2D: 2..=16; f64 p=6 gives ~2e-6
    /// relative error, f32 p=4 ~3e-4).
    #[arg(long, default_value_t = 6)]
    order: usize,
    /// Precision of the computation and of the written results (default: the input's).
    #[arg(long, value_enum)]
    precision: Option<Prec>,
    /// Largest number of points in a leaf box (trades near-field P2P against far field).
    #[arg(long, default_value_t = 150)]
    leaf: usize,
    /// Also compute gradients (written as PREFIX.gradients.npy or particle_data/gradients).
    #[arg(long)]
    gradients: bool,
    /// Worker threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Operator cache directory (default as for `operators`).
    #[arg(long)]
    cache_dir: Option<PathBuf>,
    /// Compute operators in memory; do not read or write the operator cache.
    #[arg(long, conflicts_with = "cache_dir")]
    no_cache: bool,
    /// Output: FILE.h5 (for an HDF5 input, a copy of it with the results added) or a PREFIX
    /// for PREFIX.potentials.npy (and PREFIX.gradients.npy).
    #[arg(long)]
    out: PathBuf,
}

#[derive(Args, Debug)]
struct BenchArgs {
    /// Directory for report.md and operators.svg (created if missing).
    #[arg(long, default_value = "bench-report")]
    out_dir: PathBuf,
    /// Small problem sizes (seconds instead of minutes), for a smoke test.
    #[arg(long)]
    quick: bool,
    /// Worker threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Sampled targets for the relative L2 error against the direct sum.
    #[arg(long)]
    samples: Option<usize>,
}

// ---------------------------------------------------------------------------------------
// Failures and exit codes
// ---------------------------------------------------------------------------------------

/// A failure, classified by exit code.
enum Fail {
    /// 1: the computation failed.
    Compute(String),
    /// 2: bad usage.
    Usage(String),
    /// 3: bad input file.
    Input(String),
    /// 4: an output could not be written.
    Output(String),
}

impl Fail {
    fn code(&self) -> u8 {
        match self {
            Fail::Compute(_) => 1,
            Fail::Usage(_) => 2,
            Fail::Input(_) => 3,
            Fail::Output(_) => 4,
        }
    }
    fn message(&self) -> &str {
        match self {
            Fail::Compute(m) | Fail::Usage(m) | Fail::Input(m) | Fail::Output(m) => m,
        }
    }
}

impl From<DataError> for Fail {
    fn from(e: DataError) -> Self {
        match e {
            DataError::Input { .. } => Fail::Input(e.to_string()),
            DataError::Output { .. } => Fail::Output(e.to_string()),
        }
    }
}

impl From<Error> for Fail {
    fn from(e: Error) -> Self {
        let m = e.to_string();
        match e {
            Error::Empty { .. }
            | Error::LengthMismatch { .. }
            | Error::NonFinite { .. }
            | Error::OutsideDomain { .. } => Fail::Input(m),
            Error::InvalidParameter { .. } => Fail::Usage(m),
            Error::Io { .. } | Error::Cache { .. } => Fail::Output(m),
            _ => Fail::Compute(m),
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let ui = Ui { quiet: cli.quiet };
    let r = match cli.cmd {
        Cmd::Generate(a) => cmd_generate(&a, &ui),
        Cmd::Operators(a) => cmd_operators(&a, &ui),
        Cmd::Run(a) => cmd_run(&a, &ui),
        Cmd::BenchReport(a) => cmd_bench(&a, &ui),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("oxifmm: error: {}", f.message().replace('\n', " "));
            ExitCode::from(f.code())
        }
    }
}

// ---------------------------------------------------------------------------------------
// Progress
// ---------------------------------------------------------------------------------------

struct Ui {
    quiet: bool,
}

impl Ui {
    /// A spinner on stderr (hidden with --quiet or when stderr is not a terminal).
    fn spinner(&self, msg: impl Into<std::borrow::Cow<'static, str>>) -> ProgressBar {
        if self.quiet {
            return ProgressBar::hidden();
        }
        let pb = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        pb.set_style(
            ProgressStyle::with_template("{spinner} {msg} [{elapsed}]").expect("valid template"),
        );
        pb.set_message(msg);
        pb.enable_steady_tick(Duration::from_millis(100));
        pb
    }
    /// A progress bar of `len` steps on stderr.
    fn bar(&self, len: u64) -> ProgressBar {
        if self.quiet {
            return ProgressBar::hidden();
        }
        let pb = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
        pb.set_style(
            ProgressStyle::with_template("[{elapsed_precise}] {bar:30} {pos}/{len} {msg}")
                .expect("valid template"),
        );
        pb.enable_steady_tick(Duration::from_millis(200));
        pb
    }
    /// Prints a line on stdout unless --quiet.
    fn say(&self, s: impl std::fmt::Display) {
        if !self.quiet {
            println!("{s}");
        }
    }
}

fn init_threads(n: Option<usize>) -> Result<(), Fail> {
    if let Some(n) = n {
        if n == 0 {
            return Err(Fail::Usage("--threads must be at least 1".into()));
        }
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global()
            .map_err(|e| Fail::Compute(format!("thread pool: {e}")))?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Order dispatch: a runtime (order, dim, precision) to the const-generic Fmm
// ---------------------------------------------------------------------------------------

const ORDERS_3D: &str = "2..=12";
const ORDERS_2D: &str = "2..=16";

macro_rules! orders {
    ($order:expr, $d:literal, $t:ty, $f:ident, $args:tt, [$($p:literal),*]) => {
        match $order {
            $($p => $f::<$p, $d, $t> $args,)*
            o => Err(Fail::Usage(format!(
                "order {o} is not supported in {}D (supported: {})",
                $d,
                if $d == 3 { ORDERS_3D } else { ORDERS_2D }
            ))),
        }
    };
}

macro_rules! dispatch {
    ($dim:expr, $prec:expr, $order:expr, $f:ident, $args:tt) => {
        match ($dim, $prec) {
            (3, Prec::F64) => orders!(
                $order,
                3,
                f64,
                $f,
                $args,
                [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]
            ),
            (3, Prec::F32) => orders!(
                $order,
                3,
                f32,
                $f,
                $args,
                [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]
            ),
            (2, Prec::F64) => orders!(
                $order,
                2,
                f64,
                $f,
                $args,
                [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]
            ),
            (2, Prec::F32) => orders!(
                $order,
                2,
                f32,
                $f,
                $args,
                [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]
            ),
            (d, _) => Err(Fail::Usage(format!(
                "dimension {d} is not supported (2 or 3)"
            ))),
        }
    };
}

fn cache_mode(dir: &Option<PathBuf>, off: bool) -> CacheMode {
    match (dir, off) {
        (_, true) => CacheMode::Off,
        (Some(d), _) => CacheMode::Dir(d.clone()),
        (None, _) => CacheMode::Default,
    }
}

fn to_points<T: Real, const D: usize>(flat: &[f64]) -> Vec<[T; D]> {
    flat.chunks_exact(D)
        .map(|c| std::array::from_fn(|k| T::from_f64(c[k])))
        .collect()
}

// ---------------------------------------------------------------------------------------
// generate
// ---------------------------------------------------------------------------------------

fn flat<const D: usize>(p: &[[f64; D]]) -> Vec<f64> {
    p.iter().flatten().copied().collect()
}

fn cmd_generate(a: &GenerateArgs, ui: &Ui) -> Result<(), Fail> {
    if a.n == 0 || a.n_targets == Some(0) {
        return Err(Fail::Usage("--n and --n-targets must be at least 1".into()));
    }
    let pb = ui.spinner(format!("generating {} {:?} points", a.n, a.dist));
    let dist = a.dist.get();
    let (sources, targets) = if a.dim == 3 {
        (
            flat(&generate::<f64, 3>(dist, a.n, a.seed)),
            a.n_targets
                .map(|m| flat(&generate::<f64, 3>(dist, m, a.seed + 2))),
        )
    } else {
        (
            flat(&generate::<f64, 2>(dist, a.n, a.seed)),
            a.n_targets
                .map(|m| flat(&generate::<f64, 2>(dist, m, a.seed + 2))),
        )
    };
    let problem = Problem {
        dim: a.dim as usize,
        dtype: a.precision.dtype(),
        sources,
        charges: charges::<f64>(a.n, a.seed + 1),
        targets,
    };
    pb.set_message(format!("writing {}", a.out.display()));
    io::write_problem(&a.out, &problem)?;
    pb.finish_and_clear();
    if io::is_hdf5(&a.out) {
        ui.say(format!("wrote {}", a.out.display()));
    } else {
        ui.say(format!(
            "wrote {} and {}{}",
            io::bundle_file(&a.out, "sources").display(),
            io::bundle_file(&a.out, "charges").display(),
            if problem.targets.is_some() {
                format!(" and {}", io::bundle_file(&a.out, "targets").display())
            } else {
                String::new()
            }
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// operators
// ---------------------------------------------------------------------------------------

/// The cache parameters `Fmm::build` uses for Laplace at order P in precision T.
fn cache_params<const D: usize, T: Real>(order: usize) -> CacheParams
where
    Laplace: Kernel<D>,
{
    let prm = OperatorParams::defaults(order, T::EPSILON.to_f64());
    oxifmm::fmm::cache_params::<Laplace, D, T>(order, &prm)
}

/// Builds a small FMM at order P so that its operators are computed (or loaded) into the
/// cache; returns the cache note, the cache file and the time taken.
fn precompute<const P: usize, const D: usize, T: Real>(
    mode: &CacheMode,
) -> Result<(String, Option<PathBuf>, Duration), Fail>
where
    Laplace: Kernel<D>,
    Expansion<P, D>: SupportedOrder,
{
    let pts = generate::<T, D>(Distribution::Uniform, 512, 1);
    let fmm = Fmm::<Laplace, P, D, T>::builder()
        .sources(&pts)
        .max_points_per_leaf(64)
        .cache(mode.clone())
        .build()?;
    let r = fmm.build_report();
    if r.cache.contains("cache unusable") {
        // The library fell back to memory; for this command the cache file is the output.
        let why = r.cache.split("unusable: ").nth(1).unwrap_or(&r.cache);
        return Err(Fail::Output(format!(
            "cannot write the operator cache: {why}"
        )));
    }
    let path = match (mode, <Laplace as Kernel<D>>::HOMOGENEOUS_DEGREE) {
        (CacheMode::Off, _) | (_, None) => None,
        (CacheMode::Dir(d), _) => Some(d.join(cache_params::<D, T>(P).file_name())),
        (CacheMode::Default, _) => {
            Some(oxifmm::cache::default_cache_dir().join(cache_params::<D, T>(P).file_name()))
        }
    };
    Ok((r.cache.clone(), path, r.operators))
}

fn cmd_operators(a: &OperatorsArgs, ui: &Ui) -> Result<(), Fail> {
    let dir = a
        .cache_dir
        .clone()
        .unwrap_or_else(oxifmm::cache::default_cache_dir);
    if let Some(h5) = &a.import {
        return import(h5, &dir, ui);
    }
    if a.dim != 3 {
        return Err(Fail::Usage(
            "only 3D operators are cached (2D Laplace is not homogeneous: its operators are \
             computed per tree level in every run)"
                .into(),
        ));
    }
    let order = a.order.expect("clap requires --order without --import");
    #[cfg(not(feature = "hdf5"))]
    if let Some(e) = &a.export {
        return Err(Fail::Usage(format!(
            "--export {}: HDF5 needs oxifmm built with `--features hdf5`",
            e.display()
        )));
    }
    let pb = ui.spinner(format!(
        "operators: Laplace 3D, order {order}, {}",
        if a.precision == Prec::F64 {
            "f64"
        } else {
            "f32"
        }
    ));
    let mode = CacheMode::Dir(dir.clone());
    let (note, path, took) = dispatch!(3usize, a.precision, order, precompute, (&mode))?;
    pb.finish_and_clear();
    let path = path.expect("3D Laplace operators are cached");
    ui.say(format!(
        "operators: {note} ({:.3} s)\ncache file: {}",
        took.as_secs_f64(),
        path.display()
    ));
    #[cfg(feature = "hdf5")]
    if let Some(h5) = &a.export {
        let params = match a.precision {
            Prec::F64 => cache_params::<3, f64>(order),
            Prec::F32 => cache_params::<3, f32>(order),
        };
        let cache = OperatorCache::open(&path, &params)?;
        oxifmm::cache::export_hdf5(&cache, h5).map_err(|e| Fail::Output(e.to_string()))?;
        ui.say(format!("exported to {}", h5.display()));
    }
    #[cfg(not(feature = "hdf5"))]
    let _ = (OperatorCache::open, &a.export);
    Ok(())
}

#[cfg(feature = "hdf5")]
fn import(h5: &Path, dir: &Path, ui: &Ui) -> Result<(), Fail> {
    if !h5.exists() {
        return Err(Fail::Input(format!(
            "bad input {}: no such file",
            h5.display()
        )));
    }
    std::fs::create_dir_all(dir)
        .map_err(|e| Fail::Output(format!("cannot create {}: {e}", dir.display())))?;
    let tmp = dir.join(format!(".import-{}.oxc", std::process::id()));
    let cache = oxifmm::cache::import_hdf5(h5, &tmp).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        match e {
            Error::Hdf5 { .. } => Fail::Input(e.to_string()),
            other => Fail::from(other),
        }
    })?;
    let params = cache.params().clone();
    drop(cache);
    let dest = dir.join(params.file_name());
    std::fs::rename(&tmp, &dest).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Fail::Output(format!("cannot write {}: {e}", dest.display()))
    })?;
    ui.say(format!(
        "imported {} ({} {}D order {} {})\ncache file: {}",
        h5.display(),
        params.kernel,
        params.dim,
        params.order,
        params.precision,
        dest.display()
    ));
    Ok(())
}

#[cfg(not(feature = "hdf5"))]
fn import(h5: &Path, _dir: &Path, _ui: &Ui) -> Result<(), Fail> {
    Err(Fail::Usage(format!(
        "--import {}: HDF5 needs oxifmm built with `--features hdf5`",
        h5.display()
    )))
}

// ---------------------------------------------------------------------------------------
// run
// ---------------------------------------------------------------------------------------

fn evaluate<const P: usize, const D: usize, T: Real>(
    p: &Problem,
    a: &RunArgs,
    ui: &Ui,
) -> Result<Results, Fail>
where
    Laplace: Kernel<D>,
    Expansion<P, D>: SupportedOrder,
{
    let sources = to_points::<T, D>(&p.sources);
    let targets = p.targets.as_deref().map(to_points::<T, D>);
    let q: Vec<T> = p.charges.iter().map(|&x| T::from_f64(x)).collect();
    ui.say(format!(
        "oxifmm: Laplace {D}D, {} sources, {} targets, order {P}, {}, leaf {}, gradients {}, \
         threads {}",
        p.n_sources(),
        p.n_targets(),
        T::PRECISION.name(),
        a.leaf,
        a.gradients,
        rayon::current_num_threads()
    ));
    let pb = ui.spinner("building tree, lists, operators, task graph");
    let mut b = Fmm::<Laplace, P, D, T>::builder()
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
    Ok(Results {
        dim: D,
        dtype: match T::PRECISION {
            oxifmm::Precision::F32 => Dtype::F32,
            oxifmm::Precision::F64 => Dtype::F64,
        },
        potentials: out.potentials.iter().map(|x| x.to_f64()).collect(),
        gradients: a.gradients.then(|| {
            out.gradients
                .iter()
                .flat_map(|g| g.iter().map(|x| x.to_f64()))
                .collect()
        }),
    })
}

fn cmd_run(a: &RunArgs, ui: &Ui) -> Result<(), Fail> {
    if a.leaf == 0 {
        return Err(Fail::Usage("--leaf must be at least 1".into()));
    }
    init_threads(a.threads)?;
    let pb = ui.spinner(format!("reading {}", a.input.display()));
    let problem = io::read_problem(&a.input, a.targets.as_deref())?;
    pb.finish_and_clear();
    let prec = a
        .precision
        .unwrap_or_else(|| Prec::from_dtype(problem.dtype));
    let results = dispatch!(problem.dim, prec, a.order, evaluate, (&problem, a, ui))?;
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

// ---------------------------------------------------------------------------------------
// bench-report
// ---------------------------------------------------------------------------------------

/// Resets the process's peak resident set size (Linux: `echo 5 > /proc/self/clear_refs`).
fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// Peak resident set size (VmHWM) in bytes, on Linux.
fn peak_rss() -> Option<u64> {
    status_kb("VmHWM:")
}

/// Current resident set size (VmRSS) in bytes, on Linux.
fn rss() -> Option<u64> {
    status_kb("VmRSS:")
}

fn status_kb(key: &str) -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with(key))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

fn mib(b: u64) -> f64 {
    b as f64 / (1u64 << 20) as f64
}

/// One row of the parameter table.
struct Row {
    n: usize,
    dist: &'static str,
    precision: &'static str,
    order: usize,
    leaf: usize,
    build: f64,
    eval: f64,
    error: f64,
    peak_rss: Option<u64>,
    fmm_bytes: usize,
    ops: Vec<(&'static str, Duration)>,
}

/// Builds and evaluates one setting; the error is the relative L2 error of the potential
/// against the direct sum (f64) at `samples` evenly spaced targets.
fn bench_case<const P: usize, T: Real>(
    n: usize,
    dist: Distribution,
    leaf: usize,
    samples: usize,
    cache: &CacheMode,
) -> Result<Row, Fail>
where
    Expansion<P, 3>: SupportedOrder,
{
    let rss_reset = reset_peak_rss();
    let base = rss();
    let pts = generate::<T, 3>(dist, n, 42);
    let q = charges::<T>(n, 43);
    let t0 = Instant::now();
    let fmm = Fmm::<Laplace, P, 3, T>::builder()
        .sources(&pts)
        .max_points_per_leaf(leaf)
        .cache(cache.clone())
        .build()?;
    let build = t0.elapsed().as_secs_f64();
    let t0 = Instant::now();
    let out = fmm.evaluate(&q)?;
    let eval = t0.elapsed().as_secs_f64();
    let ops = fmm.last_report().map(|r| r.operators).unwrap_or_default();
    let br = fmm.build_report();
    let fmm_bytes = br.tree_bytes + br.lists_bytes + br.operator_bytes + br.workspace_bytes;
    let peak = match (rss_reset, base, peak_rss()) {
        (true, Some(b), Some(p)) => Some(p.saturating_sub(b)),
        _ => None,
    };
    drop(fmm);
    let m = samples.min(n).max(1);
    let stride = n / m;
    let idx: Vec<usize> = (0..m).map(|i| i * stride).collect();
    let src: Vec<[f64; 3]> = pts.iter().map(|p| p.map(|x| x.to_f64())).collect();
    let q64: Vec<f64> = q.iter().map(|x| x.to_f64()).collect();
    let tgt: Vec<[f64; 3]> = idx.iter().map(|&i| src[i]).collect();
    let exact = oxifmm::direct::<Laplace, 3, f64>(&src, &q64, &tgt, false)?;
    let (num, den) = idx.iter().zip(&exact).fold((0.0, 0.0), |(n, d), (&i, &e)| {
        (n + (out.potentials[i].to_f64() - e).powi(2), d + e * e)
    });
    Ok(Row {
        n,
        dist: match dist {
            Distribution::Uniform => "uniform",
            Distribution::Sphere => "sphere",
            Distribution::Clusters => "clusters",
        },
        precision: T::PRECISION.name(),
        order: P,
        leaf,
        build,
        eval,
        error: (num / den).sqrt(),
        peak_rss: peak,
        fmm_bytes,
        ops,
    })
}

/// Operator precomputation (fresh cache dir: computed and saved) and reload (mmap) times.
fn bench_precompute<const P: usize, T: Real>(dir: &Path) -> Result<(f64, f64), Fail>
where
    Expansion<P, 3>: SupportedOrder,
{
    let mode = CacheMode::Dir(dir.to_path_buf());
    let (_, _, computed) = precompute::<P, 3, T>(&mode)?;
    let (_, _, loaded) = precompute::<P, 3, T>(&mode)?;
    Ok((computed.as_secs_f64(), loaded.as_secs_f64()))
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

fn operators_svg(path: &Path, title: &str, ops: &[(&'static str, Duration)]) -> Result<(), Fail> {
    use plotters::prelude::*;
    use plotters::style::text_anchor::{HPos, Pos, VPos};
    let fail = |e: String| Fail::Output(format!("cannot write {}: {e}", path.display()));
    let tmp = path.with_file_name(format!(".operators.{}.svg.tmp", std::process::id()));
    let ms: Vec<f64> = ops.iter().map(|o| o.1.as_secs_f64() * 1e3).collect();
    let top = ms.iter().copied().fold(0.0, f64::max).max(1e-3) * 1.15;
    let names: Vec<&str> = ops.iter().map(|o| o.0).collect();
    let draw = || -> Result<(), Box<dyn std::error::Error>> {
        let root = SVGBackend::new(&tmp, (800, 500)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 20))
            .margin(15)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d((0..ops.len() - 1).into_segmented(), 0.0..top)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .y_desc("CPU time summed over threads (ms)")
            .x_desc("operator")
            .x_labels(ops.len())
            .x_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => {
                    names.get(*i).copied().unwrap_or("").to_string()
                }
                SegmentValue::Last => String::new(),
            })
            .draw()?;
        chart.draw_series(
            Histogram::vertical(&chart)
                .style(BLUE.mix(0.7).filled())
                .margin(12)
                .data(ms.iter().enumerate().map(|(i, &v)| (i, v))),
        )?;
        chart.draw_series(ms.iter().enumerate().map(|(i, &v)| {
            Text::new(
                format!("{v:.1}"),
                (SegmentValue::CenterOf(i), v + top * 0.01),
                TextStyle::from(("sans-serif", 14).into_font())
                    .pos(Pos::new(HPos::Center, VPos::Bottom)),
            )
        }))?;
        root.present()?;
        Ok(())
    };
    if let Err(e) = draw() {
        let _ = std::fs::remove_file(&tmp);
        return Err(fail(e.to_string()));
    }
    std::fs::rename(&tmp, path).map_err(|e| fail(e.to_string()))
}

fn cmd_bench(a: &BenchArgs, ui: &Ui) -> Result<(), Fail> {
    use std::fmt::Write;
    init_threads(a.threads)?;
    std::fs::create_dir_all(&a.out_dir)
        .map_err(|e| Fail::Output(format!("cannot create {}: {e}", a.out_dir.display())))?;
    let report_path = a.out_dir.join("report.md");
    let svg_path = a.out_dir.join("operators.svg");
    let cache_dir = std::env::temp_dir().join(format!("oxifmm-bench-cache-{}", std::process::id()));
    // Removed at the end, also on failure.
    struct RmDir(PathBuf);
    impl Drop for RmDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    let _rm = RmDir(cache_dir.clone());
    let cache = CacheMode::Dir(cache_dir.clone());
    let started = Instant::now();
    let (sizes, chart_n, tree_n, samples) = if a.quick {
        (
            vec![10_000, 50_000],
            50_000,
            100_000,
            a.samples.unwrap_or(200),
        )
    } else {
        (
            vec![100_000, 1_000_000],
            200_000,
            1_000_000,
            a.samples.unwrap_or(1000),
        )
    };
    let threads = rayon::current_num_threads();
    let mut md = String::new();
    let _ = writeln!(md, "# oxifmm benchmark report\n");
    let _ = writeln!(
        md,
        "Laplace 3D. Machine: {}, {} rayon threads. Command: `{}`.{}\n",
        cpu_model(),
        threads,
        std::env::args().collect::<Vec<_>>().join(" "),
        if a.quick {
            " **Quick mode: small sizes.**"
        } else {
            ""
        }
    );

    // (c) first: operator precomputation into a fresh cache directory, which (a) and (b)
    // then load from.
    let pb = ui.spinner("precomputing operators (p=6 f64, p=4 f32)");
    let (c6, l6) = bench_precompute::<6, f64>(&cache_dir)?;
    let (c4, l4) = bench_precompute::<4, f32>(&cache_dir)?;
    pb.set_message(format!(
        "tree construction and Morton encoding, N = {tree_n}"
    ));
    let mut tree_rows = Vec::new();
    for (name, dist) in [
        ("uniform", Distribution::Uniform),
        ("sphere", Distribution::Sphere),
    ] {
        let pts = generate::<f64, 3>(dist, tree_n, 42);
        let domain = oxifmm::Domain::from_points(&[&pts])?;
        let mut codes = Vec::new();
        let enc = oxifmm::bench_support::best_secs(3, || {
            codes = oxifmm::morton::encode_points(&domain, &pts)
        });
        std::hint::black_box(&codes);
        let mut leaves = 0;
        let opts = oxifmm::TreeOptions::adaptive(150, 16);
        let mut err = None;
        let tree = oxifmm::bench_support::best_secs(3, || {
            match oxifmm::LinearTree::build(&pts, None, &opts) {
                Ok(t) => leaves = t.leaves.len(),
                Err(e) => err = Some(e),
            }
        });
        if let Some(e) = err {
            return Err(e.into());
        }
        tree_rows.push((name, enc, tree, leaves));
    }
    pb.finish_and_clear();

    // (a) operator times for one benchmark problem.
    let pb = ui.spinner(format!("operator times: N = {chart_n} uniform, p = 6, f64"));
    // The first evaluation after build touches fresh memory; time the second.
    let chart = {
        let pts = generate::<f64, 3>(Distribution::Uniform, chart_n, 42);
        let q = charges::<f64>(chart_n, 43);
        let fmm = Fmm::<Laplace, 6, 3, f64>::builder()
            .sources(&pts)
            .max_points_per_leaf(150)
            .cache(cache.clone())
            .build()?;
        fmm.evaluate(&q)?;
        fmm.evaluate(&q)?;
        fmm.last_report().unwrap_or_default()
    };
    pb.finish_and_clear();
    let title =
        format!("oxifmm operator times: N = {chart_n} uniform, p = 6, f64, {threads} threads");
    operators_svg(&svg_path, &title, &chart.operators)?;
    let _ = writeln!(
        md,
        "## (a) Operator times\n\n{chart_n} uniform points, order 6, f64, leaf 150, {threads} \
         threads; second evaluation, wall {:.3} s (sort in/out {:.3} s). Times are CPU time \
         summed over threads.\n\n![operator times](operators.svg)\n\n| operator | ms (cpu) | share |\n|---|---:|---:|",
        chart.wall.as_secs_f64(),
        chart.sort.as_secs_f64()
    );
    let total: f64 = chart.operators.iter().map(|o| o.1.as_secs_f64()).sum();
    for (name, d) in &chart.operators {
        let _ = writeln!(
            md,
            "| {name} | {:.1} | {:.1} % |",
            d.as_secs_f64() * 1e3,
            100.0 * d.as_secs_f64() / total.max(1e-12)
        );
    }

    // (b) parameter table.
    let settings: Vec<(usize, Distribution, Prec)> = sizes
        .iter()
        .flat_map(|&n| {
            [Distribution::Uniform, Distribution::Sphere]
                .into_iter()
                .flat_map(move |d| [Prec::F64, Prec::F32].map(|p| (n, d, p)))
        })
        .collect();
    let pb = ui.bar(settings.len() as u64);
    let mut rows = Vec::new();
    for &(n, dist, prec) in &settings {
        pb.set_message(format!("N = {n} {dist:?} {prec:?}"));
        let row = match prec {
            Prec::F64 => bench_case::<6, f64>(n, dist, 150, samples, &cache)?,
            Prec::F32 => bench_case::<4, f32>(n, dist, 150, samples, &cache)?,
        };
        rows.push(row);
        pb.inc(1);
    }
    pb.finish_and_clear();
    let _ = writeln!(
        md,
        "\n## (b) Accuracy, memory and runtime\n\nRelative L2 error of the potential against the \
         direct sum (f64) at {samples} evenly spaced targets; charges uniform in [-1, 1]. Peak \
         RSS is the growth of the process's VmHWM over its resident size at the start of the \
         setting (reset with `/proc/self/clear_refs`): points, charges, FMM and results; \
         \"FMM MiB\" is what `build_report()` counts (tree, lists, operators, workspace). \
         Build includes loading operators from the cache.\n\n\
         | N | distribution | precision | order | leaf | build (s) | evaluate (s) | rel. L2 error | peak RSS growth (MiB) | FMM (MiB) | M2L share | P2P share |\n\
         |---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for r in &rows {
        let tot: f64 = r
            .ops
            .iter()
            .map(|o| o.1.as_secs_f64())
            .sum::<f64>()
            .max(1e-12);
        let share = |name: &str| {
            r.ops
                .iter()
                .find(|o| o.0 == name)
                .map_or(0.0, |o| 100.0 * o.1.as_secs_f64() / tot)
        };
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {:.3} | {:.3} | {:.2e} | {} | {:.1} | {:.0} % | {:.0} % |",
            r.n,
            r.dist,
            r.precision,
            r.order,
            r.leaf,
            r.build,
            r.eval,
            r.error,
            r.peak_rss
                .map_or("n/a".to_string(), |b| format!("{:.0}", mib(b))),
            mib(r.fmm_bytes as u64),
            share("M2L"),
            share("P2P"),
        );
    }

    let _ = writeln!(
        md,
        "\n## (c) Precomputation, tree construction, Morton encoding\n\n\
         Operators (Laplace 3D) computed into an empty cache directory and saved, then loaded \
         again (memory-mapped, checksummed):\n\n\
         | setting | compute + save (s) | load (s) |\n|---|---:|---:|\n\
         | p = 6, f64 | {c6:.3} | {l6:.4} |\n| p = 4, f32 | {c4:.3} | {l4:.4} |\n\n\
         Tree construction (adaptive, 150 points per leaf, 2:1 balanced, sources = targets) \
         and Morton encoding of {tree_n} points, f64, best of 3:\n\n\
         | distribution | Morton encode (ms) | M points/s | tree build (ms) | leaves |\n|---|---:|---:|---:|---:|"
    );
    for (name, enc, tree, leaves) in &tree_rows {
        let _ = writeln!(
            md,
            "| {name} | {:.2} | {:.1} | {:.1} | {leaves} |",
            enc * 1e3,
            tree_n as f64 / enc / 1e6,
            tree * 1e3
        );
    }
    let _ = writeln!(
        md,
        "\nTotal bench-report time: {:.1} s.",
        started.elapsed().as_secs_f64()
    );
    let tmp = a
        .out_dir
        .join(format!(".report.md.{}.tmp", std::process::id()));
    std::fs::write(&tmp, &md)
        .and_then(|()| std::fs::rename(&tmp, &report_path))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            Fail::Output(format!("cannot write {}: {e}", report_path.display()))
        })?;
    ui.say(&md);
    ui.say(format!(
        "wrote {} and {}",
        report_path.display(),
        svg_path.display()
    ));
    Ok(())
}
