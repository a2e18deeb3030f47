//! Running a suite's cells in worker processes: `repbench run --jobs N` starts
//! `repbench run-cell` for each unit the cache lacks, and `run_cell` is what one
//! worker (local or a Slurm task) does.
use super::{plan_suite_seeds, RunOptions};
use crate::cache::store::Store;
use crate::error::Result;
use crate::runner::plan::SuitePlan;
use crate::runner::progress::Progress;
use crate::runner::stages::StageCtx;
use std::path::Path;

/// The units with an evaluation the cache lacks (every unit with `force`).
fn units_to_compute(plan: &SuitePlan, store: &Store, force: bool) -> Vec<usize> {
    let missing = |pi: usize, ri: usize| {
        plan.points[pi].reps[ri].evals.iter().any(|e| store.get(&e.key).ok().flatten().is_none())
    };
    let all = crate::runner::execute::units(plan);
    all.iter().enumerate().filter(|(_, &(pi, ri))| force || missing(pi, ri)).map(|(i, _)| i).collect()
}

/// Runs the suite's units that are not fully cached in `opts.jobs` worker
/// processes (`repbench run-cell`), logging to `<run dir>/logs/`.
pub(super) fn run_workers(
    spec: &Path,
    plan: &SuitePlan,
    store: &Store,
    opts: &RunOptions,
    device: tch::Device,
    dir: &Path,
) -> Result<()> {
    use crate::runner::{execute, parallel};
    let all = execute::units(plan);
    let todo = units_to_compute(plan, store, opts.force);
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let jobs = opts.jobs.min(todo.len().max(1));
    // A suite's `threads` is per cell whatever the number of workers, so
    // results stay bit-identical across --jobs settings; otherwise the cores
    // are split between the workers.
    let threads = plan.loaded.suite.threads.unwrap_or_else(|| parallel::threads_per_worker(cores, jobs));
    let cfg = parallel::PoolConfig {
        exe: parallel::current_exe()?,
        spec: spec.to_path_buf(),
        cache: store.root.clone(),
        device: opts.device.map(|d| format!("{d:?}").to_lowercase()),
        jobs,
        threads_per_worker: threads,
        gpus: if device.is_cuda() { tch::Cuda::device_count().max(0) as usize } else { 0 },
        log_dir: dir.join("logs"),
        seeds: opts.seeds.as_ref().map(|s| s.iter().map(u64::to_string).collect::<Vec<_>>().join(",")),
    };
    if !opts.quiet {
        eprintln!(
            "{} of {} units to compute with {} workers × {} threads{}",
            todo.len(),
            all.len(),
            cfg.jobs,
            cfg.threads_per_worker,
            if cfg.gpus > 1 { format!(" over {} GPUs", cfg.gpus) } else { String::new() }
        );
    }
    let quiet = opts.quiet;
    let describe = |u: usize| {
        let (pi, ri) = all[u];
        plan.points[pi].label(&plan.points[pi].reps[ri].name)
    };
    let results = parallel::run_pool(&cfg, &todo, &|k, n, r| {
        if !quiet || !r.ok {
            eprintln!(
                "[{k}/{n}] unit {} ({}): {} (log {})",
                r.unit,
                describe(r.unit),
                if r.ok { "done" } else { "FAILED" },
                r.log.display()
            );
        }
    })?;
    let failed = results.iter().filter(|r| !r.ok).count();
    if failed > 0 {
        eprintln!("{failed} worker(s) failed; their cells are listed as failures in the report");
    }
    Ok(())
}

/// `repbench run-cell SPEC --unit I`: one unit (a representation of a matrix
/// point: fit, embed, evaluations), as a parallel or Slurm worker runs it.
/// Returns (computed, cached, failed) cells.
pub fn run_cell(spec: &Path, unit: usize, opts: &RunOptions, threads: Option<usize>) -> Result<(usize, usize, usize)> {
    let (plan, store) = plan_suite_seeds(spec, opts.cache.as_deref(), opts.seeds.as_deref())?;
    let (device, _) = crate::runtime::setup(&plan.loaded.suite.run_settings(), opts.device, threads)?;
    let (pi, ri) = *crate::runner::execute::units(&plan)
        .get(unit)
        .ok_or_else(|| crate::error::Error::stage(format!("unit {unit} does not exist in {}", spec.display())))?;
    let progress = Progress::new(plan.points[pi].reps[ri].evals.len() as u64, opts.quiet);
    let log = |line: &str| progress.line(line);
    let ctx = StageCtx { store: &store, device, force: opts.force, cached_only: false, log: &log };
    let out = crate::runner::execute::run_unit(&plan, &ctx, &progress, unit)?;
    progress.finish();
    if out.interrupted {
        return Err(crate::error::Error::Interrupted);
    }
    Ok((out.computed_cells, out.cached_cells, out.failures.len()))
}
