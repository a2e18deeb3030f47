//! The subcommands' arguments: one clap `Args` struct per subcommand, each
//! with a `run` that calls the library (`repbench::app`) and writes out what it
//! returns. Errors are printed once, by `main`.
mod cache;
mod export;
mod omp_wait;
mod run;
mod submit;

pub use cache::CacheArgs;
pub use export::ExportArgs;
pub use run::{RunArgs, RunCellArgs};
pub use submit::SubmitArgs;

use anyhow::Result;
use clap::{Args, ValueEnum};
use repbench::app::printed::Printed;
use repbench::spec::DeviceChoice;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Clone, Copy, ValueEnum)]
pub enum DeviceArg {
    Auto,
    Cpu,
    Cuda,
}

impl From<DeviceArg> for DeviceChoice {
    fn from(d: DeviceArg) -> Self {
        match d {
            DeviceArg::Auto => DeviceChoice::Auto,
            DeviceArg::Cpu => DeviceChoice::Cpu,
            DeviceArg::Cuda => DeviceChoice::Cuda,
        }
    }
}

/// Writes a command's output and turns its status into the exit code.
pub fn emit(p: Printed) -> ExitCode {
    print!("{}", p.stdout);
    eprint!("{}", p.stderr);
    ExitCode::from(p.code)
}

/// Check suites without running anything.
#[derive(Args)]
pub struct ValidateArgs {
    #[arg(required = true)]
    specs: Vec<PathBuf>,
}

impl ValidateArgs {
    pub fn run(self) -> Result<ExitCode> {
        let mut ok = true;
        for spec in &self.specs {
            match repbench::app::validate(spec) {
                Ok(msg) => println!("{msg}"),
                Err(e) => {
                    eprintln!("error: {e}");
                    ok = false;
                }
            }
        }
        Ok(if ok { ExitCode::SUCCESS } else { ExitCode::from(2) })
    }
}

/// Show each cell and whether its stages are cached or will run.
#[derive(Args)]
pub struct PlanArgs {
    spec: PathBuf,
    #[arg(long)]
    cache: Option<PathBuf>,
}

