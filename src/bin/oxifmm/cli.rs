//! The command line's shared plumbing: value types of the arguments, failures and their exit
//! codes, progress output, threads, and the one run-time to compile-time order dispatch.

use std::path::PathBuf;
use std::time::Duration;

use clap::ValueEnum;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use oxifmm::io::DataError;
use oxifmm::points::Distribution;
use oxifmm::{CacheMode, Error};

const FORMATS: &str = "\
FILES:
  A name ending in .h5 or .hdf5 is an HDF5 file (needs oxifmm built with --features hdf5) in
  PyExaFMM's experiment layout: particle_data/sources (N,D), particle_data/source_densities
  (N,), particle_data/targets (M,D; optional). `run` writes particle_data/potentials (M,) and
  particle_data/gradients (M,D) into a copy of the input file written to --out.
  Any other name is the PREFIX of a NumPy .npy bundle: PREFIX.sources.npy (N,D),
  PREFIX.charges.npy (N,), optional PREFIX.targets.npy (M,D); `run` writes
  PREFIX.potentials.npy (M,) and PREFIX.gradients.npy (M,D). Arrays are float64 ('<f8') or
  float32 ('<f4'), C order; charges may be complex ('<c16', '<c8'; in HDF5 h5py's compound of
  r and i) and the Helmholtz kernel writes complex potentials and gradients. Outputs are
  written to a temporary file and renamed: a failed run leaves no partial file.

EXIT CODES:
  0 success, 1 computation failure, 2 usage error, 3 bad input file (missing datasets, wrong
  shapes or dtypes, NaN/inf values), 4 output failure (unwritable file or cache directory).";

/// Point distribution.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Dist {
    /// Uniform in the unit cube (square in 2D).
    Uniform,
    /// Uniform on the unit sphere (circle in 2D).
    Sphere,
    /// Ten Gaussian clusters of decreasing width inside the unit cube.
    Clusters,
}

impl Dist {
    pub fn get(self) -> Distribution {
        match self {
            Dist::Uniform => Distribution::Uniform,
            Dist::Sphere => Distribution::Sphere,
            Dist::Clusters => Distribution::Clusters,
        }
    }
}

/// The text after `oxifmm --help`: file formats, exit codes, and the supported orders (from the
/// library's one list).
pub fn after_help() -> String {
    format!(
        "{FORMATS}\n\nORDERS:\n  {} (`--order`).",
        oxifmm::order::SUPPORTED_ORDERS
    )
}

/// A failure, classified by exit code.
pub enum Fail {
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
    pub fn code(&self) -> u8 {
        match self {
            Fail::Compute(_) => 1,
            Fail::Usage(_) => 2,
            Fail::Input(_) => 3,
            Fail::Output(_) => 4,
        }
    }
    pub fn message(&self) -> &str {
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

/// Progress output on stderr and reports on stdout, both silenced by `--quiet`.
pub struct Ui {
    pub quiet: bool,
}

impl Ui {
    /// A spinner on stderr (hidden with --quiet or when stderr is not a terminal).
    pub fn spinner(&self, msg: impl Into<std::borrow::Cow<'static, str>>) -> ProgressBar {
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
    pub fn bar(&self, len: u64) -> ProgressBar {
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
    pub fn say(&self, s: impl std::fmt::Display) {
        if !self.quiet {
            println!("{s}");
        }
    }
}

pub fn init_threads(n: Option<usize>) -> Result<(), Fail> {
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

pub fn cache_mode(dir: &Option<PathBuf>, off: bool) -> CacheMode {
    match (dir, off) {
        (_, true) => CacheMode::Off,
        (Some(d), _) => CacheMode::Dir(d.clone()),
        (None, _) => CacheMode::Default,
    }
}
