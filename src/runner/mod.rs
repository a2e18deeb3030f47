//! From a parsed suite to results: `plan` computes every stage key without
//! touching the data; `execute` walks the plan, reusing what the cache holds and
//! computing the rest, one representation at a time, into an `outcome`.
pub mod execute;
pub mod outcome;
pub mod parallel;
pub mod plan;
pub mod progress;
pub mod slurm;
pub mod stages;

use serde::{Deserialize, Serialize};

/// One row of `results.csv`: one metric of one evaluation of one representation
/// in one matrix cell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultRow {
    pub suite: String,
    pub representation: String,
    pub kind: String,
    pub evaluation: String,
    pub eval_kind: String,
    pub metric: String,
    pub value: f64,
    pub seed: u64,
    pub params: String,
    /// The evaluation's cache key: where this number is stored.
    pub cell_key: String,
    pub cached: bool,
    pub fit_seconds: f64,
    pub embed_seconds: f64,
    pub eval_seconds: f64,
}

/// A cell that failed; it shows in the report and makes the exit code non-zero.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    pub representation: String,
    pub evaluation: String,
    pub seed: u64,
    pub params: String,
    pub stage: String,
    pub error: String,
}

/// The details of one evaluation cell (confusion matrix, 2-D map, attention
/// maps, CKA matrix …), written to `details.json` for the report's figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Artifact {
    /// `*` for evaluations that compare all representations.
    pub representation: String,
    pub evaluation: String,
    pub eval_kind: String,
    pub seed: u64,
    pub params: String,
    pub cell_key: String,
    pub details: serde_json::Value,
}

/// A learned representation's per-epoch training log (`train_logs.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainLogRecord {
    pub representation: String,
    pub seed: u64,
    pub params: String,
    pub log: Vec<crate::train::trainer::EpochLog>,
}
