//! The `repbench` command line. Each subcommand parses its arguments and calls
//! the library (`repbench::app`); errors are printed here, once.
use anyhow::Result;
use clap::{Parser, Subcommand, ValueEnum};
use repbench::app::{self, RunOptions};
use repbench::spec::DeviceChoice;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "repbench", version, about = "Reproducible comparisons of learned and hand-engineered representations")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum DeviceArg {
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

#[derive(Subcommand)]
enum Command {
    /// Run suites: fit, embed and evaluate what the cache lacks, then write the report.
    Run {
        #[arg(required = true)]
        specs: Vec<PathBuf>,
        /// Run directory (default reports/<suite>); with several suites, one folder per suite inside it.
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
        /// Compute nothing but cross-representation evaluations; report cells
        /// missing from the cache as failed (the last step after workers).
        #[arg(long)]
        cached_only: bool,
    },
    /// Run one unit of a suite (a representation of one matrix point: fit,
    /// embed, evaluations) — what `--jobs` workers and Slurm tasks run.
    RunCell {
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
        #[arg(long)]
        force: bool,
        #[arg(long, short)]
        quiet: bool,
    },
    /// Submit a suite to a cluster scheduler: one array task per unit against
    /// the shared cache, then a dependent job that writes the report.
    Submit {
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
        /// Run directory for the report and the job scripts/logs (default reports/<suite>).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Largest array (default: MaxArraySize from `scontrol show config`).
        #[arg(long)]
        max_array_size: Option<usize>,
        /// Write and print the scripts without submitting.
        #[arg(long)]
        dry_run: bool,
    },
    /// Check suites without running anything.
    Validate {
        #[arg(required = true)]
        specs: Vec<PathBuf>,
    },
    /// Show each cell and whether its stages are cached or will run.
    Plan {
        spec: PathBuf,
        #[arg(long)]
        cache: Option<PathBuf>,
    },
    /// Rebuild a run directory's summary, plots and report from its stored results.
    Report { run_dir: PathBuf },
    /// Compare two run directories: per representation × metric, the delta of
    /// the means (B − A) with a Welch t-test; writes compare.md and compare.csv.
    Compare {
        run_a: PathBuf,
        run_b: PathBuf,
        /// Output folder (default: RUN_B/compare).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Inspect the cache: `ls` lists entries, `verify` re-hashes every artifact.
    Cache {
        #[command(subcommand)]
        action: CacheAction,
        /// Cache folder (default $REPBENCH_CACHE or .repbench/cache).
        #[arg(long, global = true)]
        cache: Option<PathBuf>,
    },
    /// Print the environment: versions, commit, libtorch, CUDA, threads.
    Env {
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum CacheAction {
    /// One line per entry: key, stage, size, age, what it is.
    Ls,
    /// Recompute each artifact's sha256; quarantine entries that do not match.
    Verify,
    /// Delete entries that no given suite or run directory needs (and that are
    /// older than --keep-newer-than), stale temp folders and the quarantine.
    Gc {
        /// Suite files (.yaml) and run directories whose entries to keep.
        #[arg(long = "keep", value_name = "SPEC_OR_RUN_DIR")]
        keep: Vec<PathBuf>,
        /// Also keep every entry younger than this many days.
        #[arg(long, value_name = "DAYS")]
        keep_newer_than: Option<f64>,
        /// Only list what would be deleted.
        #[arg(long)]
        dry_run: bool,
    },
}

fn run() -> Result<ExitCode> {
    let cli = Cli::parse();
    repbench::determinism::fix_thread_counts();
    match cli.command {
        Command::Run { specs, out, device, force, cache, quiet, jobs, cached_only } => {
            if jobs == 0 {
                anyhow::bail!("--jobs must be at least 1");
            }
            let opts = RunOptions {
                several: specs.len() > 1,
                out,
                device: device.map(Into::into),
                force,
                cache,
                quiet,
                command: std::env::args().collect(),
                jobs,
                cached_only,
            };
            repbench::interrupt::install();
            let mut failed = false;
            for spec in &specs {
                if repbench::interrupt::requested() {
                    break;
                }
                match app::run_suite(spec, &opts) {
                    Ok(r) => {
                        eprintln!(
                            "{}: {} cells ({} computed, {} cached, {} failed) in {:.2} s",
                            spec.display(),
                            r.cells,
                            r.computed,
                            r.cached,
                            r.failures,
                            r.seconds
                        );
                        failed |= r.failures > 0;
                        if r.interrupted {
                            eprintln!("{}: interrupted; the report covers the cells that finished, a re-run computes the rest", spec.display());
                        }
                        println!("{}", r.report.display());
                    }
                    Err(e) => {
                        eprintln!("error: {e}");
                        failed = true;
                    }
                }
            }
            Ok(if repbench::interrupt::requested() {
                ExitCode::from(130)
            } else if failed {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::RunCell { spec, unit, cache, device, threads, force, quiet } => {
            repbench::interrupt::install();
            let opts = RunOptions { cache, device: device.map(Into::into), force, quiet, ..Default::default() };
            let (computed, cached, failed) = app::run_cell(&spec, unit, &opts, threads)?;
            eprintln!("{} unit {unit}: {computed} computed, {cached} cached, {failed} failed", spec.display());
            Ok(if failed > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS })
        }
        Command::Submit { spec, slurm: _, partition, gpus_per_task, cpus_per_task, time, max_parallel, sbatch, cache, out, max_array_size, dry_run } => {
            let abs = |p: &std::path::Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
            let cache = abs(&cache.unwrap_or_else(repbench::cache::store::Store::default_root));
            let (plan, _) = app::plan_suite(&spec, Some(&cache))?;
            let suite = plan.loaded.suite.suite.clone();
            let out = abs(&out.unwrap_or_else(|| PathBuf::from("reports").join(&suite)));
            let units = repbench::runner::execute::units(&plan).len();
            let opts = repbench::cluster::SlurmOptions { partition, gpus_per_task, cpus_per_task, time, max_parallel, extra: sbatch };
            let max_array = max_array_size.unwrap_or_else(repbench::cluster::max_array_size);
            let exe = repbench::runner::parallel::current_exe()?;
            let scripts = repbench::cluster::scripts(&exe, &abs(&spec), &cache, &out, &suite, units, max_array, &opts);
            let (paths, ids) = repbench::cluster::submit(&scripts, &out, dry_run)?;
            if dry_run {
                for (p, s) in paths.iter().zip(&scripts) {
                    println!("# {}\n{}", p.display(), s.text);
                }
            } else {
                eprintln!("{}: {units} units in {} array job(s) and a report job: {}", spec.display(), scripts.len() - 1, ids.join(" "));
                println!("{}", out.join("report.md").display());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Validate { specs } => {
            let mut ok = true;
            for spec in &specs {
                match app::validate(spec) {
                    Ok(msg) => println!("{msg}"),
                    Err(e) => {
                        eprintln!("error: {e}");
                        ok = false;
                    }
                }
            }
            Ok(if ok { ExitCode::SUCCESS } else { ExitCode::from(2) })
        }
        Command::Plan { spec, cache } => {
            for line in app::plan_lines(&spec, cache.as_deref())? {
                println!("{line}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Report { run_dir } => {
            println!("{}", repbench::report::rebuild(&run_dir)?.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Compare { run_a, run_b, out } => {
            let out = out.unwrap_or_else(|| run_b.join("compare"));
            println!("{}", repbench::report::compare::write(&out, &run_a, &run_b)?.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Cache { action, cache } => {
            let root = cache.unwrap_or_else(repbench::cache::store::Store::default_root);
            let store = repbench::cache::store::Store::open(&root)?;
            match action {
                CacheAction::Ls => {
                    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
                    let entries = repbench::cache::inspect::list(&store)?;
                    let total: u64 = entries.iter().map(|e| e.bytes).sum();
                    for e in &entries {
                        let suite = e.meta.info.get("suite").and_then(|v| v.as_str()).unwrap_or("?");
                        let what = ["representation", "evaluation"]
                            .iter()
                            .filter_map(|k| e.meta.info.get(*k).and_then(|v| v.as_str()))
                            .collect::<Vec<_>>()
                            .join("/");
                        println!("{}  {:<5}  {:>10}  {:>8}  {:<20}  {}", e.meta.key.short(), e.meta.stage, e.bytes, age(now.saturating_sub(e.meta.created_unix)), suite, what);
                    }
                    println!("{} entries, {} bytes in {}", entries.len(), total, root.display());
                    Ok(ExitCode::SUCCESS)
                }
                CacheAction::Gc { keep, keep_newer_than, dry_run } => {
                    if keep.is_empty() && keep_newer_than.is_none() {
                        anyhow::bail!("cache gc needs --keep SPEC_OR_RUN_DIR and/or --keep-newer-than DAYS (refusing to delete everything)");
                    }
                    if let Some(d) = keep_newer_than {
                        if !(d >= 0.0 && d.is_finite()) {
                            anyhow::bail!("--keep-newer-than: {d} is not a number of days ≥ 0");
                        }
                    }
                    let roots = app::gc_roots(&keep, Some(&root))?;
                    let age = keep_newer_than.map(|d| std::time::Duration::from_secs_f64(d * 86400.0));
                    let r = repbench::cache::gc::gc(&store, &roots, age, dry_run)?;
                    let verb = if dry_run { "would delete" } else { "deleted" };
                    for (k, stage, bytes) in &r.removed {
                        println!("{verb} {}  {stage:<5}  {bytes:>10}", &k[..12]);
                    }
                    for p in &r.other {
                        println!("{verb} {}", p.display());
                    }
                    println!("{} entries kept ({} bytes); {verb} {} entries ({} bytes) and {} other folders", r.kept, r.kept_bytes, r.removed.len(), r.removed_bytes(), r.other.len());
                    Ok(ExitCode::SUCCESS)
                }
                CacheAction::Verify => {
                    let v = repbench::cache::inspect::verify(&store)?;
                    for (k, p) in &v.corrupt {
                        println!("corrupt {k}: {p} (quarantined)");
                    }
                    println!("{} entries, {} files checked, {} corrupt", v.checked, v.files, v.corrupt.len());
                    Ok(if v.corrupt.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
                }
            }
        }
        Command::Env { json } => {
            let e = repbench::environment::collect();
            if json {
                println!("{}", serde_json::to_string_pretty(&e)?);
            } else {
                println!("repbench {} (commit {}{})", e.repbench_version, e.git_commit, if e.git_dirty { ", dirty" } else { "" });
                println!("libtorch {} at {}", e.libtorch_version, e.libtorch_lib);
                println!("cuda available: {} ({} devices; {})", e.cuda_available, e.cuda_devices, e.cuda_note);
                println!("threads: {} torch, {} cpus ({})", e.torch_threads, e.cpus, e.cpu_model);
                println!("os: {}", e.os);
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// A duration in seconds as `42s`, `17m`, `5h` or `3d`.
fn age(s: u64) -> String {
    match s {
        0..=119 => format!("{s}s"),
        120..=7199 => format!("{}m", s / 60),
        7200..=172_799 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86400),
    }
}
