//! The library side of the CLI commands: each takes parsed arguments and returns
//! what the command prints, so `main.rs` only parses and reports.
pub mod cache_cmd;
mod data_records;
pub mod export;
pub mod printed;
pub mod submit;
mod workers;

pub use workers::run_cell;

use crate::cache::store::Store;
use crate::error::Result;
use crate::report::manifest::{EvaluationRecord, Manifest};
use crate::runner::plan::{self, SuitePlan};
use crate::runner::progress::Progress;
use crate::runner::stages::StageCtx;
use crate::spec::{load, DeviceChoice};
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Run directory (with several suites: the parent of one folder per suite).
    pub out: Option<PathBuf>,
    pub several: bool,
    pub device: Option<DeviceChoice>,
    pub force: bool,
    pub cache: Option<PathBuf>,
    pub quiet: bool,
    pub command: Vec<String>,
    /// Worker processes for independent cells (1: all in this process).
    pub jobs: usize,
    /// Only read the cache (see `StageCtx::cached_only`).
    pub cached_only: bool,
    /// Seeds in place of the suite's (`--seeds`).
    pub seeds: Option<Vec<u64>>,
}

#[derive(Debug, Clone)]
pub struct RunResult {
    pub report: PathBuf,
    pub cells: usize,
    pub computed: usize,
    pub cached: usize,
    pub failures: usize,
    pub seconds: f64,
    pub interrupted: bool,
}

fn run_dir(opts: &RunOptions, suite: &str) -> PathBuf {
    match (&opts.out, opts.several) {
        (Some(o), false) => o.clone(),
        (Some(o), true) => o.join(suite),
        (None, _) => PathBuf::from(RUNS_DIR).join(suite),
    }
}

/// Where a run goes without `--out`: `runs/<suite>` (git-ignored). Curated
/// reports a reader should open are committed under `reports/`, by `--out`.
pub const RUNS_DIR: &str = "runs";

/// Loads and plans a suite against a cache.
pub fn plan_suite(spec: &Path, cache: Option<&Path>) -> Result<(SuitePlan, Store)> {
    plan_suite_seeds(spec, cache, None)
}

/// `repbench prepare`: builds (or maps) the image store of every photo dataset
/// of the suite; one line per dataset with what it holds and what it took.
pub fn prepare(spec: &Path, cache: Option<&Path>) -> Result<Vec<String>> {
    let (plan, store) = plan_suite(spec, cache)?;
    let mut out = Vec::new();
    for d in &plan.datasets {
        if !d.source.format.uses_store() {
            out.push(format!("{}: {:?} data is read directly (no image store)", d.source.name, d.source.format));
            continue;
        }
        let key = d.source.store_key(&d.fingerprint);
        let cached = store.get(&key)?.is_some();
        let t = Instant::now();
        let ds = d.load(&store, true)?;
        let secs = t.elapsed().as_secs_f64();
        let n = ds.train.len() + ds.test.len();
        let bytes = (ds.train.images.len() + ds.test.images.len()) as f64;
        let how = if cached {
            format!("cached; mapped in {:.3} s", secs)
        } else {
            format!("decoded in {secs:.1} s ({:.0} images/s)", n as f64 / secs)
        };
        out.push(format!(
            "{}: {n} images ({} train incl. {} validation, {} test) of {}×{}×{}, {:.1} MB, store {}: {how}",
            d.source.name,
            ds.train.len(),
            ds.official_val.as_ref().map(|r| r.len()).unwrap_or(0),
            ds.test.len(),
            ds.train.channels,
            ds.train.height,
            ds.train.width,
            bytes / 1e6,
            &key.0[..12]
        ));
    }
    Ok(out)
}

/// `plan_suite` with the suite's seeds replaced by `seeds` when given.
pub fn plan_suite_seeds(spec: &Path, cache: Option<&Path>, seeds: Option<&[u64]>) -> Result<(SuitePlan, Store)> {
    let mut loaded = load::load_file(spec)?;
    if let Some(s) = seeds {
        loaded = loaded.with_seeds(s.to_vec());
    }
    let store = Store::open(&cache.map(Path::to_path_buf).unwrap_or_else(Store::default_root))?;
    let plan = plan::build(loaded, &store)?;
    check_groups(&plan)?;
    Ok((plan, store))
}

