//! `oxifmm`: the command-line front end of the oxifmm crate (Laplace kernel).
//!
//! Subcommands: `generate` (test data), `operators` (fill the operator cache, HDF5
//! export/import), `run` (evaluate potentials and gradients for a data file), `bench-report`
//! (timings, accuracy and memory over a parameter sweep, as markdown and an SVG chart).
//! File formats are described in the `oxifmm::io` module docs and in `oxifmm --help`.

mod bench_report;
mod cli;
mod generate;
mod operators;
mod run;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use cli::{Ui, after_help};

/// Kernel-independent fast multipole method (Laplace kernel, 2D and 3D) from the command line.
#[derive(Parser, Debug)]
#[command(name = "oxifmm", version, after_help = after_help())]
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
    Generate(generate::GenerateArgs),
    /// Precompute operators into the operator cache; export them to or import them from HDF5.
    Operators(operators::OperatorsArgs),
    /// Evaluate potentials (and gradients) for a data file and write them out.
    Run(run::RunArgs),
    /// Benchmark: operator-time chart, accuracy/memory/runtime table, precomputation timings.
    BenchReport(bench_report::BenchArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Library warnings (an unusable operator cache, say) go through the `log` facade: shown on
    // stderr at `warn` and above, or as `RUST_LOG` says.
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn"))
        .format_target(false)
        .init();
    let ui = Ui { quiet: cli.quiet };
    let r = match cli.cmd {
        Cmd::Generate(a) => generate::cmd_generate(&a, &ui),
        Cmd::Operators(a) => operators::cmd_operators(&a, &ui),
        Cmd::Run(a) => run::cmd_run(&a, &ui),
        Cmd::BenchReport(a) => bench_report::cmd_bench(&a, &ui),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("oxifmm: error: {}", f.message().replace('\n', " "));
            ExitCode::from(f.code())
        }
    }
}
