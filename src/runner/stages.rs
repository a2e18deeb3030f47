//! The four stages, each "read from the cache or compute and store":
//! data split → representation fit → embeddings → evaluation.
use super::plan::{DataPlan, EvalPlan, PointPlan, RepPlan};
use crate::cache::lock::KeyLock;
use crate::cache::store::{Entry, Store};
use crate::data::split::{make_splits, SplitPlan, Splits};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::eval::{EvalContext, EvalOutput, Features, Input, ModelInputs, Scope};
use crate::files::{read_json, write_json};
use crate::represent::{FitContext, Fitted, Part};
use crate::runtime::seeding;
use crate::train::trainer::EpochLog;
use std::time::Instant;
use tch::{Device, Tensor};

pub struct StageCtx<'a> {
    pub store: &'a Store,
    pub device: Device,
    /// Recompute and replace entries even when they exist.
    pub force: bool,
    /// Compute nothing but cross-representation evaluations (the final pass
    /// after parallel or Slurm workers); missing cells are reported as failed.
    pub cached_only: bool,
    /// Progress lines from inside a stage (training epochs).
    pub log: &'a dyn Fn(&str),
}

impl StageCtx<'_> {
    /// The entry for a key unless `--force` asks to recompute it.
    pub fn cached(&self, key: &crate::cache::key::Key) -> Result<Option<Entry>> {
        if self.force {
            return Ok(None);
        }
        self.store.get(key)
    }

    /// Takes the key's lock, then looks again: a process sharing the cache may
    /// have computed the entry while this one waited.
    pub fn lock_then_cached(&self, key: &crate::cache::key::Key) -> Result<(KeyLock, Option<Entry>)> {
        let lock = self.store.lock(key)?;
        Ok((lock, self.cached(key)?))
    }
}

/// The class counts of a data entry's splits (entries written before it existed lack it).
pub const COUNTS_FILE: &str = "counts.json";

/// Train/val/test indices of a matrix point's data (or its pretraining data).
pub fn splits(ctx: &StageCtx, suite: &str, dp: &DataPlan, data: &Dataset) -> Result<Splits> {
    if let Some(e) = ctx.cached(&dp.key)? {
        return read_json(&e.file("splits.json"));
    }
    let (_lock, hit) = ctx.lock_then_cached(&dp.key)?;
    if let Some(e) = hit {
        return read_json(&e.file("splits.json"));
    }
    let d = &dp.spec;
    let plan = SplitPlan {
        holdout_classes: &d.holdout_classes,
        train_size: d.train_size,
        test_size: d.test_size,
        val_fraction: d.val_fraction,
        official_val: data.official_val.clone(),
    };
    check_sizes(data, &plan)?;
    let s = make_splits(&data.train.labels, &data.test.labels, &plan, dp.seed);
    if s.val.is_empty() {
        return Err(Error::stage(format!(
            "dataset {}: val_fraction {} of {} training images leaves no validation image (every selection needs one)",
            data.name,
            plan.val_fraction,
            s.train.len()
        )));
    }
    if s.train.is_empty() || s.test.is_empty() {
        return Err(Error::stage(format!(
            "dataset {}: the split leaves {} train and {} test samples",
            data.name,
            s.train.len(),
            s.test.len()
        )));
    }
    let mut info = serde_json::json!({ "config": dp.config, "upstream": [], "suite": suite });
    info["dataset"] = serde_json::json!(data.name);
    ctx.store.put(&dp.key, "data", info, ctx.force, |dir| {
        write_json(&dir.join("splits.json"), &s)?;
        write_json(&dir.join(COUNTS_FILE), &crate::data::split::SplitClassCounts::of(data, &s))?;
        Ok(0.0)
    })?;
    Ok(s)
}

/// Refuses subset sizes the data cannot give: a stratified draw would
/// otherwise silently take fewer images than the suite says.
fn check_sizes(data: &Dataset, plan: &SplitPlan) -> Result<()> {
    let official = plan.official_val.clone().unwrap_or(0..0);
    let available = (0..data.train.len())
        .filter(|i| !official.contains(i) && !plan.holdout_classes.contains(&(data.train.labels[*i] as usize)))
        .count();
    if let Some(n) = plan.train_size {
        if n > available {
            return Err(Error::stage(format!(
                "dataset {}: train_size {n} but the train part holds {available} images{}",
                data.name,
                if plan.holdout_classes.is_empty() { String::new() } else { " outside the held-out classes".into() }
            )));
        }
    }
    if let Some(n) = plan.test_size {
        if n > data.test.len() {
            return Err(Error::stage(format!(
                "dataset {}: test_size {n} but the test part holds {} images",
                data.name,
                data.test.len()
            )));
        }
    }
    Ok(())
}

