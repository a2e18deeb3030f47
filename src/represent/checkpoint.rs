//! Weights trained elsewhere, loaded into one of repbench's own encoders from a
//! safetensors state dict. The loaded encoder is a learned representation like
//! a trained one (fitted state `vs/encoder.*` + `vs/norm.*`), so every learned-
//! encoder evaluation works on it: probes by depth, fine-tuning, ViT attention.
//!
//! Loading is strict: every encoder variable must be given exactly once, with
//! its shape; missing and unexpected keys are listed with their nearest names.
//! Keys are rewritten before matching by `rename` (prefix → replacement, the
//! first that matches) and dropped by `ignore` (prefixes, e.g. a classifier
//! `fc.`); `num_batches_tracked` is ignored; half-precision weights are
//! converted. For `resnet18`, torchvision's layout (`conv1`, `bn1`,
//! `layerN.M.downsample.0/1`) is read as repbench's (`stem.conv`, `stem.bn`,
//! `down.conv/bn`), the layout solo-learn and most papers save.
use super::imported::check_required;
use super::{FitContext, Fitted, Representation};
use crate::checks::{Checker, Validate};
use crate::error::{Error, Result};
use crate::methods::{BuildInfo, BuildResult, Method, Normalizer};
use crate::nn::{Encoder, EncoderSpec};
use crate::state::NamedTensors;
use crate::train::trainer::{Objective, StepInfo, TrainParams};
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use tch::{nn, Device, Tensor};

/// The standardisation the weights were trained with, on [0, 1] pixels.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Standardize {
    /// One value, or one per channel; empty = 0.
    pub mean: Vec<f64>,
    /// One value, or one per channel; empty = 1.
    pub std: Vec<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CheckpointParams {
    /// A `.safetensors` state dict.
    pub path: PathBuf,
    /// The encoder the weights belong to (`arch:` and its sizes).
    pub encoder: EncoderSpec,
    /// Key prefix → replacement, e.g. `backbone.: ""`.
    pub rename: IndexMap<String, String>,
    /// Key prefixes (as in the file) to drop, e.g. `fc.` for a classifier head.
    pub ignore: Vec<String>,
    pub input: Standardize,
    /// Never read: a checkpoint is loaded, not trained (`Method` asks for it).
    #[serde(skip)]
    train: TrainParams,
}

/// Version of the loading (key mapping, conversions).
pub const VERSION: u32 = 1;

impl Representation for CheckpointParams {
    fn version(&self) -> u32 {
        VERSION
    }
    fn fit(&self, train: &Tensor, ctx: &FitContext) -> Result<Box<dyn Fitted>> {
        let s = train.size();
        let info = BuildInfo { shape: (s[1], s[2], s[3]), num_classes: ctx.num_classes };
        let fitted = super::learned::pretrained(self, info, ctx.device, ctx.seed, |vs| self.load_into(vs, s[1]))?;
        Ok(Box::new(fitted))
    }
    fn restore(&self, state: &NamedTensors, device: Device) -> Result<Box<dyn Fitted>> {
        Ok(Box::new(super::learned::restore(self, state, device)?))
    }
    fn reads_pixels(&self) -> bool {
        false
    }
    fn check(&self, path: &str, c: &mut Checker) {
        check_required(&format!("{path}.path"), &self.path, "a .safetensors state dict", c);
        self.encoder.validate(&format!("{path}.encoder"), c);
        let i = &self.input;
        if !i.std.is_empty() && i.mean.len() != i.std.len() {
            c.push(&format!("{path}.input.std"), format!("has {} values but mean has {}", i.std.len(), i.mean.len()));
        }
        for (k, s) in i.std.iter().enumerate() {
            c.positive_f(&format!("{path}.input.std[{k}]"), *s);
        }
    }
    fn method(&self) -> Option<&dyn Method> {
        Some(self)
    }
    fn files_mut(&mut self) -> Vec<(String, &mut PathBuf)> {
        vec![("/path".to_string(), &mut self.path)]
    }
}

impl Method for CheckpointParams {
    fn version(&self) -> u32 {
        VERSION
    }
    fn encoder(&self) -> &EncoderSpec {
        &self.encoder
    }
    fn train(&self) -> &TrainParams {
        &self.train
    }
    fn build(&self, vs: &nn::VarStore, info: BuildInfo) -> BuildResult {
        let root = vs.root();
        let encoder = self.encoder.build(&(&root / "encoder"), info.shape)?;
        Ok(Box::new(Loaded { norm: Normalizer::new(&(&root / "norm"), info.shape.0), encoder }))
    }
    fn check(&self, _path: &str, _c: &mut Checker) {}
}

