//! Representations: each kind has typed parameters that fit on the training split
//! and return a fitted representation that only embeds (params → fit → fitted).
//!
//! The fitted state is a list of named tensors, saved to the cache as safetensors,
//! so a later run embeds without fitting again.
pub mod hog;
pub mod learned;
pub mod pca;
pub mod pixels;
pub mod random_projection;
pub mod raw;

use crate::error::{Error, Result};
use crate::spec::validate::{Checker, Validate};
use serde::{Deserialize, Serialize};
use tch::{Device, Tensor};

/// A representation as written in a suite, selected by `kind:`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RepresentationSpec {
    Raw(raw::RawParams),
    Pca(pca::PcaParams),
    Hog(hog::HogParams),
    RandomProjection(random_projection::RandomProjectionParams),
    Supervised(crate::methods::supervised::SupervisedParams),
    Autoencoder(crate::methods::autoencoder::AutoencoderParams),
    Simclr(crate::methods::simclr::SimclrParams),
    Byol(crate::methods::byol::ByolParams),
    Vicreg(crate::methods::vicreg::VicregParams),
    Dino(crate::methods::dino::DinoParams),
    Mae(crate::methods::mae::MaeParams),
}

/// What a fit may use besides the training images.
pub struct FitContext<'a> {
    pub device: Device,
    pub seed: u64,
    /// Labels of the training images (only supervised methods read them).
    pub labels: Option<&'a Tensor>,
    pub num_classes: i64,
    /// Where a learned method keeps its per-epoch checkpoints.
    pub checkpoint_dir: Option<std::path::PathBuf>,
    /// Progress lines (epoch logs).
    pub log: &'a dyn Fn(&str),
}

impl FitContext<'_> {
    /// A context for fits that need only a device and a seed.
    pub fn simple(device: Device, seed: u64) -> FitContext<'static> {
        FitContext { device, seed, labels: None, num_classes: 0, checkpoint_dir: None, log: &|_| {} }
    }
}

/// A fitted representation: embeds u8 images (N×C×H×W, CPU) into f32 N×D features.
pub trait Fitted: Send {
    fn embed(&self, images: &Tensor, device: Device) -> Result<Tensor>;
    /// The fitted state, as named tensors (empty for stateless representations).
    fn state(&self) -> Vec<(String, Tensor)>;
    /// Per-epoch training log, for learned representations.
    fn train_log(&self) -> Option<serde_json::Value> {
        None
    }
    /// Per-block features (pooled, f32 N×d_i each), for networks; None otherwise.
    fn embed_blocks(&self, _images: &Tensor, _device: Device) -> Result<Option<Vec<Tensor>>> {
        Ok(None)
    }
    /// The last block's CLS attention per head [N, heads, gh, gw], for ViTs.
    fn cls_attention(&self, _images: &Tensor, _device: Device) -> Result<Option<Tensor>> {
        Ok(None)
    }
}

impl RepresentationSpec {
    pub fn kind(&self) -> &'static str {
        match self {
            RepresentationSpec::Raw(_) => "raw",
            RepresentationSpec::Pca(_) => "pca",
            RepresentationSpec::Hog(_) => "hog",
            RepresentationSpec::RandomProjection(_) => "random_projection",
            RepresentationSpec::Supervised(_) => "supervised",
            RepresentationSpec::Autoencoder(_) => "autoencoder",
            RepresentationSpec::Simclr(_) => "simclr",
            RepresentationSpec::Byol(_) => "byol",
            RepresentationSpec::Vicreg(_) => "vicreg",
            RepresentationSpec::Dino(_) => "dino",
            RepresentationSpec::Mae(_) => "mae",
        }
    }

    /// Fits on the training images (u8, N×C×H×W).
    pub fn fit(&self, train: &Tensor, ctx: &FitContext) -> Result<Box<dyn Fitted>> {
        Ok(match self {
            RepresentationSpec::Raw(p) => Box::new(p.fit()),
            RepresentationSpec::Pca(p) => Box::new(p.fit(train, ctx)?),
            RepresentationSpec::Hog(p) => Box::new(p.fit(train)?),
            RepresentationSpec::RandomProjection(p) => Box::new(p.fit(train, ctx)?),
            learned => Box::new(learned::fit(learned, train, ctx)?),
        })
    }

    /// Rebuilds the fitted representation from its saved state.
    pub fn restore(&self, state: Vec<(String, Tensor)>, device: Device) -> Result<Box<dyn Fitted>> {
        let get = |name: &str| -> Result<Tensor> {
            state
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, t)| t.shallow_clone())
                .ok_or_else(|| Error::stage(format!("fitted {} state lacks tensor `{name}`", self.kind())))
        };
        Ok(match self {
            RepresentationSpec::Raw(p) => Box::new(p.fit()),
            RepresentationSpec::Hog(p) => Box::new(p.fitted()),
            RepresentationSpec::Pca(_) => Box::new(pca::FittedPca { mean: get("mean")?, components: get("components")? }),
            RepresentationSpec::RandomProjection(_) => Box::new(random_projection::FittedProjection { matrix: get("matrix")? }),
            learned => Box::new(learned::restore(learned, &state, device)?),
        })
    }
}

