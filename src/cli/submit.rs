//! `repbench submit SPEC --slurm`.
use anyhow::Result;
use clap::Args;
use repbench::app::submit::{submit, SubmitRequest};
use repbench::runner::slurm::SlurmOptions;
use std::path::PathBuf;
use std::process::ExitCode;

/// Submit a suite to a cluster scheduler: one array task per unit against the
/// shared cache, then a dependent job that writes the report.
#[derive(Args)]
pub struct SubmitArgs {
    spec: PathBuf,
    /// Use Slurm (sbatch job arrays); the only scheduler so far.
    #[arg(long, required = true)]
    slurm: bool,
    #[arg(long)]
    partition: Option<String>,
    #[arg(long)]
    gpus_per_task: Option<u32>,
    #[arg(long)]
    cpus_per_task: Option<u32>,
    /// Time limit per task, e.g. 4:00:00.
    #[arg(long)]
    time: Option<String>,
    /// At most this many array tasks running at once.
    #[arg(long)]
    max_parallel: Option<u32>,
    /// Extra #SBATCH option, verbatim (repeatable), e.g. --sbatch=--account=abc.
    #[arg(long = "sbatch", allow_hyphen_values = true)]
    sbatch: Vec<String>,
    /// Shared cache folder, visible from every node (default $REPBENCH_CACHE or .repbench/cache, made absolute).
    #[arg(long)]
    cache: Option<PathBuf>,
    /// Run directory for the report and the job scripts/logs (default runs/<suite>).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Largest array (default: MaxArraySize from `scontrol show config`).
    #[arg(long)]
    max_array_size: Option<usize>,
    /// Write and print the scripts without submitting.
    #[arg(long)]
    dry_run: bool,
}

impl SubmitArgs {
    pub fn run(self) -> Result<ExitCode> {
        let options = SlurmOptions {
            partition: self.partition,
            gpus_per_task: self.gpus_per_task,
            cpus_per_task: self.cpus_per_task,
            time: self.time,
            max_parallel: self.max_parallel,
            extra: self.sbatch,
        };
        let r = SubmitRequest {
            spec: self.spec,
            cache: self.cache,
            out: self.out,
            options,
            max_array_size: self.max_array_size,
            dry_run: self.dry_run,
        };
        Ok(super::emit(submit(&r)?))
    }
}
