//! The plan: every matrix cell × representation × evaluation with its stage keys.
//! Building it reads the suite and stats the dataset files (fingerprints are
//! memoized), nothing more, so `repbench plan` and a fully cached run are cheap.
use crate::cache::key::{stage_key, Key};
use crate::cache::store::Store;
use crate::data::named::{self, Source};
use crate::error::Result;
use crate::eval::EvaluationSpec;
use crate::represent::RepresentationSpec;
use crate::spec::load::LoadedSuite;
use crate::spec::matrix::{self, MatrixPoint};
use serde_json::{json, Value};
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
    pub evals: Vec<EvalPlan>,
}

pub struct PointPlan {
    pub point: MatrixPoint,
    pub source_index: usize,
    pub data_key: Key,
    pub data_config: Value,
    pub reps: Vec<RepPlan>,
}

/// A dataset used by the suite, with its fingerprint.
pub struct DatasetPlan {
    pub source: Source,
    pub fingerprint: String,
}

pub struct SuitePlan {
    pub loaded: LoadedSuite,
    pub datasets: Vec<DatasetPlan>,
    pub points: Vec<PointPlan>,
}

impl SuitePlan {
    pub fn cell_count(&self) -> usize {
        self.points.iter().map(|p| p.reps.iter().map(|r| r.evals.len()).sum::<usize>()).sum()
    }
}

pub fn build(loaded: LoadedSuite, store: &Store) -> Result<SuitePlan> {
    let points = matrix::expand(&loaded.path, &loaded.text, &loaded.suite)?;
    let spec_dir = loaded.path.parent().map(Path::to_path_buf).unwrap_or_default();
    let spec_dir = if spec_dir.as_os_str().is_empty() { std::path::PathBuf::from(".") } else { spec_dir };
    let mut datasets: Vec<DatasetPlan> = Vec::new();
    let mut out = Vec::with_capacity(points.len());
    for point in points {
        let s = &point.suite;
        let d = &s.dataset;
        let source = named::resolve(d.name.as_deref(), d.path.as_deref(), d.format, &spec_dir)?;
        let source_index = match datasets.iter().position(|p| p.source.root == source.root && p.source.format == source.format) {
            Some(i) => i,
            None => {
                let fingerprint = crate::data::fingerprint::fingerprint(&source.root, &source.files, Some(&store.fingerprint_dir()))?;
                datasets.push(DatasetPlan { source, fingerprint });
                datasets.len() - 1
            }
        };
        let ds = &datasets[source_index];
        let mut data_config = json!({
            "fingerprint": ds.fingerprint,
            "format": ds.source.format,
            "train_size": d.train_size,
            "test_size": d.test_size,
            "val_fraction": d.val_fraction,
            "split_seed": d.split_seed.unwrap_or(s.seed),
        });
        if !d.holdout_classes.is_empty() {
            data_config["holdout_classes"] = json!(d.holdout_classes);
        }
        let data_key = stage_key("data", &data_config, &[]);
        let mut reps = Vec::new();
        for (name, spec) in &s.representations {
            let fit_config = json!({ "representation": spec, "seed": s.seed });
            let fit_key = stage_key("fit", &fit_config, &[&data_key]);
            let embed_key = stage_key("embed", &json!({}), &[&fit_key]);
            let evals = s
                .evaluations
                .iter()
                .map(|(ename, espec)| {
                    let config = json!({ "evaluation": espec, "seed": s.seed });
                    EvalPlan { name: ename.clone(), spec: espec.clone(), key: stage_key("eval", &config, &[&embed_key]), config }
                })
                .collect();
            reps.push(RepPlan { name: name.clone(), spec: spec.clone(), fit_key, fit_config, embed_key, evals });
        }
        out.push(PointPlan { point, source_index, data_key, data_config, reps });
    }
    Ok(SuitePlan { loaded, datasets, points: out })
}
