//! manifest.json: what was run, on what, by which build — enough to reproduce
//! or audit every number in the report.
use crate::environment::EnvInfo;
use crate::error::{Error, IoContext, Result};
use crate::runner::Failure;
use serde::{Deserialize, Serialize};
use std::path::Path;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DatasetRecord {
    pub name: String,
    pub format: String,
    pub root: String,
    pub files: usize,
    pub fingerprint: String,
    pub note: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EvaluationRecord {
    pub name: String,
    pub kind: String,
    /// The metric shown in the summary chart.
    pub headline: String,
    /// Whether a larger headline is better (false for descriptive evaluations
    /// such as CKA or attention entropy, which get no tests or ranks).
    #[serde(default = "yes")]
    pub ranks: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub suite: String,
    pub description: Option<String>,
    pub spec_path: String,
    pub spec_sha256: String,
    pub spec_text: String,
    pub command: Vec<String>,
    pub started_unix: u64,
    pub device: String,
    pub cache_dir: String,
    pub environment: EnvInfo,
    pub datasets: Vec<DatasetRecord>,
    /// Representation names in suite order (for stable colours and rows).
    pub representations: Vec<String>,
    pub evaluations: Vec<EvaluationRecord>,
    pub cells: usize,
    pub computed_cells: usize,
    pub cached_cells: usize,
    pub total_seconds: f64,
    pub failures: Vec<Failure>,
    /// Evaluations that do not apply to a representation.
    #[serde(default)]
    pub skipped: Vec<Failure>,
    /// Ctrl-C stopped the run; the report covers what finished.
    #[serde(default)]
    pub interrupted: bool,
}

pub fn read(path: &Path) -> Result<Manifest> {
    let text = std::fs::read_to_string(path).at(path)?;
    serde_json::from_str(&text).map_err(|e| Error::data(path, format!("not a repbench manifest: {e}")))
}