impl PlanArgs {
    pub fn run(self) -> Result<ExitCode> {
        for line in repbench::app::plan_lines(&self.spec, self.cache.as_deref())? {
            println!("{line}");
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// Decode the suite's photo datasets into their image stores (what `run`
/// does first), and say what each holds; a cached store is only mapped.
/// Useful before a Slurm submission, so that no worker decodes.
#[derive(Args)]
pub struct PrepareArgs {
    spec: PathBuf,
    #[arg(long)]
    cache: Option<PathBuf>,
}

impl PrepareArgs {
    pub fn run(self) -> Result<ExitCode> {
        for line in repbench::app::prepare(&self.spec, self.cache.as_deref())? {
            println!("{line}");
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// Rebuild a run directory's summary, plots and report from its stored results.
#[derive(Args)]
pub struct ReportArgs {
    run_dir: PathBuf,
}

impl ReportArgs {
    pub fn run(self) -> Result<ExitCode> {
        println!("{}", repbench::report::rebuild(&self.run_dir)?.display());
        Ok(ExitCode::SUCCESS)
    }
}

/// Pool runs of one suite that differ only in their seeds (parts of a seed
/// total run on other machines or days) into one run directory and report.
#[derive(Args)]
pub struct MergeArgs {
    #[arg(required = true, num_args = 2..)]
    run_dirs: Vec<PathBuf>,
    /// Run directory to write (must not be one of the inputs).
    #[arg(long)]
    out: PathBuf,
    /// The suite whose seed list is the plan the parts belong to (default:
    /// the first part's suite); a part with a seed outside it is refused.
    #[arg(long)]
    plan: Option<PathBuf>,
}

impl MergeArgs {
    pub fn run(self) -> Result<ExitCode> {
        let command = std::env::args().collect();
        println!(
            "{}",
            repbench::report::merge::merge(&self.run_dirs, &self.out, command, self.plan.as_deref())?.display()
        );
        Ok(ExitCode::SUCCESS)
    }
}

/// Compare two run directories: per representation × metric, the delta of the
/// means (B − A) with a Welch t-test; writes compare.md and compare.csv.
/// With `--pair A B --evaluation E`: representation A of RUN_A against B of
/// RUN_B (default: RUN_A) on the same test examples, per seed — McNemar's
/// exact test for stored predictions, a paired t for per-image scores, each
/// with the report's paired bootstrap CI; printed, nothing written.
#[derive(Args)]
pub struct CompareArgs {
    run_a: PathBuf,
    /// The second run (with `--pair`: where B is read; default RUN_A).
    run_b: Option<PathBuf>,
    /// Output folder (default: RUN_B/compare).
    #[arg(long, conflicts_with = "pair")]
    out: Option<PathBuf>,
    /// Two representations to compare per test example.
    #[arg(long, num_args = 2, value_names = ["A", "B"], requires = "evaluation")]
    pair: Option<Vec<String>>,
    /// The evaluation whose cells are compared (with `--pair`).
    #[arg(long, requires = "pair")]
    evaluation: Option<String>,
    /// The matrix params group (with `--pair`; default none).
    #[arg(long, default_value = "", requires = "pair")]
    params: String,
    /// Seeds to compare, as in `run --seeds` (with `--pair`; default every seed both have).
    #[arg(long, requires = "pair")]
    seeds: Option<String>,
}

impl CompareArgs {
    pub fn run(self) -> Result<ExitCode> {
        if let (Some(pair), Some(evaluation)) = (&self.pair, &self.evaluation) {
            let run_a = repbench::report::load(&self.run_a)?;
            let run_b = match &self.run_b {
                Some(dir) => repbench::report::load(dir)?,
                None => repbench::report::load(&self.run_a)?,
            };
            let seeds = match &self.seeds {
                Some(text) => repbench::spec::load::parse_seeds(text).map_err(|e| anyhow::anyhow!("--seeds: {e}"))?,
                None => Vec::new(),
            };
            let req = repbench::report::paired::PairRequest {
                evaluation: evaluation.clone(),
                params: self.params.clone(),
                a: pair[0].clone(),
                b: pair[1].clone(),
                seeds,
            };
            for line in repbench::report::paired::compare_pair(&run_a, &run_b, &req)? {
                println!("{evaluation} {line}");
            }
            return Ok(ExitCode::SUCCESS);
        }
        let Some(run_b) = self.run_b else {
            anyhow::bail!("compare needs two run directories, or one with --pair A B --evaluation E");
        };
        let out = self.out.unwrap_or_else(|| run_b.join("compare"));
        println!("{}", repbench::report::compare::write(&out, &self.run_a, &run_b)?.display());
        Ok(ExitCode::SUCCESS)
    }
}

/// Print the environment: versions, commit, libtorch, CUDA, threads.
#[derive(Args)]
pub struct EnvArgs {
    /// As JSON.
    #[arg(long)]
    json: bool,
}

impl EnvArgs {
    pub fn run(self) -> Result<ExitCode> {
        let e = repbench::runtime::environment::collect();
        if self.json {
            println!("{}", serde_json::to_string_pretty(&e)?);
        } else {
            println!(
                "repbench {} (commit {}{})",
                e.repbench_version,
                e.git_commit,
                if e.git_dirty { ", dirty" } else { "" }
            );
            println!("libtorch {} at {}", e.libtorch_version, e.libtorch_lib);
            // The loader's reason (`cuda_note`) is in `--json` and every manifest.
            if e.cuda_available {
                println!("device: cuda:0 ({} device(s))", e.cuda_devices);
            } else {
                println!("device: {}", repbench::runtime::device::CPU_FALLBACK);
            }
            println!("threads: {} torch, {} cpus ({})", e.torch_threads, e.cpus, e.cpu_model);
            println!("openmp wait policy: {}", e.omp_wait_policy.as_deref().unwrap_or("unset (libgomp spins)"));
            println!("os: {}", e.os);
            // Checked on libtorch's own threads, not only read from this one.
            let n = 1 << 22;
            let left = repbench::runtime::denormals::surviving_subnormals(n);
            println!(
                "subnormal floats: {} ({left} of {n} survive a libtorch product)",
                if e.flush_denormals { "flushed to zero (FTZ/DAZ)" } else { "kept (IEEE)" }
            );
        }
        Ok(ExitCode::SUCCESS)
    }
}
