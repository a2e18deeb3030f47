//! What a run of the plan collects: result rows, failures, skipped cells,
//! each cell's details and training logs, and the cached/computed counts; and
//! how one finished cell (or its error) is recorded into it.
use super::plan::{EvalPlan, PointPlan, RepPlan};
use super::progress::Progress;
use super::{Artifact, Failure, ResultRow, TrainLogRecord};
use crate::error::{Error, Result};
use crate::eval::EvalOutput;

/// Everything a run (or one unit of it) produced.
pub struct Outcome {
    pub rows: Vec<ResultRow>,
    pub failures: Vec<Failure>,
    /// Evaluations that do not apply to a representation (listed, not failed).
    pub skipped: Vec<Failure>,
    /// Each cell's details (confusion matrices, maps, curves) for the report.
    pub artifacts: Vec<Artifact>,
    pub train_logs: Vec<TrainLogRecord>,
    pub computed_cells: usize,
    pub cached_cells: usize,
    /// Ctrl-C stopped the run early.
    pub interrupted: bool,
}

impl Outcome {
    /// Nothing run yet.
    pub fn empty() -> Outcome {
        Outcome {
            rows: Vec::new(),
            failures: Vec::new(),
            skipped: Vec::new(),
            artifacts: Vec::new(),
            train_logs: Vec::new(),
            computed_cells: 0,
            cached_cells: 0,
            interrupted: false,
        }
    }
}

/// Counts a finished cell, adds its rows (`rows`) and details and reports its
/// progress; a cell that does not apply is listed as skipped, one that failed
/// as a failure.
pub(super) fn record(
    out: &mut Outcome,
    progress: &Progress,
    p: &PointPlan,
    representation: &str,
    e: &EvalPlan,
    result: Result<(EvalOutput, f64, bool)>,
    rows: impl FnOnce(&mut Outcome, &EvalOutput, f64, bool),
) {
    let label = p.label(if representation == "*" { "all" } else { representation });
    match result {
        Ok((o, secs, was_cached)) => {
            if was_cached {
                out.cached_cells += 1;
            } else {
                out.computed_cells += 1;
            }
            rows(out, &o, secs, was_cached);
            push_artifact(out, p, representation, e, o.details);
            progress.step(&format!("{label} {}{}", e.name, if was_cached { " (cached)" } else { "" }));
        }
        Err(Error::NotApplicable(why)) => {
            out.skipped.push(failure(p, representation, &e.name, "eval", &Error::NotApplicable(why)));
            progress.step(&format!("{label} {} (not applicable)", e.name));
        }
        Err(err) => {
            progress.error(&format!("error: {label} {}: {err}", e.name));
            out.failures.push(failure(p, representation, &e.name, "eval", &err));
            progress.step(&format!("{label} {} FAILED", e.name));
        }
    }
}

#[allow(clippy::too_many_arguments)]
pub(super) fn push_rows(
    out: &mut Outcome,
    p: &PointPlan,
    r: &RepPlan,
    e: &EvalPlan,
    o: &EvalOutput,
    secs: f64,
    was_cached: bool,
    fit_s: f64,
    embed_s: f64,
) {
    for (metric, value) in &o.metrics {
        out.rows.push(ResultRow {
            suite: p.point.suite.suite.clone(),
            representation: r.name.clone(),
            kind: r.spec.kind().into(),
            evaluation: e.name.clone(),
            eval_kind: e.spec.kind().into(),
            metric: metric.clone(),
            value: *value,
            seed: p.point.suite.seed,
            params: p.point.params(),
            cell_key: e.key.0.clone(),
            cached: was_cached,
            fit_seconds: fit_s,
            embed_seconds: embed_s,
            eval_seconds: secs,
        });
    }
}

fn push_artifact(out: &mut Outcome, p: &PointPlan, representation: &str, e: &EvalPlan, details: serde_json::Value) {
    if details.is_null() {
        return;
    }
    out.artifacts.push(Artifact {
        representation: representation.to_string(),
        evaluation: e.name.clone(),
        eval_kind: e.spec.kind().into(),
        seed: p.point.suite.seed,
        params: p.point.params(),
        cell_key: e.key.0.clone(),
        details,
    });
}

/// A cross evaluation names its metrics `<metric>:<a>:<b>`: each becomes a row
/// of representation `a` with metric `<metric>:<b>`.
pub(super) fn push_cross_rows(
    out: &mut Outcome,
    p: &PointPlan,
    e: &EvalPlan,
    o: &EvalOutput,
    secs: f64,
    was_cached: bool,
) {
    for (metric, value) in &o.metrics {
        let Some((name, (a, b))) = metric.split_once(':').and_then(|(n, rest)| Some((n, rest.split_once(':')?))) else {
            continue;
        };
        let kind = p.reps.iter().find(|r| r.name == a).map(|r| r.spec.kind()).unwrap_or("");
        out.rows.push(ResultRow {
            suite: p.point.suite.suite.clone(),
            representation: a.to_string(),
            kind: kind.into(),
            evaluation: e.name.clone(),
            eval_kind: e.spec.kind().into(),
            metric: format!("{name}:{b}"),
            value: *value,
            seed: p.point.suite.seed,
            params: p.point.params(),
            cell_key: e.key.0.clone(),
            cached: was_cached,
            fit_seconds: f64::NAN,
            embed_seconds: f64::NAN,
            eval_seconds: secs,
        });
    }
}

pub(super) fn failure(p: &PointPlan, representation: &str, eval: &str, stage: &str, err: &Error) -> Failure {
    Failure {
        representation: representation.to_string(),
        evaluation: eval.to_string(),
        seed: p.point.suite.seed,
        params: p.point.params(),
        stage: stage.into(),
        error: err.to_string(),
    }
}