/// The suite's seed plan with this run as its latest look. Looks are kept in
/// the cache under the suite file's hash (`plans/<sha256>.json`), so a run of
/// `--seeds 0-4` today and of all seeds next week are two looks of one plan.
/// Seeds outside the plan are no look of it (the report warns).
fn record_look(
    loaded: &crate::spec::load::LoadedSuite,
    store: &Store,
    started: u64,
    dir: &Path,
) -> Result<crate::report::seed_plan::SeedPlan> {
    use crate::report::seed_plan::{Look, SeedPlan};
    let planned = loaded.planned_seeds();
    let seeds = loaded.seeds_override.clone().unwrap_or_else(|| planned.clone());
    let file = store.root.join("plans").join(format!("{}.json", loaded.sha256));
    let looks: Vec<Look> = if file.exists() { crate::files::read_json(&file)? } else { Vec::new() };
    let plan = SeedPlan {
        suite_path: loaded.path.display().to_string(),
        spec_sha256: loaded.sha256.clone(),
        seeds: planned,
        looks,
        this_look: None,
    };
    if !plan.outside(&seeds).is_empty() {
        return Ok(plan);
    }
    let plan = plan.with_look(Look { seeds, started_unix: started, dir: dir.display().to_string() });
    std::fs::create_dir_all(file.parent().unwrap_or(&store.root)).map_err(|e| crate::error::Error::io(&file, e))?;
    crate::files::write_json(&file, &plan.looks)?;
    Ok(plan)
}

/// `repbench run`: plan, execute, write the run directory.
pub fn run_suite(spec: &Path, opts: &RunOptions) -> Result<RunResult> {
    let t0 = Instant::now();
    let started = crate::files::unix_now();
    let (plan, store) = plan_suite_seeds(spec, opts.cache.as_deref(), opts.seeds.as_deref())?;
    check_class_names(&plan, &store)?;
    let suite = &plan.loaded.suite;
    let (device, device_note) = crate::runtime::setup(&suite.run_settings(), opts.device, None)?;
    let dir = run_dir(opts, &suite.suite);
    let mut cached_only = opts.cached_only;
    if opts.jobs > 1 && !opts.cached_only {
        workers::run_workers(spec, &plan, &store, opts, device, &dir)?;
        // The workers computed every unit; this pass reads them, computes the
        // cross-representation evaluations and reports units that failed.
        cached_only = true;
    }
    let progress = Progress::new(plan.cell_count() as u64, opts.quiet);
    let log = |line: &str| progress.line(line);
    let ctx = StageCtx { store: &store, device, force: opts.force && !cached_only, cached_only, log: &log };
    let outcome = crate::runner::execute::run(&plan, &ctx, &progress);
    progress.finish();
    let manifest = Manifest {
        suite: suite.suite.clone(),
        description: suite.description.clone(),
        spec_path: plan.loaded.path.display().to_string(),
        spec_sha256: plan.loaded.sha256.clone(),
        spec_text: plan.loaded.text.clone(),
        seeds_override: plan.loaded.seeds_override.clone(),
        command: opts.command.clone(),
        started_unix: started,
        device: device_note,
        cache_dir: store.root.display().to_string(),
        environment: crate::runtime::environment::collect(),
        datasets: plan.datasets.iter().map(|d| data_records::dataset_record(d, &store)).collect(),
        representations: suite.representations.keys().cloned().collect(),
        evaluations: suite
            .evaluations
            .iter()
            .map(|(n, e)| {
                let (baseline, margin) = suite.comparison_design(n);
                EvaluationRecord { baseline, margin, ..EvaluationRecord::of(n, e) }
            })
            .collect(),
        cells: plan.cell_count(),
        computed_cells: outcome.computed_cells,
        cached_cells: outcome.cached_cells,
        total_seconds: t0.elapsed().as_secs_f64(),
        failures: outcome.failures.clone(),
        skipped: outcome.skipped.clone(),
        interrupted: outcome.interrupted,
        imported_files: data_records::imported_files(&plan),
        split_counts: data_records::split_counts(&plan, &store),
        merged_from: Vec::new(),
        plan: Some(record_look(&plan.loaded, &store, started, &dir)?),
    };
    let (mut rows, mut artifacts) = (outcome.rows, outcome.artifacts);
    crate::report::worst_group::derive(&mut rows, &mut artifacts, &manifest.split_counts, &manifest.evaluations);
    let data = crate::report::ReportData::new(rows, manifest, artifacts, outcome.train_logs);
    let report = crate::report::write_run(&dir, &data)?;
    Ok(RunResult {
        report,
        cells: data.manifest.cells,
        computed: outcome.computed_cells,
        cached: outcome.cached_cells,
        failures: data.manifest.failures.len(),
        seconds: t0.elapsed().as_secs_f64(),
        interrupted: data.manifest.interrupted,
    })
}

/// Checks every `dataset.class_names` against the classes its data holds before
/// anything runs: names are not part of any key, so a fully cached run would
/// otherwise never read the data and never notice a wrong list.
fn check_class_names(plan: &SuitePlan, store: &Store) -> Result<()> {
    let mut checked = Vec::new();
    for p in &plan.points {
        let Some(names) = &p.data.spec.class_names else { continue };
        if checked.contains(&(p.data.source_index, names)) {
            continue;
        }
        plan.datasets[p.data.source_index].load(store, true)?.prepared(Some(names), &[], &Default::default())?;
        checked.push((p.data.source_index, names));
    }
    Ok(())
}

