//! `repbench submit SPEC --slurm`: plan the suite, write its job-array scripts
//! and the dependent report job, and submit them (or only print them).
use super::printed::Printed;
use crate::cache::store::Store;
use crate::error::Result;
use crate::runner::slurm::{self, SlurmOptions};
use std::path::{Path, PathBuf};

/// What `repbench submit` was asked for.
#[derive(Debug, Clone, Default)]
pub struct SubmitRequest {
    pub spec: PathBuf,
    /// Shared cache folder (default `$REPBENCH_CACHE` or `.repbench/cache`).
    pub cache: Option<PathBuf>,
    /// Run directory for the report, scripts and logs (default reports/<suite>).
    pub out: Option<PathBuf>,
    pub options: SlurmOptions,
    /// Largest array (default: the cluster's MaxArraySize).
    pub max_array_size: Option<usize>,
    /// Write and print the scripts without submitting.
    pub dry_run: bool,
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// Submits (or with `dry_run` prints) the suite's Slurm jobs. Paths are made
/// absolute: the jobs run on other nodes, from other folders.
pub fn submit(r: &SubmitRequest) -> Result<Printed> {
    let cache = absolute(&r.cache.clone().unwrap_or_else(Store::default_root));
    let (plan, _) = super::plan_suite(&r.spec, Some(&cache))?;
    let suite = plan.loaded.suite.suite.clone();
    let out = absolute(&r.out.clone().unwrap_or_else(|| PathBuf::from(super::RUNS_DIR).join(&suite)));
    let units = crate::runner::execute::units(&plan).len();
    let max_array = r.max_array_size.unwrap_or_else(slurm::max_array_size);
    let exe = crate::runner::parallel::current_exe()?;
    let scripts = slurm::scripts(&exe, &absolute(&r.spec), &cache, &out, &suite, units, max_array, &r.options);
    let (paths, ids) = slurm::submit(&scripts, &out, r.dry_run)?;
    let mut p = Printed::default();
    if r.dry_run {
        for (path, s) in paths.iter().zip(&scripts) {
            p.out(format!("# {}\n{}", path.display(), s.text));
        }
    } else {
        p.err(format!(
            "{}: {units} units in {} array job(s) and a report job: {}",
            r.spec.display(),
            scripts.len() - 1,
            ids.join(" ")
        ));
        p.out(out.join("report.md").display().to_string());
    }
    Ok(p)
}
