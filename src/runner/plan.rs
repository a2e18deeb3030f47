//! The plan: every matrix cell × representation × evaluation with its stage keys.
//! Building it reads the suite and stats the dataset files (fingerprints are
//! memoized), nothing more, so `repbench plan` and a fully cached run are cheap.
use crate::cache::key::{stage_key, Key};
use crate::cache::store::Store;
use crate::data::named::Source;
use crate::error::Result;
use crate::eval::{EvaluationSpec, Scope};
use crate::represent::RepresentationSpec;
use crate::spec::load::LoadedSuite;
use crate::spec::matrix::{self, MatrixPoint};
use crate::spec::{DatasetSpec, Suite};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// A file an imported representation (embeddings, TorchScript, checkpoint) reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportedFile {
    pub representation: String,
    /// The settings field (`path`, `npy.train`).
    pub field: String,
    pub path: String,
    pub sha256: String,
}
use std::path::Path;

pub struct EvalPlan {
    pub name: String,
    pub spec: EvaluationSpec,
    pub key: Key,
    pub config: Value,
}

pub struct RepPlan {
    pub name: String,
    pub spec: RepresentationSpec,
    pub fit_key: Key,
    pub fit_config: Value,
    pub embed_key: Key,
    /// Per-representation evaluations (cross-representation ones are in `PointPlan::cross`).
    pub evals: Vec<EvalPlan>,
    /// The files it reads (imported kinds), resolved, with their content hash.
    pub files: Vec<ImportedFile>,
}

/// The data of a matrix point (or of its pretraining): which dataset, which
/// classes, and the split stage's key.
pub struct DataPlan {
    pub source_index: usize,
    pub spec: DatasetSpec,
    pub key: Key,
    pub config: Value,
    pub seed: u64,
}

pub struct PointPlan {
    pub point: MatrixPoint,
    /// The data evaluations run on.
    pub data: DataPlan,
    /// The data representations are fitted on, when it differs (transfer).
    pub pretrain: Option<DataPlan>,
    pub reps: Vec<RepPlan>,
    /// Evaluations that compare all representations (keyed by all their embeddings).
    pub cross: Vec<EvalPlan>,
    /// (representation, evaluation, reason) of the cells that do not apply.
    pub skipped: Vec<(String, String, String)>,
}

impl PointPlan {
    /// "NAME seed=S PARAMS": how progress lines, workers and failures name a
    /// representation (or `all`) at this point.
    pub fn label(&self, name: &str) -> String {
        let params = self.point.params();
        format!(
            "{name} seed={}{}",
            self.point.suite.seed,
            if params.is_empty() { String::new() } else { format!(" {params}") }
        )
    }

    /// The data representations are fitted on.
    pub fn fit_data(&self) -> &DataPlan {
        self.pretrain.as_ref().unwrap_or(&self.data)
    }
}

/// A dataset used by the suite, with its fingerprint.
pub struct DatasetPlan {
    pub source: Source,
    pub fingerprint: String,
}

impl DatasetPlan {
    /// The data, from its image store in `store` for photo formats (built on
    /// first use, with a progress bar when `progress`).
    pub fn load(&self, store: &Store, progress: bool) -> Result<crate::data::Dataset> {
        self.source.load_in(store, &self.fingerprint, progress)
    }
}

pub struct SuitePlan {
    pub loaded: LoadedSuite,
    pub datasets: Vec<DatasetPlan>,
    pub points: Vec<PointPlan>,
}

impl SuitePlan {
    pub fn cell_count(&self) -> usize {
        self.points.iter().map(|p| p.cross.len() + p.reps.iter().map(|r| r.evals.len()).sum::<usize>()).sum()
    }
}