impl Validate for RepresentationSpec {
    fn validate(&self, path: &str, c: &mut Checker) {
        match self {
            RepresentationSpec::Raw(_) => {}
            RepresentationSpec::Pca(p) => c.positive(&format!("{path}.components"), p.components),
            RepresentationSpec::Hog(p) => p.validate(path, c),
            RepresentationSpec::RandomProjection(p) => c.positive(&format!("{path}.dims"), p.dims),
            RepresentationSpec::Supervised(p) => {
                learned_common(path, &p.encoder, &p.train, c);
                if !(0.0..1.0).contains(&p.label_smoothing) {
                    c.push(&format!("{path}.label_smoothing"), "must be in [0, 1)");
                }
                if let Some(a) = &p.augment {
                    a.validate(&format!("{path}.augment"), c);
                }
            }
            RepresentationSpec::Autoencoder(p) => {
                learned_common(path, &p.encoder, &p.train, c);
                c.positive(&format!("{path}.bottleneck"), p.bottleneck);
                c.non_negative_f(&format!("{path}.noise_std"), p.noise_std);
            }
            RepresentationSpec::Simclr(p) => {
                learned_common(path, &p.encoder, &p.train, c);
                p.augment.validate(&format!("{path}.augment"), c);
                c.positive_f(&format!("{path}.temperature"), p.temperature);
                c.positive(&format!("{path}.projection_hidden"), p.projection_hidden);
                c.positive(&format!("{path}.projection_dim"), p.projection_dim);
            }
            RepresentationSpec::Byol(p) => {
                learned_common(path, &p.encoder, &p.train, c);
                p.augment.validate(&format!("{path}.augment"), c);
                c.positive(&format!("{path}.projection_hidden"), p.projection_hidden);
                c.positive(&format!("{path}.projection_dim"), p.projection_dim);
                momentum(path, "base_momentum", p.base_momentum, c);
            }
            RepresentationSpec::Vicreg(p) => {
                learned_common(path, &p.encoder, &p.train, c);
                p.augment.validate(&format!("{path}.augment"), c);
                c.non_empty(&format!("{path}.expander"), &p.expander);
                for (i, &d) in p.expander.iter().enumerate() {
                    c.positive(&format!("{path}.expander[{i}]"), d);
                }
            }
            RepresentationSpec::Dino(p) => {
                learned_common(path, &p.encoder, &p.train, c);
                p.augment.validate(&format!("{path}.augment"), c);
                for (n, v) in [("hidden_dim", p.hidden_dim), ("bottleneck_dim", p.bottleneck_dim)] {
                    c.positive(&format!("{path}.{n}"), v);
                }
                if p.out_dim < 2 {
                    c.push(&format!("{path}.out_dim"), format!("must be at least 2: the teacher and student distributions are over out_dim prototypes (got {})", p.out_dim));
                }
                for (n, v) in [("student_temp", p.student_temp), ("teacher_temp", p.teacher_temp), ("warmup_teacher_temp", p.warmup_teacher_temp)] {
                    c.positive_f(&format!("{path}.{n}"), v);
                }
                momentum(path, "base_momentum", p.base_momentum, c);
                momentum(path, "center_momentum", p.center_momentum, c);
            }
            RepresentationSpec::Mae(p) => {
                learned_common(path, &p.encoder, &p.train, c);
                if !matches!(p.encoder, crate::nn::EncoderSpec::Vit(_)) {
                    c.push(&format!("{path}.encoder.arch"), "mae needs a ViT encoder (arch: vit)");
                }
                if !(p.mask_ratio > 0.0 && p.mask_ratio < 1.0) {
                    c.push(&format!("{path}.mask_ratio"), format!("must be in (0, 1) (got {})", p.mask_ratio));
                }
                c.positive(&format!("{path}.decoder_dim"), p.decoder_dim);
                c.positive(&format!("{path}.decoder_heads"), p.decoder_heads);
            }
        }
    }
}

fn learned_common(path: &str, encoder: &crate::nn::EncoderSpec, train: &crate::train::trainer::TrainParams, c: &mut Checker) {
    encoder.validate(&format!("{path}.encoder"), c);
    train.validate(&format!("{path}.train"), c);
}

fn momentum(path: &str, name: &str, v: f64, c: &mut Checker) {
    if !(0.0..=1.0).contains(&v) {
        c.push(&format!("{path}.{name}"), format!("must be in [0, 1] (got {v})"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A DINO head with one prototype has a constant softmax: refused, by field.
    #[test]
    fn dino_needs_two_prototypes() {
        let spec: RepresentationSpec = serde_yaml::from_str("kind: dino\nout_dim: 1").unwrap();
        let mut c = Checker::default();
        spec.validate("representations.d", &mut c);
        assert_eq!(c.errors.len(), 1, "{:?}", c.errors);
        assert_eq!(c.errors[0].path, "representations.d.out_dim");
        assert!(c.errors[0].msg.contains("at least 2"), "{}", c.errors[0].msg);
    }
}
