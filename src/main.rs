//! The `repbench` command line: parse, dispatch to the subcommand's `run`
//! (src/cli/), print an error once.
mod cli;

use anyhow::Result;
use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "repbench",
    version,
    about = "Reproducible comparisons of learned and hand-engineered representations"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Run(cli::RunArgs),
    RunCell(cli::RunCellArgs),
    Submit(cli::SubmitArgs),
    Validate(cli::ValidateArgs),
    Plan(cli::PlanArgs),
    Prepare(cli::PrepareArgs),
    Report(cli::ReportArgs),
    Merge(cli::MergeArgs),
    Compare(cli::CompareArgs),
    Cache(cli::CacheArgs),
    Export(cli::ExportArgs),
    Env(cli::EnvArgs),
}

fn run() -> Result<ExitCode> {
    // Before anything starts a thread, so that every libtorch and rayon worker
    // inherits it (src/runtime/denormals.rs).
    repbench::runtime::denormals::init_from_env();
    let cli = Cli::parse();
    repbench::runtime::determinism::fix_thread_counts();
    match cli.command {
        Command::Run(a) => a.run(),
        Command::RunCell(a) => a.run(),
        Command::Submit(a) => a.run(),
        Command::Validate(a) => a.run(),
        Command::Plan(a) => a.run(),
        Command::Prepare(a) => a.run(),
        Command::Report(a) => a.run(),
        Command::Merge(a) => a.run(),
        Command::Compare(a) => a.run(),
        Command::Cache(a) => a.run(),
        Command::Export(a) => a.run(),
        Command::Env(a) => a.run(),
    }
}

/// A closed pipe (`repbench env | head -1`) ends the process quietly, as it does
/// for Unix tools, instead of panicking in `println!`: Rust ignores SIGPIPE by
/// default. repbench writes to no child's pipe (workers get files), so the only
/// pipe this can end on is the reader of its own output.
#[cfg(unix)]
fn die_quietly_on_a_closed_pipe() {
    // SAFETY: restores the default disposition of one signal before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn main() -> ExitCode {
    #[cfg(unix)]
    die_quietly_on_a_closed_pipe();
    match run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
