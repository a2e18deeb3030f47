//! `repbench submit SPEC --slurm`: the suite's units as Slurm job arrays.
//!
//! repbench does not schedule anything itself. Task i of an array runs
//! `repbench run-cell SPEC --unit OFFSET+i` (one representation of one matrix
//! point: fit → embed → evaluations, in stage order) against the shared cache;
//! a last job, dependent on all arrays (`afterany`, so it runs even when some
//! task failed), runs `repbench run SPEC --cached-only`, which computes the
//! cross-representation evaluations and writes the report, listing units that
//! did not finish as failures.
//!
//! Arrays are split at the cluster's MaxArraySize. Tasks are `--requeue`-able:
//! training checkpoints every epoch into the cache, so a pre-empted or
//! timed-out task that is requeued resumes from its last finished epoch; Slurm's
//! SIGTERM before the kill makes repbench stop at the next step.
use crate::error::{Error, IoContext, Result};
use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Debug, Clone, Default)]
pub struct SlurmOptions {
    pub partition: Option<String>,
    pub gpus_per_task: Option<u32>,
    pub cpus_per_task: Option<u32>,
    /// Time limit per task (`--time`, e.g. `4:00:00`).
    pub time: Option<String>,
    /// At most this many array tasks at once (`%K`).
    pub max_parallel: Option<u32>,
    /// Extra `#SBATCH` lines, verbatim (e.g. `--account=abc`).
    pub extra: Vec<String>,
}

/// A job script and the array it covers (None for the report job).
pub struct Script {
    pub name: String,
    pub text: String,
    pub array: Option<(usize, usize)>,
}

fn quote(p: &Path) -> String {
    let s = p.display().to_string();
    format!("'{}'", s.replace('\'', "'\\''"))
}

fn header(o: &mut String, job: &str, opts: &SlurmOptions, log: &Path) {
    let _ = writeln!(o, "#!/bin/bash");
    let _ = writeln!(o, "#SBATCH --job-name={job}");
    let _ = writeln!(o, "#SBATCH --output={}", log.display());
    if let Some(p) = &opts.partition {
        let _ = writeln!(o, "#SBATCH --partition={p}");
    }
    if let Some(t) = &opts.time {
        let _ = writeln!(o, "#SBATCH --time={t}");
    }
    for e in &opts.extra {
        let _ = writeln!(o, "#SBATCH {e}");
    }
}

/// Builds the array scripts (chunks of at most `max_array` tasks) and the report script.
#[allow(clippy::too_many_arguments)]
pub fn scripts(
    exe: &Path,
    spec: &Path,
    cache: &Path,
    out: &Path,
    suite: &str,
    units: usize,
    max_array: usize,
    opts: &SlurmOptions,
) -> Vec<Script> {
    let mut v = Vec::new();
    let logs = out.join("slurm");
    let chunk = max_array.max(1);
    for (k, start) in (0..units).step_by(chunk).enumerate() {
        let n = chunk.min(units - start);
        let mut o = String::new();
        header(&mut o, &format!("repbench-{suite}-units{k}"), opts, &logs.join("unit-%A_%a.log"));
        let par = opts.max_parallel.map(|p| format!("%{p}")).unwrap_or_default();
        let _ = writeln!(o, "#SBATCH --array=0-{}{par}", n - 1);
        let _ = writeln!(o, "#SBATCH --ntasks=1");
        if let Some(c) = opts.cpus_per_task {
            let _ = writeln!(o, "#SBATCH --cpus-per-task={c}");
        }
        if let Some(g) = opts.gpus_per_task.filter(|g| *g > 0) {
            let _ = writeln!(o, "#SBATCH --gpus-per-task={g}");
        }
        let _ = writeln!(o, "#SBATCH --requeue");
        let _ = writeln!(
            o,
            "# Units {start}..{} of {units}; each resumes from its checkpoint when requeued.",
            start + n - 1
        );
        let _ = writeln!(o, "export REPBENCH_CACHE={}", quote(cache));
        let threads = if opts.cpus_per_task.is_some() { " --threads \"${SLURM_CPUS_PER_TASK}\"" } else { "" };
        let _ = writeln!(
            o,
            "exec {} run-cell {} --unit $(({start} + SLURM_ARRAY_TASK_ID)){threads} --cache {} -q",
            quote(exe),
            quote(spec),
            quote(cache)
        );
        v.push(Script { name: format!("units{k}.sbatch"), text: o, array: Some((start, n)) });
    }
    let mut o = String::new();
    header(&mut o, &format!("repbench-{suite}-report"), opts, &logs.join("report-%j.log"));
    let _ = writeln!(o, "#SBATCH --ntasks=1");
    let _ =
        writeln!(o, "# Runs after every array task ended (afterany): cross-representation evaluations and the report.");
    let _ = writeln!(
        o,
        "exec {} run {} --cached-only --cache {} --out {} -q",
        quote(exe),
        quote(spec),
        quote(cache),
        quote(out)
    );
    v.push(Script { name: "report.sbatch".into(), text: o, array: None });
    v
}

