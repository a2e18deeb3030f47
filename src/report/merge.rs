//! `repbench merge`: one report from several runs of the same suite that differ
//! only in their seeds — seeds run on different machines, in different sessions
//! or as parts of a declared seed total — so the statistics over seeds (paired
//! t, Holm) cover all of them. It refuses what would make the pooled numbers
//! meaningless: settings that differ in anything but the seed list, different
//! data, a seed present in two runs (it would be counted twice and shrink the
//! interval), a run that was interrupted, a seed outside the seed plan (the
//! suite `--plan` names, else the first part's). The merged manifest records
//! the plan's suite and the looks at it; a merge of fewer seeds than planned
//! is an interim look (report::seed_plan). Runs built from different commits or
//! on different machines are allowed and listed in the report's provenance.
use super::manifest::{Manifest, MergedSource};
use super::seed_plan::{Look, SeedPlan};
use super::ReportData;
use crate::error::{Error, Result};
use crate::spec::{load, Suite};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Merges the run directories `dirs` into `out`; returns the path of report.md.
/// The seed plan is the suite file `plan` names, else the first part's; a part
/// with a seed outside it is refused.
pub fn merge(dirs: &[PathBuf], out: &Path, command: Vec<String>, plan: Option<&Path>) -> Result<PathBuf> {
    if dirs.len() < 2 {
        return Err(Error::usage("merge needs at least two run directories"));
    }
    let out_abs = std::path::absolute(out).map_err(|e| Error::io(out, e))?;
    let mut runs = Vec::with_capacity(dirs.len());
    for d in dirs {
        if std::path::absolute(d).map_err(|e| Error::io(d, e))? == out_abs {
            return Err(Error::usage(format!(
                "--out {} is one of the runs to merge; write the merge elsewhere",
                out.display()
            )));
        }
        runs.push((d.clone(), super::load(d)?));
    }
    let settings: Vec<serde_json::Value> =
        runs.iter().map(|(d, r)| settings_without_seeds(d, &r.manifest)).collect::<Result<_>>()?;
    let (first_dir, first) = &runs[0];
    let mut seen: Vec<(u64, &Path)> = Vec::new();
    for (i, (dir, run)) in runs.iter().enumerate() {
        let m = &run.manifest;
        if m.interrupted {
            return Err(Error::data(
                dir.join("manifest.json"),
                "this run was interrupted; finish it (run it again) before merging",
            ));
        }
        if i > 0 {
            if let Some(field) = first_difference(&settings[0], &settings[i]) {
                return Err(Error::data(
                    dir.join("manifest.json"),
                    format!(
                        "its suite differs from {}'s at `{field}`: only runs that differ in their seeds can be merged",
                        first_dir.display()
                    ),
                ));
            }
            let fp =
                |m: &Manifest| m.datasets.iter().map(|d| (d.name.clone(), d.fingerprint.clone())).collect::<Vec<_>>();
            if fp(m) != fp(&first.manifest) {
                return Err(Error::data(
                    dir.join("manifest.json"),
                    format!(
                        "its data (fingerprints {:?}) is not {}'s ({:?})",
                        fp(m),
                        first_dir.display(),
                        fp(&first.manifest)
                    ),
                ));
            }
        }
        for s in seeds(run) {
            if let Some((_, other)) = seen.iter().find(|(t, _)| *t == s) {
                return Err(Error::data(
                    dir.join("results.parquet"),
                    format!(
                        "seed {s} is also in {}: a seed counted twice would narrow every interval",
                        other.display()
                    ),
                ));
            }
            seen.push((s, dir));
        }
    }
    let seed_plan = plan_of(&runs, plan, &settings[0])?;
    for (dir, run) in &runs {
        if let Some(s) = seed_plan.outside(&seeds(run).into_iter().collect::<Vec<_>>()).first() {
            return Err(Error::data(
                dir.join("results.parquet"),
                format!(
                    "seed {s} is not in the seed plan of {} (seeds {:?}); name the suite whose seeds are the plan with --plan",
                    seed_plan.suite_path, seed_plan.seeds
                ),
            ));
        }
    }
    let name = out.file_name().and_then(|n| n.to_str()).unwrap_or("merged").to_string();
    let mut data = combine(runs, &name, command);
    let merged: Vec<u64> = data.rows.iter().map(|r| r.seed).collect::<BTreeSet<u64>>().into_iter().collect();
    let look = super::seed_plan::Look {
        seeds: merged,
        started_unix: crate::files::unix_now(),
        dir: out.display().to_string(),
    };
    if let Some(text) = plan.map(|p| std::fs::read_to_string(p).map_err(|e| Error::io(p, e))).transpose()? {
        data.manifest.spec_path = seed_plan.suite_path.clone();
        data.manifest.spec_sha256 = seed_plan.spec_sha256.clone();
        data.manifest.spec_text = text;
    }
    data.manifest.seeds_override = None;
    data.manifest.plan = Some(seed_plan.with_look(look));
    super::write_run(out, &data)
}

