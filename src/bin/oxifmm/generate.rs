//! `oxifmm generate`: random points and charges as test data.

use std::path::PathBuf;

use clap::Args;
use oxifmm::io::{self, Problem};
use oxifmm::points::{charges, generate};

use crate::cli::{Dist, Fail, Ui};
use oxifmm::Precision;

#[derive(Args, Debug)]
pub struct GenerateArgs {
    /// Number of source points.
    #[arg(long)]
    pub n: usize,
    /// Point distribution.
    #[arg(long, value_enum, default_value = "uniform")]
    pub dist: Dist,
    /// Dimension: 2 or 3.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u8).range(2..=3))]
    pub dim: u8,
    /// Random seed (points use SEED, charges SEED+1, separate targets SEED+2).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Also write this many separate targets (same distribution); default: targets = sources.
    #[arg(long)]
    pub n_targets: Option<usize>,
    /// Element type of the written arrays.
    #[arg(long, value_enum, default_value = "f64")]
    pub precision: Precision,
    /// Complex charges (real and imaginary parts uniform in [-1, 1], the imaginary parts
    /// from seed SEED+3), for the Helmholtz kernel.
    #[arg(long)]
    pub complex: bool,
    /// Output: FILE.h5 (PyExaFMM layout) or a PREFIX for PREFIX.sources.npy and
    /// PREFIX.charges.npy (charges uniform in [-1, 1]).
    #[arg(long)]
    pub out: PathBuf,
}

fn flat<const D: usize>(p: &[[f64; D]]) -> Vec<f64> {
    p.iter().flatten().copied().collect()
}

pub fn cmd_generate(a: &GenerateArgs, ui: &Ui) -> Result<(), Fail> {
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
        dtype: oxifmm::io::Dtype::of_precision(a.precision),
        sources,
        charges: if a.complex {
            let (re, im) = (
                charges::<f64>(a.n, a.seed + 1),
                charges::<f64>(a.n, a.seed + 3),
            );
            re.iter().zip(&im).flat_map(|(&r, &i)| [r, i]).collect()
        } else {
            charges::<f64>(a.n, a.seed + 1)
        },
        complex_charges: a.complex,
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