fn data_plan(
    d: &DatasetSpec,
    seed: u64,
    spec_dir: &Path,
    store: &Store,
    datasets: &mut Vec<DatasetPlan>,
) -> Result<DataPlan> {
    let source = d.source(spec_dir)?;
    let source_index = match datasets.iter().position(|p| {
        p.source.root == source.root && p.source.format == source.format && p.source.options == source.options
    }) {
        Some(i) => i,
        None => {
            let fingerprint = crate::data::fingerprint::fingerprint(
                source.base_dir(),
                &source.files,
                Some(&store.fingerprint_dir()),
            )?;
            datasets.push(DatasetPlan { source, fingerprint });
            datasets.len() - 1
        }
    };
    let ds = &datasets[source_index];
    let split_seed = d.split_seed.unwrap_or(seed);
    let mut config = json!({
        "fingerprint": ds.fingerprint,
        "format": ds.source.format,
        "train_size": d.train_size,
        "test_size": d.test_size,
        "val_fraction": d.val_fraction,
        "split_seed": split_seed,
        "numerics": crate::data::split::VERSION,
    });
    if !d.holdout_classes.is_empty() {
        config["holdout_classes"] = json!(d.holdout_classes);
    }
    if let Some(images) = ds.source.options.key_fields(ds.source.format) {
        config["images"] = images;
    }
    // Photo formats are read from the image store, and learned methods stream
    // from it (with chunked normaliser statistics): their keys name the store's
    // version, which changed the keys of folder datasets from before the store.
    if ds.source.format.uses_store() {
        config["image_store"] = json!(crate::data::image_store::VERSION);
    }
    if !d.classes.is_empty() {
        config["classes"] = json!(d.classes);
    }
    if !d.label_map.is_empty() {
        config["label_map"] = json!(d.label_map);
    }
    let key = stage_key("data", &config, &[]);
    Ok(DataPlan { source_index, spec: d.clone(), key, config, seed: split_seed })
}

/// The versions of the arithmetic a fit runs: its kind's, and for learned
/// methods the shared training machinery's. They are part of the fit key, so a
/// change to what a stage computes (with a bump) recomputes exactly its entries
/// and everything downstream (docs/architecture.md, "When to bump a version").
fn representation_numerics(spec: &RepresentationSpec) -> Value {
    match spec.method() {
        Some(_) => json!({ "kind": spec.version(), "training": crate::methods::SHARED_VERSION }),
        None => json!({ "kind": spec.version() }),
    }
}

fn eval_config(espec: &EvaluationSpec, seed: u64) -> Value {
    json!({ "evaluation": espec, "seed": seed, "numerics": espec.version() })
}

/// A representation's fit, embedding and per-representation evaluation keys.
/// Transfer: the same fitted model embeds different data, so the evaluation
/// data's key is part of the embedding's key.
fn rep_plan(
    name: &str,
    spec: &RepresentationSpec,
    s: &Suite,
    data: &DataPlan,
    pretrain: Option<&DataPlan>,
    files: &FileResolver,
) -> Result<RepPlan> {
    let mut spec = spec.clone();
    let mut written = serde_json::to_value(&spec).unwrap_or(Value::Null);
    let imported = files.resolve(name, &mut spec, &mut written)?;
    let spec = &spec;
    let fit_config = json!({ "representation": written, "seed": s.seed, "numerics": representation_numerics(spec) });
    let fit_key = stage_key("fit", &fit_config, &[&pretrain.unwrap_or(data).key]);
    let embed_key = match pretrain {
        Some(_) => stage_key("embed", &json!({}), &[&fit_key, &data.key]),
        None => stage_key("embed", &json!({}), &[&fit_key]),
    };
    let evals = s
        .evaluations
        .iter()
        .filter(|(_, e)| e.scope() != Scope::Cross && e.applies_to(spec).is_ok())
        .map(|(ename, espec)| {
            let config = eval_config(espec, s.seed);
            let key = match espec.scope() {
                Scope::Model => stage_key("eval", &config, &[&embed_key, &data.key]),
                _ => stage_key("eval", &config, &[&embed_key]),
            };
            EvalPlan { name: ename.clone(), spec: espec.clone(), key, config }
        })
        .collect();
    Ok(RepPlan { name: name.to_string(), spec: spec.clone(), fit_key, fit_config, embed_key, evals, files: imported })
}