/// torchvision's ResNet names → repbench's (others unchanged). The stem's
/// `conv1`/`bn1` are those outside any `layerN` (also behind a prefix that no
/// `rename` removed, so the error report can name the nearest key).
fn torchvision_resnet(key: &str) -> String {
    let mut k = key.to_string();
    if !k.contains("layer") {
        for (tv, own) in [("conv1.", "stem.conv."), ("bn1.", "stem.bn.")] {
            if k.starts_with(tv) || k.contains(&format!(".{tv}")) {
                k = k.replacen(tv, own, 1);
            }
        }
    }
    k.replace(".downsample.0.", ".down.conv.").replace(".downsample.1.", ".down.bn.")
}

impl CheckpointParams {
    /// The file's tensors under the names repbench's encoder uses.
    pub fn mapped(&self) -> Result<IndexMap<String, Tensor>> {
        super::imported::refuse_pickle(&self.path)?;
        let raw = Tensor::read_safetensors(&self.path)
            .map_err(|e| Error::data(&self.path, format!("cannot be read as safetensors: {e}")))?;
        let mut out = IndexMap::new();
        for (key, t) in raw {
            if key.ends_with("num_batches_tracked") || self.ignore.iter().any(|p| key.starts_with(p.as_str())) {
                continue;
            }
            let mut k = key.clone();
            if let Some((from, to)) = self.rename.iter().find(|(from, _)| key.starts_with(from.as_str())) {
                k = format!("{to}{}", &key[from.len()..]);
            }
            if self.encoder.is_resnet18() {
                k = torchvision_resnet(&k);
            }
            if out.insert(k.clone(), t).is_some() {
                return Err(Error::data(&self.path, format!("two keys map to `{k}` after renaming (one is `{key}`)")));
            }
        }
        Ok(out)
    }

    /// Copies the file's weights into the encoder variables of `vs` and sets the
    /// input standardisation; strict (see the module's doc).
    fn load_into(&self, vs: &nn::VarStore, channels: i64) -> Result<()> {
        let mut given = self.mapped()?;
        let vars = vs.variables();
        let expected: Vec<String> =
            vars.keys().filter_map(|k| k.strip_prefix("encoder.").map(str::to_string)).collect();
        let missing: Vec<&String> = expected.iter().filter(|k| !given.contains_key(*k)).collect();
        let unexpected: Vec<String> = given.keys().filter(|k| !expected.contains(k)).cloned().collect();
        if !missing.is_empty() || !unexpected.is_empty() {
            return Err(Error::data(
                &self.path,
                self.key_report(&missing, &unexpected, &expected, given.keys().cloned().collect()),
            ));
        }
        let mut wrong: Vec<String> = expected
            .iter()
            .filter(|n| given[n.as_str()].size() != vars[&format!("encoder.{n}")].size())
            .map(|n| {
                format!(
                    "    {n}: {:?} in the file, {:?} in the encoder",
                    given[n.as_str()].size(),
                    vars[&format!("encoder.{n}")].size()
                )
            })
            .collect();
        if !wrong.is_empty() {
            wrong.sort();
            let n = wrong.len();
            wrong.truncate(12);
            return Err(Error::data(
                &self.path,
                format!(
                    "{n} tensors do not have the {} encoder's shapes (check `encoder:` sizes and input channels):\n{}",
                    self.encoder.arch(),
                    wrong.join("\n")
                ),
            ));
        }
        tch::no_grad(|| -> Result<()> {
            for name in &expected {
                let mut var = vars[&format!("encoder.{name}")].shallow_clone();
                let t = given.shift_remove(name).expect("checked above");
                var.copy_(&t.to_kind(var.kind()).to_device(var.device()));
            }
            let per = |v: &[f64], dflt: f64, what: &str| -> Result<Tensor> {
                let vals: Vec<f32> = match v.len() {
                    0 => vec![dflt as f32; channels as usize],
                    1 => vec![v[0] as f32; channels as usize],
                    n if n as i64 == channels => v.iter().map(|&a| a as f32).collect(),
                    n => {
                        return Err(Error::stage(format!(
                            "input.{what} has {n} values but the images have {channels} channels"
                        )))
                    }
                };
                Ok(Tensor::from_slice(&vals).view([1, channels, 1, 1]))
            };
            vars["norm.mean"].shallow_clone().copy_(&per(&self.input.mean, 0.0, "mean")?.to_device(vs.device()));
            vars["norm.std"].shallow_clone().copy_(&per(&self.input.std, 1.0, "std")?.to_device(vs.device()));
            Ok(())
        })
    }