/// Checks every `dataset.groups` column against its manifest's header when a
/// suite is planned (run, plan, prepare, submit), before anything runs: the
/// groups are read only when the run is written.
fn check_groups(plan: &SuitePlan) -> Result<()> {
    let mut checked = Vec::new();
    for p in &plan.points {
        let spec = &p.data.spec;
        // Datasets of one manifest may group by different columns: checked per (source, groups).
        let this = (p.data.source_index, &spec.groups);
        if spec.groups.iter().all(|g| g == crate::data::groups::LABEL) || checked.contains(&this) {
            continue;
        }
        checked.push(this);
        let source = &plan.datasets[p.data.source_index].source;
        let extra = crate::data::csv_manifest::extra_columns(&source.root, &source.options.columns)?;
        let params = p.point.params();
        let field = match params.split(' ').find_map(|kv| kv.strip_prefix("dataset=")) {
            Some(name) => format!("datasets.{name}.groups"),
            None => "dataset.groups".to_string(),
        };
        let missing = spec.groups.iter().position(|g| g != crate::data::groups::LABEL && !extra.contains(g));
        if let Some(i) = missing {
            let loaded = &plan.loaded;
            return Err(crate::spec::load::spec_err(
                &loaded.path,
                crate::spec::load::find_path(&loaded.text, &field),
                format!(
                    "{field}[{i}]: `{}` is not an extra column of {}; it has: {}",
                    spec.groups[i],
                    source.root.display(),
                    if extra.is_empty() {
                        "none (only `label`)".to_string()
                    } else {
                        extra.join(", ") + " (or `label`)"
                    }
                ),
            ));
        }
    }
    Ok(())
}

/// `repbench plan`: one line per cell with the state of each stage.
pub fn plan_lines(spec: &Path, cache: Option<&Path>) -> Result<Vec<String>> {
    let (plan, store) = plan_suite(spec, cache)?;
    let state = |k: &crate::cache::key::Key| -> Result<&'static str> {
        Ok(if store.get(k)?.is_some() { "cached" } else { "to run" })
    };
    let mut lines =
        vec![format!("suite {}: {} cells, cache {}", plan.loaded.suite.suite, plan.cell_count(), store.root.display())];
    for p in &plan.points {
        for r in &p.reps {
            for e in &r.evals {
                lines.push(format!(
                    "seed={} {}{} × {}: fit {}, embed {}, eval {} [{}]",
                    p.point.suite.seed,
                    r.name,
                    if p.point.params().is_empty() { String::new() } else { format!(" [{}]", p.point.params()) },
                    e.name,
                    state(&r.fit_key)?,
                    state(&r.embed_key)?,
                    state(&e.key)?,
                    e.key.short()
                ));
            }
        }
    }
    Ok(lines)
}

/// Whether running the suite would compute anything: some evaluation result
/// (per cell or across representations) is not in the cache. A run whose every
/// evaluation is cached reads those results and nothing else.
pub fn needs_compute(spec: &Path, cache: Option<&Path>, seeds: Option<&[u64]>) -> Result<bool> {
    let (plan, store) = plan_suite_seeds(spec, cache, seeds)?;
    for p in &plan.points {
        for e in p.reps.iter().flat_map(|r| &r.evals).chain(&p.cross) {
            if store.get(&e.key)?.is_none() {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// `repbench validate`: parses, range-checks and expands the matrix.
pub fn validate(spec: &Path) -> Result<String> {
    let loaded = load::load_file(spec)?;
    let points = crate::spec::matrix::expand(&loaded.path, &loaded.text, &loaded.suite)?;
    let s = &loaded.suite;
    Ok(format!(
        "{}: ok (suite {}, {} representations × {} evaluations × {} matrix cells)",
        spec.display(),
        s.suite,
        s.representations.len(),
        s.evaluations.len(),
        points.len()
    ))
}

/// The cache keys a suite file or run directory needs (the roots of `cache gc`):
/// a suite's every stage key, a run's cell keys (their upstream is followed by gc).
pub fn gc_roots(paths: &[PathBuf], cache: Option<&Path>) -> Result<Vec<crate::cache::key::Key>> {
    use crate::cache::key::Key;
    let mut keys = Vec::new();
    for p in paths {
        if p.is_dir() {
            let rows = crate::report::table::read_results(&p.join("results.parquet"))?;
            keys.extend(rows.into_iter().map(|r| Key(r.cell_key)));
            continue;
        }
        let (plan, _) = plan_suite(p, cache)?;
        for pt in &plan.points {
            keys.push(pt.data.key.clone());
            keys.extend(pt.pretrain.iter().map(|d| d.key.clone()));
            keys.extend(pt.cross.iter().map(|e| e.key.clone()));
            for r in &pt.reps {
                keys.extend([r.fit_key.clone(), r.embed_key.clone()]);
                keys.extend(r.evals.iter().map(|e| e.key.clone()));
            }
        }
    }
    keys.sort_by(|a, b| a.0.cmp(&b.0));
    keys.dedup();
    Ok(keys)
}
