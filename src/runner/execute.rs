//! Walks a plan. For each matrix point and representation: if every evaluation is
//! cached, read the metrics (no data, no features); otherwise load what is
//! missing lazily — features from the cache, or the data, split and fit — and run
//! only the missing evaluations. A failure (error or panic inside libtorch) is
//! recorded for its cells and the suite goes on.
use super::outcome::Outcome;
use super::outcome::{failure, push_cross_rows, push_rows, record};
use super::plan::{DataPlan, EvalPlan, PointPlan, RepPlan, SuitePlan};
use super::progress::Progress;
use super::stages::{self, StageCtx};
use super::{Failure, TrainLogRecord};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::eval::{EvalOutput, Features, ModelInputs, SplitImages};
use crate::represent::Fitted;
use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use tch::Tensor;

/// Loads each dataset (and class subset) at most once per run.
pub struct DataMemo<'p> {
    plan: &'p SuitePlan,
    store: &'p crate::cache::store::Store,
    /// By source, classes kept and label map (JSON): what `prepared` makes.
    loaded: HashMap<(usize, Vec<usize>, String), Arc<Dataset>>,
}

impl<'p> DataMemo<'p> {
    pub fn new(plan: &'p SuitePlan, store: &'p crate::cache::store::Store) -> DataMemo<'p> {
        DataMemo { plan, store, loaded: HashMap::new() }
    }

    /// The data of a matrix point as it prepares it (class subset, label map).
    pub fn get(&mut self, dp: &DataPlan) -> Result<Arc<Dataset>> {
        let map = serde_json::to_string(&dp.spec.label_map).unwrap_or_default();
        let key = (dp.source_index, dp.spec.classes.clone(), map);
        if let Some(d) = self.loaded.get(&key) {
            return Ok(d.clone());
        }
        let full = match self.loaded.get(&(dp.source_index, Vec::new(), String::new())) {
            Some(d) => d.clone(),
            None => {
                let d = Arc::new(self.plan.datasets[dp.source_index].load(self.store, true)?);
                self.loaded.insert((dp.source_index, Vec::new(), String::new()), d.clone());
                d
            }
        };
        let s = &dp.spec;
        let d = if s.classes.is_empty() && s.class_names.is_none() && s.label_map.is_empty() {
            full
        } else {
            Arc::new(full.prepared(s.class_names.as_deref(), &s.classes, &s.label_map)?)
        };
        self.loaded.insert(key, d.clone());
        Ok(d)
    }
}

fn panic_text(p: Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "panic".into())
}

/// Runs `f`, turning a panic (libtorch reports shape errors that way) into an error.
fn guarded<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|p| Err(Error::stage(panic_text(p))))
}

/// The independent units of work, in plan order: one (matrix point,
/// representation) each — its fit, embedding and evaluations run in stage
/// order inside the unit. Cross-representation evaluations come after all units.
pub fn units(plan: &SuitePlan) -> Vec<(usize, usize)> {
    plan.points.iter().enumerate().flat_map(|(i, p)| (0..p.reps.len()).map(move |j| (i, j))).collect()
}

/// Runs one unit (see `units`): what a parallel or Slurm worker does.
pub fn run_unit(plan: &SuitePlan, ctx: &StageCtx, progress: &Progress, unit: usize) -> crate::error::Result<Outcome> {
    let all = units(plan);
    let &(pi, ri) = all.get(unit).ok_or_else(|| {
        Error::stage(format!(
            "unit {unit} does not exist: the suite has {} units (0..{})",
            all.len(),
            all.len().saturating_sub(1)
        ))
    })?;
    let mut out = Outcome::empty();
    let mut memo = DataMemo::new(plan, ctx.store);
    let _ = run_rep(ctx, &plan.points[pi], &plan.points[pi].reps[ri], &mut memo, progress, &mut out);
    out.interrupted = crate::runtime::interrupt::requested();
    Ok(out)
}

