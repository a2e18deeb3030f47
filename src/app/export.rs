//! `repbench export`: a representation of a finished suite, out of the cache and
//! into files Python reads — its embeddings (`.npz`), its encoder's weights
//! (safetensors + JSON config) or its encoder as TorchScript (traced, with its
//! preprocessing in a JSON beside it). Each imports back as `embeddings`,
//! `checkpoint` or `torchscript` and gives the same metrics (docs/byo.md).
use crate::cache::store::Store;
use crate::error::{Error, Result};
use crate::files::{read_json, write_atomic};
use crate::runner::plan::{PointPlan, RepPlan, SuitePlan};
use crate::state::NamedTensors;
use serde_json::json;
use std::path::{Path, PathBuf};
use tch::{Device, Kind, Tensor};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// `<name>.npz`: train/val/test features, `<split>_ids` (official indices), `<split>_labels`.
    Embeddings,
    /// `<name>.safetensors` (the encoder's weights) + `<name>.json` (encoder, input standardisation).
    Weights,
    /// `<name>.ts.pt` (traced encoder, standardisation inside) + `<name>.json`.
    Torchscript,
}

pub struct ExportRequest<'a> {
    pub spec: &'a Path,
    pub cache: Option<&'a Path>,
    pub representation: &'a str,
    /// Which matrix point (index in `repbench plan` order); needed when the suite has several.
    pub point: Option<usize>,
    pub format: ExportFormat,
    pub out: &'a Path,
    /// TorchScript: the batch size traced.
    pub batch_size: i64,
}

/// Exports and returns the files written.
pub fn export(req: &ExportRequest) -> Result<Vec<PathBuf>> {
    let (plan, store) = super::plan_suite(req.spec, req.cache)?;
    let (p, r) = pick(&plan, req)?;
    std::fs::create_dir_all(req.out).map_err(|e| Error::io(req.out, e))?;
    let base = req.out.join(&r.name);
    match req.format {
        ExportFormat::Embeddings => embeddings(&plan, &store, p, r, &base),
        ExportFormat::Weights => weights(&store, r, &base),
        ExportFormat::Torchscript => torchscript(&store, r, &base, req.batch_size),
    }
}

fn pick<'p>(plan: &'p SuitePlan, req: &ExportRequest) -> Result<(&'p PointPlan, &'p RepPlan)> {
    let with: Vec<(usize, &PointPlan)> =
        plan.points.iter().enumerate().filter(|(_, p)| p.reps.iter().any(|r| r.name == req.representation)).collect();
    if with.is_empty() {
        let names: Vec<&str> =
            plan.points.first().map(|p| p.reps.iter().map(|r| r.name.as_str()).collect()).unwrap_or_default();
        return Err(Error::usage(format!(
            "the suite has no representation `{}` (it has {})",
            req.representation,
            names.join(", ")
        )));
    }
    let p = match (req.point, with.len()) {
        (Some(i), _) => with.iter().find(|(j, _)| *j == i).map(|(_, p)| *p).ok_or_else(|| {
            Error::usage(format!(
                "point {i} does not exist or lacks `{}` (points 0..{})",
                req.representation,
                plan.points.len()
            ))
        })?,
        (None, 1) => with[0].1,
        (None, _) => {
            let list: Vec<String> =
                with.iter().map(|(i, p)| format!("  --point {i}: {}", p.label(req.representation))).collect();
            return Err(Error::usage(format!(
                "the suite has {} matrix points; choose one:\n{}",
                with.len(),
                list.join("\n")
            )));
        }
    };
    let r = p.reps.iter().find(|r| r.name == req.representation).expect("filtered above");
    Ok((p, r))
}

fn not_cached(what: &str, r: &RepPlan) -> Error {
    Error::usage(format!("the {what} of `{}` is not in the cache: run the suite first (`repbench run SPEC`)", r.name))
}

fn embeddings(plan: &SuitePlan, store: &Store, p: &PointPlan, r: &RepPlan, base: &Path) -> Result<Vec<PathBuf>> {
    let e = store.get(&r.embed_key)?.ok_or_else(|| not_cached("embedding", r))?;
    let s = store.get(&p.data.key)?.ok_or_else(|| not_cached("data split", r))?;
    let splits: crate::data::split::Splits = read_json(&s.file("splits.json"))?;
    let feats = NamedTensors::from(Tensor::read_safetensors(e.file("embeddings.safetensors"))?);
    let full = plan.datasets[p.data.source_index].load(store, true)?;
    let ds = full.prepared(p.data.spec.class_names.as_deref(), &p.data.spec.classes, &p.data.spec.label_map)?;
    let mut arrays: Vec<(String, Tensor)> = Vec::new();
    for (name, idx, set) in
        [("train", &splits.train, &ds.train), ("val", &splits.val, &ds.train), ("test", &splits.test, &ds.test)]
    {
        let ids: Vec<i64> = idx.iter().map(|&i| set.official_index(i) as i64).collect();
        arrays.push((name.into(), feats.require(&format!("{name}_x"), "the cached embedding")?));
        arrays.push((format!("{name}_ids"), Tensor::from_slice(&ids)));
        arrays.push((format!("{name}_labels"), feats.require(&format!("{name}_y"), "the cached embedding")?));
    }
    let path = base.with_extension("npz");
    write_via_temp(&path, |tmp| Ok(Tensor::write_npz(&arrays, tmp)?))?;
    Ok(vec![path])
}