/// Resolves the files a representation reads (imported embeddings, TorchScript
/// encoders, checkpoints) against the suite's folder and keys them by content:
/// in the fit key each file's name is replaced by `sha256:<hash>`, so renaming
/// or moving a file changes nothing and changing one byte recomputes everything
/// downstream. Hashes are memoized like the datasets' (by path, size and mtime).
struct FileResolver<'a> {
    spec_dir: &'a Path,
    memo_dir: std::path::PathBuf,
}

impl FileResolver<'_> {
    fn resolve(&self, name: &str, spec: &mut RepresentationSpec, written: &mut Value) -> Result<Vec<ImportedFile>> {
        let mut out = Vec::new();
        for (pointer, path) in spec.as_dyn_mut().files_mut() {
            let abs = self.spec_dir.join(&*path);
            let field = pointer.trim_start_matches('/').replace('/', ".");
            let hash = crate::data::fingerprint::file_hash(&abs, Some(&self.memo_dir))
                .map_err(|e| crate::error::Error::data(&abs, format!("representations.{name}.{field}: {e}")))?;
            if let Some(v) = written.pointer_mut(&pointer) {
                *v = json!(format!("sha256:{hash}"));
            }
            out.push(ImportedFile {
                representation: name.to_string(),
                field,
                path: abs.display().to_string(),
                sha256: hash,
            });
            *path = abs;
        }
        Ok(out)
    }
}

/// The cross-representation evaluations of a point, keyed by every embedding.
fn cross_plans(s: &Suite, reps: &[RepPlan]) -> Vec<EvalPlan> {
    let embed_keys: Vec<&Key> = reps.iter().map(|r| &r.embed_key).collect();
    s.evaluations
        .iter()
        .filter(|(_, e)| e.scope() == Scope::Cross)
        .map(|(ename, espec)| {
            let mut config = eval_config(espec, s.seed);
            config["representations"] = json!(reps.iter().map(|r| &r.name).collect::<Vec<_>>());
            let key = stage_key("eval", &config, &embed_keys);
            EvalPlan { name: ename.clone(), spec: espec.clone(), key, config }
        })
        .collect()
}

pub fn build(loaded: LoadedSuite, store: &Store) -> Result<SuitePlan> {
    let points = matrix::expand(&loaded.path, &loaded.text, &loaded.suite)?;
    let spec_dir = loaded.path.parent().map(Path::to_path_buf).unwrap_or_default();
    let spec_dir = if spec_dir.as_os_str().is_empty() { std::path::PathBuf::from(".") } else { spec_dir };
    let mut datasets: Vec<DatasetPlan> = Vec::new();
    let mut out = Vec::with_capacity(points.len());
    for point in points {
        let s = &point.suite;
        let data = data_plan(&s.dataset, s.seed, &spec_dir, store, &mut datasets)?;
        let pretrain =
            s.pretrain.as_ref().map(|d| data_plan(d, s.seed, &spec_dir, store, &mut datasets)).transpose()?;
        let mut skipped = Vec::new();
        for (name, spec) in &s.representations {
            for (ename, espec) in &s.evaluations {
                if let Err(why) = espec.applies_to(spec) {
                    skipped.push((name.clone(), ename.clone(), why));
                }
            }
        }
        let files = FileResolver { spec_dir: &spec_dir, memo_dir: store.fingerprint_dir() };
        let reps: Vec<RepPlan> = s
            .representations
            .iter()
            .map(|(name, spec)| rep_plan(name, spec, s, &data, pretrain.as_ref(), &files))
            .collect::<Result<_>>()?;
        let cross = cross_plans(s, &reps);
        out.push(PointPlan { point, data, pretrain, reps, cross, skipped });
    }
    Ok(SuitePlan { loaded, datasets, points: out })
}