pub fn run(plan: &SuitePlan, ctx: &StageCtx, progress: &Progress) -> Outcome {
    let mut out = Outcome::empty();
    let mut memo = DataMemo::new(plan, ctx.store);
    for p in &plan.points {
        if crate::runtime::interrupt::requested() {
            out.interrupted = true;
            break;
        }
        for (rep, eval, why) in &p.skipped {
            out.skipped.push(Failure {
                representation: rep.clone(),
                evaluation: eval.clone(),
                seed: p.point.suite.seed,
                params: p.point.params(),
                stage: "plan".into(),
                error: format!("not applicable: {why}"),
            });
        }
        let mut test_feats: HashMap<String, Tensor> = HashMap::new();
        for r in &p.reps {
            if crate::runtime::interrupt::requested() {
                break;
            }
            if let Some(t) = run_rep(ctx, p, r, &mut memo, progress, &mut out) {
                if !p.cross.is_empty() {
                    test_feats.insert(r.name.clone(), t);
                }
            }
        }
        for e in p.cross.iter().take_while(|_| !crate::runtime::interrupt::requested()) {
            run_cross(ctx, p, e, &mut memo, &mut test_feats, progress, &mut out);
        }
    }
    out.interrupted |= crate::runtime::interrupt::requested();
    // Cells that were stopped are not failures: a re-run computes them.
    if out.interrupted {
        out.failures.retain(|f| f.error != Error::Interrupted.to_string());
    }
    out
}

fn fit_seconds_of(ctx: &StageCtx, r: &RepPlan) -> (f64, f64) {
    let s = |k| ctx.store.get(k).ok().flatten().map(|e| e.meta.seconds).unwrap_or(f64::NAN);
    (s(&r.fit_key), s(&r.embed_key))
}

/// What the missing evaluations of a representation read.
struct Loaded {
    features: Features,
    fitted: Option<Box<dyn Fitted>>,
    images: Option<SplitImages>,
    fit_s: f64,
    embed_s: f64,
}

/// Features from the cache, or by fitting (or restoring the fit) and embedding;
/// with `need_model`, also the fitted model and the split images.
fn load_rep(ctx: &StageCtx, p: &PointPlan, r: &RepPlan, memo: &mut DataMemo, need_model: bool) -> Result<Loaded> {
    let cached = stages::cached_features(ctx, r)?;
    if !need_model {
        if let Some((features, embed_s)) = cached {
            let (fit_s, _) = fit_seconds_of(ctx, r);
            return Ok(Loaded { features, fitted: None, images: None, fit_s, embed_s });
        }
    }
    let fit_ds = memo.get(p.fit_data())?;
    let fit_splits = stages::splits(ctx, &p.point.suite.suite, p.fit_data(), &fit_ds)?;
    let (fitted, fit_s) = stages::fit(ctx, p, r, &fit_ds, &fit_splits)?;
    let ds = memo.get(&p.data)?;
    let splits =
        if p.pretrain.is_some() { stages::splits(ctx, &p.point.suite.suite, &p.data, &ds)? } else { fit_splits };
    let (features, embed_s) = match cached {
        Some(c) => c,
        None => stages::embed(ctx, p, r, &ds, &splits, fitted.as_ref())?,
    };
    let images = need_model.then(|| SplitImages {
        train: ds.train.select(&splits.train),
        val: ds.train.select(&splits.val),
        test: ds.test.select(&splits.test),
        num_classes: ds.num_classes as i64,
    });
    Ok(Loaded { features, fitted: need_model.then_some(fitted), images, fit_s, embed_s })
}

