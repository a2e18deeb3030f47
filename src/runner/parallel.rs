//! `repbench run --jobs N`: independent units (one representation of one matrix
//! point: fit → embed → evaluations) run in N worker processes, each
//! `repbench run-cell SPEC --unit I` against the shared cache. Processes, not
//! threads: libtorch's random generator is global to a process, and one process
//! per unit is exactly what a Slurm task runs, so the two paths are one design.
//! The per-key cache locks make concurrent workers safe; the final pass in the
//! parent reads their results, computes the cross-representation evaluations
//! and writes the report.
//!
//! CPU threads are split evenly between workers; with several GPUs, worker slot
//! k sees only GPU k mod n (`CUDA_VISIBLE_DEVICES`).
use crate::error::{Error, IoContext, Result};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct PoolConfig {
    pub exe: PathBuf,
    pub spec: PathBuf,
    pub cache: PathBuf,
    /// `--device` passed to the workers, if any.
    pub device: Option<String>,
    pub jobs: usize,
    pub threads_per_worker: usize,
    /// GPUs to spread the workers over (0 or 1: no CUDA_VISIBLE_DEVICES).
    pub gpus: usize,
    /// Worker logs go to `<log_dir>/unit-<i>.log`.
    pub log_dir: PathBuf,
    /// `--seeds` passed to the workers (the parent's override), so that unit
    /// numbers mean the same cells in every process.
    pub seeds: Option<String>,
}

/// The outcome of one worker.
pub struct WorkerResult {
    pub unit: usize,
    pub ok: bool,
    pub log: PathBuf,
}

fn spawn(cfg: &PoolConfig, unit: usize, slot: usize) -> Result<Child> {
    let log = cfg.log_dir.join(format!("unit-{unit}.log"));
    let f = std::fs::File::create(&log).at(&log)?;
    let f2 = f.try_clone().at(&log)?;
    let mut c = Command::new(&cfg.exe);
    c.arg("run-cell")
        .arg(&cfg.spec)
        .args(["--unit", &unit.to_string(), "--threads", &cfg.threads_per_worker.to_string(), "-q"])
        .arg("--cache")
        .arg(&cfg.cache);
    if let Some(d) = &cfg.device {
        c.args(["--device", d]);
    }
    if let Some(s) = &cfg.seeds {
        c.args(["--seeds", s]);
    }
    if cfg.gpus > 1 {
        c.env("CUDA_VISIBLE_DEVICES", (slot % cfg.gpus).to_string());
    }
    c.stdout(Stdio::from(f)).stderr(Stdio::from(f2)).stdin(Stdio::null());
    c.spawn().map_err(|e| Error::io(&cfg.exe, e))
}

/// Runs every unit in `units` with at most `cfg.jobs` workers at a time;
/// `report(done, total, result)` is called as each finishes.
pub fn run_pool(
    cfg: &PoolConfig,
    units: &[usize],
    report: &dyn Fn(usize, usize, &WorkerResult),
) -> Result<Vec<WorkerResult>> {
    std::fs::create_dir_all(&cfg.log_dir).at(&cfg.log_dir)?;
    let mut pending: std::collections::VecDeque<usize> = units.iter().copied().collect();
    // (slot, unit, child)
    let mut running: Vec<(usize, usize, Child)> = Vec::new();
    let mut done = Vec::new();
    let jobs = cfg.jobs.max(1);
    while !pending.is_empty() || !running.is_empty() {
        while running.len() < jobs && !crate::runtime::interrupt::requested() {
            let Some(unit) = pending.pop_front() else { break };
            let slot = (0..jobs).find(|s| !running.iter().any(|r| r.0 == *s)).unwrap_or(0);
            running.push((slot, unit, spawn(cfg, unit, slot)?));
        }
        if crate::runtime::interrupt::requested() {
            pending.clear();
        }
        let mut i = 0;
        while i < running.len() {
            match running[i].2.try_wait().map_err(|e| Error::io(&cfg.exe, e))? {
                Some(status) => {
                    let (_, unit, _) = running.swap_remove(i);
                    let r =
                        WorkerResult { unit, ok: status.success(), log: cfg.log_dir.join(format!("unit-{unit}.log")) };
                    report(done.len() + 1, units.len(), &r);
                    done.push(r);
                }
                None => i += 1,
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(done)
}

/// Threads per worker: the cores (or the suite's `threads`) split evenly.
pub fn threads_per_worker(total: usize, jobs: usize) -> usize {
    (total / jobs.max(1)).max(1)
}

/// The path of this executable (workers run the same binary).
pub fn current_exe() -> Result<PathBuf> {
    std::env::current_exe().map_err(|e| Error::io(Path::new("/proc/self/exe"), e))
}