/// The fitted representation and the seconds its fit took (then or now).
pub fn fit(ctx: &StageCtx, p: &PointPlan, r: &RepPlan, data: &Dataset, s: &Splits) -> Result<(Box<dyn Fitted>, f64)> {
    let restore = |e: Entry| -> Result<(Box<dyn Fitted>, f64)> {
        let path = e.file("state.safetensors");
        let state = if path.exists() { Tensor::read_safetensors(&path)? } else { Vec::new() };
        Ok((r.spec.restore(&state.into(), ctx.device)?, e.meta.seconds))
    };
    if let Some(e) = ctx.cached(&r.fit_key)? {
        return restore(e);
    }
    // One trainer per fit key across processes: they would share checkpoints.
    let (_lock, hit) = ctx.lock_then_cached(&r.fit_key)?;
    if let Some(e) = hit {
        return restore(e);
    }
    // Learned methods on a memory-mapped store stream their batches from it
    // (no copy of the training set); the others take the split's images.
    let stream = r.spec.method().is_some() && data.train.images.is_mapped();
    let rows = Tensor::from_slice(&s.train.iter().map(|&i| i as i64).collect::<Vec<i64>>());
    let (train, labels) = if !r.spec.reads_pixels() {
        // Only the shape is read: an empty tensor of it (and no labels).
        let set = &data.train;
        let shape = [0, set.channels as i64, set.height as i64, set.width as i64];
        (Tensor::zeros(shape, (tch::Kind::Uint8, Device::Cpu)), Tensor::zeros([0], (tch::Kind::Int64, Device::Cpu)))
    } else if stream {
        // SAFETY: `data` outlives this function, and the view is dropped with
        // `train` at its end; training only reads (index_select) from it.
        let labels = Tensor::from_slice(&s.train.iter().map(|&i| data.train.labels[i]).collect::<Vec<i64>>());
        (unsafe { data.train.view_all() }, labels)
    } else {
        data.train.select(&s.train)
    };
    // The validation images are for learned methods (the k-NN monitor);
    // the other kinds never look at them.
    let (val, val_labels) = if r.spec.method().is_some() { data.train.select(&s.val) } else { data.train.select(&[]) };
    let ckpt_dir = ctx.store.root.join("checkpoints").join(&r.fit_key.0);
    let fctx = FitContext {
        device: ctx.device,
        // Not from the name: the fit key holds the spec and the seed but not
        // the name, so a name-derived seed would make a cached fit depend on
        // which identically-specified representation ran first.
        seed: seeding::derive(p.point.suite.seed, "fit"),
        labels: Some(&labels),
        val: Some((&val, &val_labels)),
        num_classes: data.num_classes as i64,
        checkpoint_dir: Some(ckpt_dir.clone()),
        log: ctx.log,
        rows: stream.then_some(&rows),
    };
    if ctx.force {
        let _ = std::fs::remove_dir_all(&ckpt_dir);
    }
    let t = Instant::now();
    let fitted = r.spec.fit(&train, &fctx)?;
    let secs = t.elapsed().as_secs_f64();
    // Where it was computed is not part of the key (docs/spec.md, "What a key
    // covers"), so the entry says it: a cached fit can come from another device,
    // thread count or subnormal setting than the run that reads it.
    let computed_on = serde_json::json!({
        "device": format!("{:?}", ctx.device),
        "threads": tch::get_num_threads(),
        "flush_denormals": crate::runtime::denormals::flushed(),
    });
    let info = serde_json::json!({ "config": r.fit_config, "upstream": [p.fit_data().key], "representation": r.name, "suite": p.point.suite.suite, "computed_on": computed_on });
    ctx.store.put(&r.fit_key, "fit", info, ctx.force, |dir| {
        let state = fitted.state();
        if !state.is_empty() {
            let cpu: Vec<(String, Tensor)> =
                state.into_iter().map(|(n, t)| (n, t.to_device(Device::Cpu).contiguous())).collect();
            Tensor::write_safetensors(&cpu, dir.join("state.safetensors"))?;
        }
        if let Some(log) = fitted.train_log() {
            write_json(&dir.join("train_log.json"), &log)?;
        }
        Ok(secs)
    })?;
    // The final weights are in the cache now; the epoch checkpoints are not needed.
    let _ = std::fs::remove_dir_all(&ckpt_dir);
    Ok((fitted, secs))
}