/// The fitted state of a learned representation, and its method's backbone prefix.
fn learned_state<'r>(store: &Store, r: &'r RepPlan) -> Result<(NamedTensors, &'r dyn crate::methods::Method)> {
    let method = r.spec.method().ok_or_else(|| {
        Error::usage(format!(
            "`{}` ({}) has no encoder to export; `--format embeddings` exports its features",
            r.name,
            r.spec.kind()
        ))
    })?;
    let e = store.get(&r.fit_key)?.ok_or_else(|| not_cached("fit", r))?;
    Ok((Tensor::read_safetensors(e.file("state.safetensors"))?.into(), method))
}

/// Per-channel values of the normaliser as plain numbers (f32 → f64 is exact).
fn channel_values(state: &NamedTensors, name: &str) -> Result<Vec<f64>> {
    let t = state.require(name, "the fitted state")?.to_kind(Kind::Double).flatten(0, -1);
    Vec::try_from(t).map_err(|e| Error::stage(format!("{name}: {e}")))
}

fn weights(store: &Store, r: &RepPlan, base: &Path) -> Result<Vec<PathBuf>> {
    let (state, method) = learned_state(store, r)?;
    let prefix = format!("{}.", method.backbone_prefix());
    let tensors: Vec<(String, Tensor)> = state
        .0
        .iter()
        .filter_map(|(k, t)| {
            k.strip_prefix(&prefix).map(|rest| (rest.to_string(), t.to_device(Device::Cpu).contiguous()))
        })
        .collect();
    if tensors.is_empty() {
        return Err(Error::stage(format!("the fitted state of `{}` has no tensors under {prefix}", r.name)));
    }
    let path = base.with_extension("safetensors");
    write_via_temp(&path, |tmp| Ok(Tensor::write_safetensors(&tensors, tmp)?))?;
    let config = json!({
        "kind": "checkpoint",
        "encoder": method.encoder(),
        "input": { "mean": channel_values(&state, "vs/norm.mean")?, "std": channel_values(&state, "vs/norm.std")? },
        "image_shape": shape(&state)?,
        "exported_from": { "representation": r.name, "method": r.spec.kind(), "fit_key": r.fit_key.0, "backbone": method.backbone_prefix() },
        "note": "input: pixels / 255, then (x - mean) / std per channel; keys are repbench's encoder names"
    });
    let cfg = base.with_extension("json");
    write_atomic(&cfg, serde_json::to_string_pretty(&config).unwrap_or_default().as_bytes())?;
    Ok(vec![path, cfg])
}

fn shape(state: &NamedTensors) -> Result<Vec<i64>> {
    let s = state.require("info/shape", "the fitted state")?;
    Vec::try_from(s).map_err(|e| Error::stage(format!("info/shape: {e}")))
}

fn torchscript(store: &Store, r: &RepPlan, base: &Path, batch: i64) -> Result<Vec<PathBuf>> {
    if batch < 1 {
        return Err(Error::usage("--batch-size must be at least 1"));
    }
    let (state, method) = learned_state(store, r)?;
    let fitted = crate::represent::learned::restore(method, &state, Device::Cpu)?;
    let sh = shape(&state)?;
    let example = Tensor::zeros([batch, sh[0], sh[1], sh[2]], (Kind::Float, Device::Cpu));
    let module = fitted.to_torchscript(example)?;
    let path = base.with_extension("ts.pt");
    write_via_temp(&path, |tmp| Ok(module.save(tmp)?))?;
    // A ViT's reshapes are traced with the batch size as a constant.
    let fixed = method.encoder().is_vit();
    let config = json!({
        "kind": "torchscript",
        "input": { "scale": true, "channels": sh[0], "size": [sh[1], sh[2]] },
        "batch_size": batch,
        "fixed_batch": fixed,
        "exported_from": { "representation": r.name, "method": r.spec.kind(), "fit_key": r.fit_key.0 },
        "note": "input: float N x C x H x W in [0, 1] (pixels / 255); the standardisation is inside the module"
    });
    let cfg = base.with_extension("json");
    write_atomic(&cfg, serde_json::to_string_pretty(&config).unwrap_or_default().as_bytes())?;
    Ok(vec![path, cfg])
}

/// Writes through a temporary file in the same folder, renamed into place, so
/// an interrupted export leaves no half-written file under the final name.
fn write_via_temp(path: &Path, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp =
        tempfile::Builder::new().prefix("partial-").suffix(".tmp").tempfile_in(dir).map_err(|e| Error::io(dir, e))?;
    write(tmp.path())?;
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    Ok(())
}
