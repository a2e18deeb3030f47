//! The library side of the CLI commands: each takes parsed arguments and returns
//! what the command prints, so `main.rs` only parses and reports.
pub mod cache_cmd;
pub mod export;
pub mod printed;
pub mod submit;

use crate::cache::store::Store;
use crate::error::Result;
use crate::report::manifest::{DatasetRecord, EvaluationRecord, Manifest};
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
        (None, _) => PathBuf::from("reports").join(suite),
    }
}

/// Loads and plans a suite against a cache.
pub fn plan_suite(spec: &Path, cache: Option<&Path>) -> Result<(SuitePlan, Store)> {
    let loaded = load::load_file(spec)?;
    let store = Store::open(&cache.map(Path::to_path_buf).unwrap_or_else(Store::default_root))?;
    let plan = plan::build(loaded, &store)?;
    Ok((plan, store))
}

/// `repbench run`: plan, execute, write the run directory.
pub fn run_suite(spec: &Path, opts: &RunOptions) -> Result<RunResult> {
    let t0 = Instant::now();
    let started = crate::files::unix_now();
    let (plan, store) = plan_suite(spec, opts.cache.as_deref())?;
    check_class_names(&plan)?;
    let suite = &plan.loaded.suite;
    let (device, device_note) = crate::runtime::setup(suite, opts.device, None)?;
    let dir = run_dir(opts, &suite.suite);
    let mut cached_only = opts.cached_only;
    if opts.jobs > 1 && !opts.cached_only {
        run_workers(spec, &plan, &store, opts, device, &dir)?;
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
        command: opts.command.clone(),
        started_unix: started,
        device: device_note,
        cache_dir: store.root.display().to_string(),
        environment: crate::runtime::environment::collect(),
        datasets: plan.datasets.iter().map(dataset_record).collect(),
        representations: suite.representations.keys().cloned().collect(),
        evaluations: suite.evaluations.iter().map(|(n, e)| EvaluationRecord::of(n, e)).collect(),
        cells: plan.cell_count(),
        computed_cells: outcome.computed_cells,
        cached_cells: outcome.cached_cells,
        total_seconds: t0.elapsed().as_secs_f64(),
        failures: outcome.failures.clone(),
        skipped: outcome.skipped.clone(),
        interrupted: outcome.interrupted,
        imported_files: imported_files(&plan),
        split_counts: split_counts(&plan, &store),
    };
    let data = crate::report::ReportData::new(outcome.rows, manifest, outcome.artifacts, outcome.train_logs);
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
fn check_class_names(plan: &SuitePlan) -> Result<()> {
    let mut checked = Vec::new();
    for p in &plan.points {
        let Some(names) = &p.data.spec.class_names else { continue };
        if checked.contains(&(p.data.source_index, names)) {
            continue;
        }
        plan.datasets[p.data.source_index].source.load()?.prepared(Some(names), &[])?;
        checked.push((p.data.source_index, names));
    }
    Ok(())
}

/// Images per class in each split of every distinct evaluation-data split the
/// run used (read from the cache; a split that is not there is left out).
fn split_counts(plan: &SuitePlan, store: &Store) -> Vec<crate::report::manifest::SplitCounts> {
    let mut out: Vec<(crate::cache::key::Key, crate::report::manifest::SplitCounts)> = Vec::new();
    let mut loaded: Vec<(usize, Vec<usize>, crate::data::Dataset)> = Vec::new();
    for p in &plan.points {
        let label = p.label("").trim().to_string();
        if let Some((_, c)) = out.iter_mut().find(|(k, _)| *k == p.data.key) {
            c.points.push(label);
            continue;
        }
        let Ok(Some(entry)) = store.get(&p.data.key) else { continue };
        let Ok(splits) = crate::files::read_json::<crate::data::split::Splits>(&entry.file("splits.json")) else {
            continue;
        };
        let (src, classes) = (p.data.source_index, p.data.spec.classes.clone());
        if !loaded.iter().any(|(s, c, _)| *s == src && *c == classes) {
            let Ok(full) = plan.datasets[src].source.load() else { continue };
            let Ok(ds) = full.prepared(p.data.spec.class_names.as_deref(), &classes) else { continue };
            loaded.push((src, classes.clone(), ds));
        }
        let ds = &loaded.iter().find(|(s, c, _)| *s == src && *c == classes).expect("loaded above").2;
        let k = ds.num_classes;
        let count = crate::data::split::class_counts;
        out.push((
            p.data.key.clone(),
            crate::report::manifest::SplitCounts {
                points: vec![label],
                dataset: ds.name.clone(),
                classes: k,
                class_names: ds.class_names.clone(),
                train: count(&ds.train.labels, &splits.train, k),
                val: count(&ds.train.labels, &splits.val, k),
                test: count(&ds.test.labels, &splits.test, k),
            },
        ));
    }
    out.into_iter().map(|(_, c)| c).collect()
}

/// Every imported file of the suite, once.
fn imported_files(plan: &SuitePlan) -> Vec<crate::report::manifest::ImportedFile> {
    let mut out: Vec<crate::report::manifest::ImportedFile> = Vec::new();
    for f in plan.points.iter().flat_map(|p| p.reps.iter().flat_map(|r| r.files.iter())) {
        if !out.contains(f) {
            out.push(f.clone());
        }
    }
    out
}

fn dataset_record(d: &crate::runner::plan::DatasetPlan) -> DatasetRecord {
    DatasetRecord {
        name: d.source.name.clone(),
        format: format!("{:?}", d.source.format).to_lowercase(),
        root: d.source.root.display().to_string(),
        files: d.source.files.len(),
        fingerprint: d.fingerprint.clone(),
        note: d.source.note.clone(),
    }
}

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
fn run_workers(
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
    let (plan, store) = plan_suite(spec, opts.cache.as_deref())?;
    let (device, _) = crate::runtime::setup(&plan.loaded.suite, opts.device, threads)?;
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