/// The seed plan of a merge: the suite file `plan` (whose settings but the
/// seeds must be the parts'), else the first part's recorded plan, else the
/// seeds its recorded suite declares. Looks the parts recorded of the same
/// plan are kept, in time order.
fn plan_of(runs: &[(PathBuf, ReportData)], plan: Option<&Path>, part_settings: &serde_json::Value) -> Result<SeedPlan> {
    let mut sp = match plan {
        Some(path) => {
            let loaded = load::load_file(path)?;
            let m = Manifest {
                spec_path: path.display().to_string(),
                spec_text: loaded.text.clone(),
                ..runs[0].1.manifest.clone()
            };
            if let Some(field) = first_difference(&settings_without_seeds(path, &m)?, part_settings) {
                return Err(Error::data(path, format!("the plan's suite differs from the parts' at `{field}`")));
            }
            SeedPlan {
                suite_path: path.display().to_string(),
                spec_sha256: loaded.sha256.clone(),
                seeds: loaded.planned_seeds(),
                looks: Vec::new(),
                this_look: None,
            }
        }
        None => {
            let (dir, first) = &runs[0];
            match &first.manifest.plan {
                Some(p) => SeedPlan { looks: Vec::new(), this_look: None, ..p.clone() },
                None => {
                    let m = &first.manifest;
                    let suite = load::parse_str(Path::new(&m.spec_path), &m.spec_text).map_err(|e| {
                        Error::data(dir.join("manifest.json"), format!("its recorded suite does not parse: {e}"))
                    })?;
                    SeedPlan {
                        suite_path: m.spec_path.clone(),
                        spec_sha256: m.spec_sha256.clone(),
                        seeds: suite.seed_list(),
                        looks: Vec::new(),
                        this_look: None,
                    }
                }
            }
        }
    };
    let mut looks: Vec<Look> = runs
        .iter()
        .filter_map(|(_, r)| r.manifest.plan.as_ref())
        .filter(|p| p.spec_sha256 == sp.spec_sha256)
        .flat_map(|p| p.looks.clone())
        .collect();
    looks.sort_by_key(|l| l.started_unix);
    for l in looks {
        sp = sp.with_look(l);
    }
    Ok(sp)
}

/// The seeds a run holds results for.
fn seeds(run: &ReportData) -> BTreeSet<u64> {
    run.rows.iter().map(|r| r.seed).chain(run.manifest.failures.iter().map(|f| f.seed)).collect()
}

/// A run's suite as JSON with what may differ between merged runs removed: the
/// name and description, the seed (top-level or the matrix axis), and how it ran
/// (device, threads, determinism flag), none of which is a setting of a cell.
fn settings_without_seeds(dir: &Path, m: &Manifest) -> Result<serde_json::Value> {
    let file = dir.join("manifest.json");
    let mut suite: Suite = load::parse_str(Path::new(&m.spec_path), &m.spec_text)
        .map_err(|e| Error::data(&file, format!("its recorded suite does not parse any more: {e}")))?;
    suite.suite.clear();
    suite.description = None;
    suite.seed = 0;
    suite.threads = None;
    suite.device = Default::default();
    suite.deterministic = false;
    suite.matrix.shift_remove("seed");
    serde_json::to_value(&suite).map_err(|e| Error::data(&file, e.to_string()))
}

/// The dotted path of the first place two JSON values differ.
fn first_difference(a: &serde_json::Value, b: &serde_json::Value) -> Option<String> {
    use serde_json::Value::Object;
    match (a, b) {
        (Object(x), Object(y)) => {
            let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            keys.into_iter().find_map(|k| match (x.get(k), y.get(k)) {
                (Some(u), Some(v)) => {
                    first_difference(u, v).map(|p| if p.is_empty() { k.clone() } else { format!("{k}.{p}") })
                }
                _ => Some(k.clone()),
            })
        }
        _ => (a != b).then(String::new),
    }
}

/// One `ReportData` of all the runs: rows, details and logs concatenated (under
/// one suite name), the manifest of the first run with the counts summed and a
/// record of every run in `merged_from`.
fn combine(runs: Vec<(PathBuf, ReportData)>, name: &str, command: Vec<String>) -> ReportData {
    let mut sources = Vec::new();
    let (mut rows, mut artifacts, mut logs) = (Vec::new(), Vec::new(), Vec::new());
    let mut manifest = runs[0].1.manifest.clone();
    manifest.suite = name.to_string();
    manifest.command = command;
    manifest.cells = 0;
    manifest.computed_cells = 0;
    manifest.cached_cells = 0;
    manifest.total_seconds = 0.0;
    manifest.failures.clear();
    manifest.skipped.clear();
    manifest.imported_files.clear();
    manifest.split_counts.clear();
    for (dir, run) in runs {
        let run_seeds = seeds(&run).into_iter().collect();
        let m = run.manifest;
        sources.push(MergedSource {
            dir: dir.display().to_string(),
            suite: m.suite.clone(),
            spec_path: m.spec_path.clone(),
            spec_sha256: m.spec_sha256.clone(),
            seeds: run_seeds,
            git_commit: m.environment.git_commit.clone(),
            git_dirty: m.environment.git_dirty,
            machine: format!(
                "{} cpus ({}), {} torch threads",
                m.environment.cpus, m.environment.cpu_model, m.environment.torch_threads
            ),
            device: m.device.clone(),
            started_unix: m.started_unix,
            total_seconds: m.total_seconds,
            computed_cells: m.computed_cells,
            cached_cells: m.cached_cells,
        });
        manifest.started_unix = manifest.started_unix.min(m.started_unix);
        manifest.cells += m.cells;
        manifest.computed_cells += m.computed_cells;
        manifest.cached_cells += m.cached_cells;
        manifest.total_seconds += m.total_seconds;
        manifest.failures.extend(m.failures);
        manifest.skipped.extend(m.skipped);
        for f in m.imported_files {
            if !manifest.imported_files.contains(&f) {
                manifest.imported_files.push(f);
            }
        }
        manifest.split_counts.extend(m.split_counts);
        rows.extend(run.rows.into_iter().map(|mut r| {
            r.suite = name.to_string();
            r
        }));
        artifacts.extend(run.artifacts);
        logs.extend(run.train_logs);
    }
    manifest.merged_from = sources;
    ReportData::new(rows, manifest, artifacts, logs)
}