/// Features of the three splits, from the cache or by embedding.
pub fn embed(
    ctx: &StageCtx,
    p: &PointPlan,
    r: &RepPlan,
    data: &Dataset,
    s: &Splits,
    fitted: &dyn Fitted,
) -> Result<(Features, f64)> {
    let (_lock, hit) = ctx.lock_then_cached(&r.embed_key)?;
    if let Some(e) = hit {
        let m = crate::cache::mapped_tensors::read(&e.file("embeddings.safetensors"))?;
        return Ok((features_from(m)?, e.meta.seconds));
    }
    let t = Instant::now();
    let mut tensors = Vec::new();
    for (name, idx, set, part) in [
        ("train", &s.train, &data.train, Part::Train),
        ("val", &s.val, &data.train, Part::Train),
        ("test", &s.test, &data.test, Part::Test),
    ] {
        let rows: Vec<usize> = idx.iter().map(|&i| set.official_index(i)).collect();
        let e = match fitted.embed_rows(part, &rows, set.official_len()) {
            Some(looked_up) => looked_up?,
            None if idx.is_empty() => Tensor::zeros([0, 1], (tch::Kind::Float, ctx.device)),
            None => embed_chunked(fitted, set, idx, ctx.device)?,
        };
        let y = Tensor::from_slice(&idx.iter().map(|&i| set.labels[i]).collect::<Vec<i64>>());
        tensors.push((format!("{name}_x"), e.to_device(Device::Cpu).contiguous()));
        tensors.push((format!("{name}_y"), y));
    }
    tensors.push(("num_classes".into(), Tensor::from_slice(&[data.num_classes as i64])));
    let secs = t.elapsed().as_secs_f64();
    let upstream = if p.pretrain.is_some() { vec![&r.fit_key, &p.data.key] } else { vec![&r.fit_key] };
    let info = serde_json::json!({ "upstream": upstream, "representation": r.name, "suite": p.point.suite.suite });
    let entry = ctx.store.put(&r.embed_key, "embed", info, ctx.force, |dir| {
        crate::cache::mapped_tensors::write(&dir.join("embeddings.safetensors"), &tensors)?;
        Ok(secs)
    })?;
    // The evaluations read the features from the entry, mapped, as a later
    // run would: the pages are file-backed, so the computed copy is freed.
    drop(tensors);
    let m = crate::cache::mapped_tensors::read(&entry.file("embeddings.safetensors"))?;
    Ok((features_from(m)?, secs))
}

/// Images embedded per call: bounds the images in memory at once (one
/// chunk's u8 copy and its activations), whatever the split's size.
const EMBED_CHUNK: usize = 8192;

/// Embeds the images `idx` of `set` a chunk at a time and concatenates the
/// features (on the CPU: only the features of the whole split are kept).
fn embed_chunked(fitted: &dyn Fitted, set: &crate::data::ImageSet, idx: &[usize], device: Device) -> Result<Tensor> {
    if idx.len() <= EMBED_CHUNK {
        return fitted.embed(&set.select(idx).0, device);
    }
    // Each chunk's features are copied into one matrix made at the first
    // chunk: concatenating the chunks at the end would hold them twice.
    let mut out: Option<Tensor> = None;
    for (i, c) in idx.chunks(EMBED_CHUNK).enumerate() {
        let e = fitted.embed(&set.select(c).0, device)?.to_device(Device::Cpu);
        let all = out.get_or_insert_with(|| {
            let mut shape = e.size();
            shape[0] = idx.len() as i64;
            Tensor::empty(shape.as_slice(), (e.kind(), Device::Cpu))
        });
        all.narrow(0, (i * EMBED_CHUNK) as i64, e.size()[0]).copy_(&e);
    }
    out.ok_or_else(|| Error::stage("nothing to embed"))
}

/// Reads cached embeddings.
pub fn cached_features(ctx: &StageCtx, r: &RepPlan) -> Result<Option<(Features, f64)>> {
    match ctx.cached(&r.embed_key)? {
        Some(e) => {
            let m = crate::cache::mapped_tensors::read(&e.file("embeddings.safetensors"))?;
            Ok(Some((features_from(m)?, e.meta.seconds)))
        }
        None => Ok(None),
    }
}

fn features_from(mut tensors: Vec<(String, Tensor)>) -> Result<Features> {
    let mut take = |n: &str| -> Result<Tensor> {
        let i =
            tensors.iter().position(|(k, _)| k == n).ok_or_else(|| Error::stage(format!("embeddings lack `{n}`")))?;
        Ok(tensors.swap_remove(i).1)
    };
    let num_classes = take("num_classes")?.int64_value(&[0]);
    Ok(Features {
        train_x: take("train_x")?,
        train_y: take("train_y")?,
        val_x: take("val_x")?,
        val_y: take("val_y")?,
        test_x: take("test_x")?,
        test_y: take("test_y")?,
        num_classes,
    })
}