/// MaxArraySize from `scontrol show config` (Slurm's default 1001 when unknown).
/// Task indices run 0..MaxArraySize−1, so that is the largest array.
pub fn max_array_size() -> usize {
    let out = Command::new("scontrol").args(["show", "config"]).output();
    out.ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| {
            s.lines()
                .find(|l| l.trim_start().starts_with("MaxArraySize"))
                .and_then(|l| l.split('=').nth(1))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(1001)
}

fn sbatch(script: &Path, dependency: Option<&str>) -> Result<String> {
    let mut c = Command::new("sbatch");
    c.arg("--parsable");
    if let Some(d) = dependency {
        c.arg(format!("--dependency={d}"));
    }
    let o = c
        .arg(script)
        .output()
        .map_err(|e| Error::stage(format!("cannot run sbatch ({e}); is Slurm installed on this machine?")))?;
    if !o.status.success() {
        return Err(Error::stage(format!(
            "sbatch {} failed: {}",
            script.display(),
            String::from_utf8_lossy(&o.stderr).trim()
        )));
    }
    let id = String::from_utf8_lossy(&o.stdout).trim().split(';').next().unwrap_or("").to_string();
    if id.is_empty() {
        return Err(Error::stage(format!("sbatch {} printed no job id", script.display())));
    }
    Ok(id)
}

/// Writes the scripts under `<out>/slurm/` and, unless `dry_run`, submits them
/// (arrays first, then the report job depending on all of them). Returns the
/// script paths and the job ids.
pub fn submit(scripts: &[Script], out: &Path, dry_run: bool) -> Result<(Vec<PathBuf>, Vec<String>)> {
    let dir = out.join("slurm");
    std::fs::create_dir_all(&dir).at(&dir)?;
    let mut paths = Vec::new();
    for s in scripts {
        let p = dir.join(&s.name);
        crate::files::write_atomic(&p, s.text.as_bytes())?;
        paths.push(p);
    }
    if dry_run {
        return Ok((paths, Vec::new()));
    }
    let mut ids = Vec::new();
    for (s, p) in scripts.iter().zip(&paths) {
        if s.array.is_some() {
            ids.push(sbatch(p, None)?);
        }
    }
    let dep = if ids.is_empty() { None } else { Some(format!("afterany:{}", ids.join(":"))) };
    for (s, p) in scripts.iter().zip(&paths) {
        if s.array.is_none() {
            ids.push(sbatch(p, dep.as_deref())?);
        }
    }
    Ok((paths, ids))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrays_are_split_at_max_array_size_and_cover_every_unit() {
        let opts = SlurmOptions {
            partition: Some("gpu".into()),
            gpus_per_task: Some(1),
            cpus_per_task: Some(8),
            time: Some("2:00:00".into()),
            max_parallel: Some(4),
            extra: vec![],
        };
        let s = scripts(
            Path::new("/opt/repbench"),
            Path::new("/work/s.yaml"),
            Path::new("/shared/cache"),
            Path::new("/work/out"),
            "s",
            12,
            5,
            &opts,
        );
        let arrays: Vec<(usize, usize)> = s.iter().filter_map(|x| x.array).collect();
        assert_eq!(arrays, [(0, 5), (5, 5), (10, 2)]);
        assert!(
            s[1].text.contains("#SBATCH --array=0-4%4") && s[1].text.contains("--unit $((5 + SLURM_ARRAY_TASK_ID))")
        );
        assert!(s[2].text.contains("#SBATCH --array=0-1%4"));
        for line in [
            "#SBATCH --partition=gpu",
            "#SBATCH --gpus-per-task=1",
            "#SBATCH --cpus-per-task=8",
            "#SBATCH --time=2:00:00",
            "#SBATCH --requeue",
            "--threads \"${SLURM_CPUS_PER_TASK}\"",
        ] {
            assert!(s[0].text.contains(line), "missing {line}:\n{}", s[0].text);
        }
        let report = s.last().unwrap();
        assert!(
            report.array.is_none()
                && report.text.contains("run '/work/s.yaml' --cached-only --cache '/shared/cache' --out '/work/out'")
        );
    }
}