/// Runs (or reads) every per-representation evaluation of `r`; returns the test
/// features when they were loaded.
///
/// Long on purpose: the order of a representation's stages (read cached cells, load or fit and embed only
/// what is missing, then run and record each evaluation) is the runner's contract, kept in one place.
fn run_rep(
    ctx: &StageCtx,
    p: &PointPlan,
    r: &RepPlan,
    memo: &mut DataMemo,
    progress: &Progress,
    out: &mut Outcome,
) -> Option<Tensor> {
    let label = p.label(&r.name);
    let mut cached: Vec<Option<(EvalOutput, f64)>> = r
        .evals
        .iter()
        .map(|e| {
            ctx.cached(&e.key).ok().flatten().and_then(|h| stages::read_eval(&h).ok().map(|o| (o, h.meta.seconds)))
        })
        .collect();
    let missing: Vec<&EvalPlan> = r.evals.iter().zip(&cached).filter(|(_, c)| c.is_none()).map(|(e, _)| e).collect();
    if ctx.cached_only && !missing.is_empty() {
        let err = Error::stage(
            "not computed: its worker did not finish (see the worker's log); run without --cached-only to compute it here",
        );
        for e in &missing {
            out.failures.push(failure(p, &r.name, &e.name, "worker", &err));
            progress.step(&format!("{label} {} NOT COMPUTED", e.name));
        }
    }
    let mut loaded: Option<Loaded> = None;
    let (mut fit_s, mut embed_s) = fit_seconds_of(ctx, r);
    if !missing.is_empty() && !ctx.cached_only {
        let need_model = missing.iter().any(|e| e.spec.scope() == crate::eval::Scope::Model);
        match guarded(|| load_rep(ctx, p, r, memo, need_model)) {
            Ok(l) => {
                (fit_s, embed_s) = (l.fit_s, l.embed_s);
                loaded = Some(l);
            }
            Err(err) => {
                for e in &r.evals {
                    out.failures.push(failure(p, &r.name, &e.name, "fit/embed", &err));
                    progress.step(&format!("{label} {} FAILED", e.name));
                }
                progress.error(&format!("error: {label}: {err}"));
                return None;
            }
        }
    }
    match stages::train_log(ctx, r) {
        Ok(Some(log)) => {
            let (seed, params) = (p.point.suite.seed, p.point.params());
            out.train_logs.push(TrainLogRecord { representation: r.name.clone(), seed, params, log });
        }
        Ok(None) => {}
        // The results stand without their training curves; say so on stderr.
        Err(err) => progress.error(&format!("warning: {label}: training log not read: {err}")),
    }
    for (i, e) in r.evals.iter().enumerate() {
        let result = match (cached[i].take(), &loaded) {
            (Some((o, secs)), _) => Ok((o, secs, true)),
            (None, Some(l)) => {
                let model = match (&l.fitted, &l.images) {
                    (Some(f), Some(images)) => Some(ModelInputs { fitted: f.as_ref(), spec: &r.spec, images }),
                    _ => None,
                };
                guarded(|| stages::evaluate(ctx, p, r, e, &l.features, model.as_ref()))
            }
            // --cached-only: listed as not computed above.
            (None, None) => continue,
        };
        let rows =
            |out: &mut Outcome, o: &EvalOutput, secs: f64, c: bool| push_rows(out, p, r, e, o, secs, c, fit_s, embed_s);
        record(out, progress, p, &r.name, e, result, rows);
    }
    loaded.map(|l| l.features.test_x)
}

/// A cross-representation evaluation (e.g. CKA) of one matrix point, on the
/// test features of every representation (loaded from the cache if needed).
fn run_cross(
    ctx: &StageCtx,
    p: &PointPlan,
    e: &EvalPlan,
    memo: &mut DataMemo,
    test: &mut HashMap<String, Tensor>,
    progress: &Progress,
    out: &mut Outcome,
) {
    let hit =
        ctx.cached(&e.key).ok().flatten().and_then(|h| stages::read_eval(&h).ok().map(|o| (o, h.meta.seconds, true)));
    let result = match hit {
        Some(h) => Ok(h),
        None => guarded(|| {
            let mut feats: Vec<(String, Tensor)> = Vec::with_capacity(p.reps.len());
            for r in &p.reps {
                let t = match test.get(&r.name) {
                    Some(t) => t.shallow_clone(),
                    None => {
                        let t = load_rep(ctx, p, r, memo, false)?.features.test_x;
                        test.insert(r.name.clone(), t.shallow_clone());
                        t
                    }
                };
                feats.push((r.name.clone(), t));
            }
            stages::cross(ctx, p, e, &feats)
        }),
    };
    record(out, progress, p, "*", e, result, |out, o, secs, c| push_cross_rows(out, p, e, o, secs, c));
}