    fn key_report(
        &self,
        missing: &[&String],
        unexpected: &[String],
        expected: &[String],
        given: Vec<String>,
    ) -> String {
        // The nearest name: one that differs by a key prefix first, else the closest spelling.
        let nearest = |k: &str, pool: &[String]| -> Option<String> {
            pool.iter()
                .filter(|p| k.ends_with(p.as_str()) || p.ends_with(k))
                .min_by_key(|p| p.len().abs_diff(k.len()))
                .cloned()
                .or_else(|| crate::checks::nearest(k, pool))
        };
        let list = |mut keys: Vec<String>, pool: &[String]| -> String {
            keys.sort();
            let shown: Vec<String> = keys
                .iter()
                .take(12)
                .map(|k| match nearest(k, pool) {
                    Some(n) => format!("    {k} (nearest: {n})"),
                    None => format!("    {k}"),
                })
                .collect();
            let more = if keys.len() > 12 { format!("\n    … and {} more", keys.len() - 12) } else { String::new() };
            format!("{}{more}", shown.join("\n"))
        };
        let mut msg = format!(
            "does not match the {} encoder ({} of its {} tensors given, after `rename`/`ignore`)",
            self.encoder.arch(),
            expected.len() - missing.len(),
            expected.len()
        );
        // One prefix in front of every expected name: say which rename fixes it.
        let prefixes: std::collections::BTreeSet<&str> = unexpected
            .iter()
            .filter_map(|k| expected.iter().find(|e| k.ends_with(e.as_str())).map(|e| &k[..k.len() - e.len()]))
            .collect();
        if prefixes.len() == 1 && missing.len() == expected.len() {
            let p = prefixes.iter().next().expect("one");
            msg += &format!("\n  every key starts with `{p}`: add `rename: {{'{p}': ''}}`");
        }
        if !missing.is_empty() {
            msg += &format!(
                "\n  missing ({}):\n{}",
                missing.len(),
                list(missing.iter().map(|s| s.to_string()).collect(), &given)
            );
        }
        if !unexpected.is_empty() {
            msg += &format!("\n  unexpected ({}):\n{}", unexpected.len(), list(unexpected.to_vec(), expected));
            msg += "\n  (`rename:` maps key prefixes, `ignore:` drops keys such as a classifier head `fc.`)";
        }
        msg
    }
}

/// A loaded encoder on its input standardisation.
struct Loaded {
    norm: Normalizer,
    encoder: Box<dyn Encoder>,
}

/// A checkpoint is loaded, never trained by repbench: its fit does not call
/// the training loop, so this objective is only here because `Learner` asks
/// for one, and it contributes no gradient.
impl Objective for Loaded {
    fn loss(&mut self, x: &Tensor, _y: &Tensor, _s: &StepInfo) -> crate::error::Result<Tensor> {
        Ok(self.encoder.forward(&self.norm.apply(x), false).sum(tch::Kind::Float) * 0.0)
    }
}

crate::methods::learner_via_backbone!(Loaded);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn torchvision_resnet_names_map_to_repbench_names() {
        assert_eq!(torchvision_resnet("conv1.weight"), "stem.conv.weight");
        assert_eq!(torchvision_resnet("bn1.running_var"), "stem.bn.running_var");
        assert_eq!(torchvision_resnet("backbone.bn1.bias"), "backbone.stem.bn.bias");
        assert_eq!(torchvision_resnet("layer1.0.conv1.weight"), "layer1.0.conv1.weight");
        assert_eq!(torchvision_resnet("layer2.0.downsample.1.weight"), "layer2.0.down.bn.weight");
        assert_eq!(torchvision_resnet("layer2.0.downsample.0.weight"), "layer2.0.down.conv.weight");
        assert_eq!(torchvision_resnet("stem.conv.weight"), "stem.conv.weight", "repbench's own names pass");
    }
}
