//! `repbench run` and `repbench run-cell`.
use super::DeviceArg;
use anyhow::Result;
use clap::Args;
use repbench::app::{self, RunOptions};
use std::path::PathBuf;
use std::process::ExitCode;

/// Run suites: fit, embed and evaluate what the cache lacks, then write the report.
#[derive(Args)]
pub struct RunArgs {
    #[arg(required = true)]
    specs: Vec<PathBuf>,
    /// Run directory (default runs/<suite>); with several suites, one folder per suite inside it.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Overrides the suite's `device`.
    #[arg(long, value_enum)]
    device: Option<DeviceArg>,
    /// Recompute every stage, replacing cached entries.
    #[arg(long)]
    force: bool,
    /// Cache folder (default $REPBENCH_CACHE or .repbench/cache).
    #[arg(long)]
    cache: Option<PathBuf>,
    /// No progress output.
    #[arg(long, short)]
    quiet: bool,
    /// Run independent cells in N worker processes (threads split between them;
    /// with several GPUs, one GPU per worker).
    #[arg(long, short, default_value_t = 1)]
    jobs: usize,
    /// Seeds in place of the suite's matrix seeds: `5-9`, `0,2,4`, `0-2,7`
    /// (a seed extension without a copied suite; the manifest records it).
    #[arg(long, value_parser = parse_seeds)]
    seeds: Option<Seeds>,
    /// Compute nothing but cross-representation evaluations; report cells
    /// missing from the cache as failed (the last step after workers).
    #[arg(long)]
    cached_only: bool,
}

impl RunArgs {
    pub fn run(self) -> Result<ExitCode> {
        if self.jobs == 0 {
            anyhow::bail!("--jobs must be at least 1");
        }
        let opts = RunOptions {
            several: self.specs.len() > 1,
            out: self.out,
            device: self.device.map(Into::into),
            force: self.force,
            cache: self.cache,
            quiet: self.quiet,
            command: std::env::args().collect(),
            jobs: self.jobs,
            cached_only: self.cached_only,
            seeds: self.seeds.map(|s| s.0),
        };
        if !self.cached_only && !super::omp_wait::is_set() {
            let mut compute = self.force;
            for spec in &self.specs {
                // A suite that does not plan is reported by the run below.
                compute =
                    compute || app::needs_compute(spec, opts.cache.as_deref(), opts.seeds.as_deref()).unwrap_or(true);
            }
            if compute {
                super::omp_wait::reexec_passive();
            }
        }
        repbench::runtime::interrupt::install();
        let mut failed = false;
        for spec in &self.specs {
            if repbench::runtime::interrupt::requested() {
                break;
            }
            match app::run_suite(spec, &opts) {
                Ok(r) => {
                    let s = spec.display();
                    eprintln!(
                        "{s}: {} cells ({} computed, {} cached, {} failed) in {:.2} s",
                        r.cells, r.computed, r.cached, r.failures, r.seconds
                    );
                    failed |= r.failures > 0;
                    if r.interrupted {
                        eprintln!(
                            "{s}: interrupted; the report covers the cells that finished, a re-run computes the rest"
                        );
                    }
                    println!("{}", r.report.display());
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    failed = true;
                }
            }
        }
        Ok(if repbench::runtime::interrupt::requested() {
            ExitCode::from(130)
        } else if failed {
            ExitCode::from(1)
        } else {
            ExitCode::SUCCESS
        })
    }
}

/// Run one unit of a suite (a representation of one matrix point: fit, embed,
/// evaluations) — what `--jobs` workers and Slurm tasks run.
#[derive(Args)]
pub struct RunCellArgs {
    spec: PathBuf,
    #[arg(long)]
    unit: usize,
    #[arg(long)]
    cache: Option<PathBuf>,
    #[arg(long, value_enum)]
    device: Option<DeviceArg>,
    /// libtorch intra-op threads for this worker.
    #[arg(long)]
    threads: Option<usize>,
    /// The parent run's `--seeds`.
    #[arg(long, value_parser = parse_seeds)]
    seeds: Option<Seeds>,
    #[arg(long)]
    force: bool,
    #[arg(long, short)]
    quiet: bool,
}

impl RunCellArgs {
    pub fn run(self) -> Result<ExitCode> {
        // A worker computes (its parent passes the policy on; a Slurm task may not).
        super::omp_wait::reexec_passive();
        repbench::runtime::interrupt::install();
        let opts = RunOptions {
            cache: self.cache,
            device: self.device.map(Into::into),
            force: self.force,
            quiet: self.quiet,
            seeds: self.seeds.map(|s| s.0),
            ..Default::default()
        };
        let (computed, cached, failed) = app::run_cell(&self.spec, self.unit, &opts, self.threads)?;
        eprintln!("{} unit {}: {computed} computed, {cached} cached, {failed} failed", self.spec.display(), self.unit);
        Ok(if failed > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS })
    }
}

/// A parsed `--seeds` list.
#[derive(Debug, Clone)]
pub struct Seeds(Vec<u64>);

fn parse_seeds(text: &str) -> std::result::Result<Seeds, String> {
    repbench::spec::load::parse_seeds(text).map(Seeds)
}
