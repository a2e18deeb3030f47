//! Walks a plan. For each matrix point and representation: if every evaluation is
//! cached, read the metrics (no data, no features); otherwise load what is
//! missing lazily — features from the cache, or the data, split and fit — and run
//! only the missing evaluations. A failure (error or panic inside libtorch) is
//! recorded for its cells and the suite goes on.
use super::plan::{PointPlan, RepPlan, SuitePlan};
use super::progress::Progress;
use super::stages::{self, StageCtx};
use super::{Failure, ResultRow};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::eval::{EvalOutput, Features};
use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

pub struct Outcome {
    pub rows: Vec<ResultRow>,
    pub failures: Vec<Failure>,
    pub computed_cells: usize,
    pub cached_cells: usize,
}

/// Loads each dataset at most once per run.
struct DataMemo<'p> {
    plan: &'p SuitePlan,
    loaded: HashMap<usize, Arc<Dataset>>,
}

impl DataMemo<'_> {
    fn get(&mut self, i: usize) -> Result<Arc<Dataset>> {
        if let Some(d) = self.loaded.get(&i) {
            return Ok(d.clone());
        }
        let d = Arc::new(self.plan.datasets[i].source.load()?);
        self.loaded.insert(i, d.clone());
        Ok(d)
    }
}

fn panic_text(p: Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string())).unwrap_or_else(|| "panic".into())
}

/// Runs `f`, turning a panic (libtorch reports shape errors that way) into an error.
fn guarded<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|p| Err(Error::stage(panic_text(p))))
}

pub fn run(plan: &SuitePlan, ctx: &StageCtx, progress: &Progress) -> Outcome {
    let mut out = Outcome { rows: Vec::new(), failures: Vec::new(), computed_cells: 0, cached_cells: 0 };
    let mut memo = DataMemo { plan, loaded: HashMap::new() };
    for p in &plan.points {
        for r in &p.reps {
            run_rep(ctx, p, r, &mut memo, progress, &mut out);
        }
    }
    out
}

fn fit_seconds_of(ctx: &StageCtx, r: &RepPlan) -> (f64, f64) {
    let s = |k| ctx.store.get(k).ok().flatten().map(|e| e.meta.seconds).unwrap_or(f64::NAN);
    (s(&r.fit_key), s(&r.embed_key))
}

fn run_rep(ctx: &StageCtx, p: &PointPlan, r: &RepPlan, memo: &mut DataMemo, progress: &Progress, out: &mut Outcome) {
    let seed = p.point.suite.seed;
    let label = format!("{} seed={}{}", r.name, seed, if p.point.params().is_empty() { String::new() } else { format!(" {}", p.point.params()) });
    let mut cached: Vec<Option<EvalOutput>> = Vec::new();
    let mut eval_secs: Vec<f64> = Vec::new();
    for e in &r.evals {
        let hit = ctx.cached(&e.key).ok().flatten();
        eval_secs.push(hit.as_ref().map(|h| h.meta.seconds).unwrap_or(0.0));
        cached.push(hit.and_then(|h| stages::read_eval(&h).ok()));
    }
    let all_cached = cached.iter().all(Option::is_some);
    let mut features: Option<Features> = None;
    let (fit_s, embed_s);
    if !all_cached {
        let res = guarded(|| {
            if let Some((f, es)) = stages::cached_features(ctx, r)? {
                let (fs, _) = fit_seconds_of(ctx, r);
                return Ok((f, fs, es));
            }
            let ds = memo.get(p.source_index)?;
            let splits = stages::splits(ctx, p, &ds)?;
            let (fitted, fs) = stages::fit(ctx, p, r, &ds, &splits)?;
            let (f, es) = stages::embed(ctx, r, &ds, &splits, fitted.as_ref())?;
            Ok((f, fs, es))
        });
        match res {
            Ok((f, fs, es)) => {
                features = Some(f);
                (fit_s, embed_s) = (fs, es);
            }
            Err(err) => {
                for e in &r.evals {
                    out.failures.push(failure(p, r, &e.name, "fit/embed", &err));
                    progress.step(&format!("{label} {} FAILED", e.name));
                }
                progress.line(&format!("error: {label}: {err}"));
                return;
            }
        }
    } else {
        (fit_s, embed_s) = fit_seconds_of(ctx, r);
    }
    for (i, e) in r.evals.iter().enumerate() {
        let (result, was_cached) = match cached[i].take() {
            Some(o) => (Ok((o, eval_secs[i])), true),
            None => {
                let f = features.as_ref().expect("features are loaded when an evaluation is missing");
                (guarded(|| stages::evaluate(ctx, p, r, e, f)), false)
            }
        };
        match result {
            Ok((o, secs)) => {
                if was_cached {
                    out.cached_cells += 1;
                } else {
                    out.computed_cells += 1;
                }
                for (metric, value) in o.metrics {
                    out.rows.push(ResultRow {
                        suite: p.point.suite.suite.clone(),
                        representation: r.name.clone(),
                        kind: r.spec.kind().into(),
                        evaluation: e.name.clone(),
                        eval_kind: e.spec.kind().into(),
                        metric,
                        value,
                        seed,
                        params: p.point.params(),
                        cell_key: e.key.0.clone(),
                        cached: was_cached,
                        fit_seconds: fit_s,
                        embed_seconds: embed_s,
                        eval_seconds: secs,
                    });
                }
                progress.step(&format!("{label} {}{}", e.name, if was_cached { " (cached)" } else { "" }));
            }
            Err(err) => {
                progress.line(&format!("error: {label} {}: {err}", e.name));
                out.failures.push(failure(p, r, &e.name, "eval", &err));
                progress.step(&format!("{label} {} FAILED", e.name));
            }
        }
    }
}

fn failure(p: &PointPlan, r: &RepPlan, eval: &str, stage: &str, err: &Error) -> Failure {
    Failure {
        representation: r.name.clone(),
        evaluation: eval.to_string(),
        seed: p.point.suite.seed,
        params: p.point.params(),
        stage: stage.into(),
        error: err.to_string(),
    }
}