/// The seed of an evaluation's draws (label subsets, few-shot draws, probe
/// minibatch orders, cluster initialisations): from the evaluation data's key
/// (dataset fingerprint, split and split seed), the suite's seed and the
/// evaluation, never from the representation, so every representation of a
/// cell sees the same draws and comparisons pair on them. Evaluations label
/// each purpose under it (`label_fraction/0.01`, `val`, `block3`).
pub fn eval_seed(p: &PointPlan, e: &EvalPlan) -> u64 {
    seeding::derive(p.point.suite.seed, &format!("eval/{}/{}", p.data.key, e.name))
}

/// Runs one evaluation and stores its metrics; the flag says whether another
/// process sharing the cache stored it first (while this one waited for the lock).
pub fn evaluate(
    ctx: &StageCtx,
    p: &PointPlan,
    r: &RepPlan,
    e: &EvalPlan,
    f: &Features,
    model: Option<&ModelInputs>,
) -> Result<(EvalOutput, f64, bool)> {
    let ectx = EvalContext { device: ctx.device, seed: eval_seed(p, e) };
    let (_lock, hit) = ctx.lock_then_cached(&e.key)?;
    if let Some(h) = hit {
        return Ok((read_eval(&h)?, h.meta.seconds, true));
    }
    let input = match model {
        Some(m) => Input::Model(f, m),
        None => Input::Features(f),
    };
    let t = Instant::now();
    let out = e.spec.evaluate(&input, &ectx)?;
    let secs = t.elapsed().as_secs_f64();
    let (out, secs) = store_eval(ctx, p, r, e, out, secs)?;
    Ok((out, secs, false))
}

/// Stores an evaluation's output under its key.
pub fn store_eval(
    ctx: &StageCtx,
    p: &PointPlan,
    r: &RepPlan,
    e: &EvalPlan,
    out: EvalOutput,
    secs: f64,
) -> Result<(EvalOutput, f64)> {
    if let Some((m, v)) = out.metrics.iter().find(|(_, v)| !v.is_finite() && !v.is_nan()) {
        return Err(Error::stage(format!("metric {m} is not finite ({v})")));
    }
    let upstream = if e.spec.scope() == Scope::Model { vec![&r.embed_key, &p.data.key] } else { vec![&r.embed_key] };
    let info = serde_json::json!({ "config": e.config, "upstream": upstream, "representation": r.name, "evaluation": e.name, "suite": p.point.suite.suite });
    ctx.store.put(&e.key, "eval", info, ctx.force, |dir| {
        write_json(&dir.join("metrics.json"), &out)?;
        Ok(secs)
    })?;
    Ok((out, secs))
}

/// Runs (or reads) a cross-representation evaluation of a point on the test
/// features of its representations, (name, features) in suite order.
pub fn cross(
    ctx: &StageCtx,
    p: &PointPlan,
    e: &EvalPlan,
    test: &[(String, Tensor)],
) -> Result<(EvalOutput, f64, bool)> {
    let (_lock, hit) = ctx.lock_then_cached(&e.key)?;
    if let Some(h) = hit {
        return Ok((read_eval(&h)?, h.meta.seconds, true));
    }
    let ectx = EvalContext { device: ctx.device, seed: eval_seed(p, e) };
    let t = Instant::now();
    let out = e.spec.evaluate(&Input::Cross(test), &ectx)?;
    let secs = t.elapsed().as_secs_f64();
    let upstream: Vec<&crate::cache::key::Key> = p.reps.iter().map(|r| &r.embed_key).collect();
    let info = serde_json::json!({ "config": e.config, "upstream": upstream, "evaluation": e.name, "suite": p.point.suite.suite });
    ctx.store.put(&e.key, "eval", info, ctx.force, |dir| {
        write_json(&dir.join("metrics.json"), &out)?;
        Ok(secs)
    })?;
    Ok((out, secs, false))
}

/// The training log stored with a fitted representation, if it has one; a
/// log that does not read as epochs is an error naming the file.
pub fn train_log(ctx: &StageCtx, r: &RepPlan) -> Result<Option<Vec<EpochLog>>> {
    let Some(e) = ctx.store.get(&r.fit_key)? else { return Ok(None) };
    let path = e.file("train_log.json");
    if !path.exists() {
        return Ok(None);
    }
    read_json(&path).map(Some)
}

/// Reads a cached evaluation's metrics.
pub fn read_eval(entry: &Entry) -> Result<EvalOutput> {
    read_json(&entry.file("metrics.json"))
}
