//! Supervised training: cross-entropy on labels (optional label smoothing and
//! augmentation). The representation is the encoder's output, i.e. the layer
//! before the classification head.
use super::{BuildInfo, BuildResult, Method, Normalizer};
use crate::augment::AugmentParams;
use crate::checks::{Checker, Validate};
use crate::nn::{Encoder, EncoderSpec};
use crate::train::trainer::{Objective, StepInfo, TrainParams};
use serde::{Deserialize, Serialize};
use tch::nn::{self, Module};
use tch::{Kind, Tensor};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SupervisedParams {
    pub encoder: EncoderSpec,
    pub train: TrainParams,
    pub label_smoothing: f64,
    /// Augmentation of the training batches (none by default).
    pub augment: Option<AugmentParams>,
}

impl Default for SupervisedParams {
    fn default() -> Self {
        SupervisedParams { encoder: Default::default(), train: Default::default(), label_smoothing: 0.0, augment: None }
    }
}

pub struct Supervised {
    norm: Normalizer,
    encoder: Box<dyn Encoder>,
    head: nn::Linear,
    smoothing: f64,
    augment: Option<AugmentParams>,
}

/// Version of this method's arithmetic; bump it when what it computes changes
/// (it enters the fit key, see `Method::version`).
pub const VERSION: u32 = 1;

impl Method for SupervisedParams {
    super::method_basics!(VERSION);
    fn check(&self, path: &str, c: &mut Checker) {
        if !(0.0..1.0).contains(&self.label_smoothing) {
            c.push(&format!("{path}.label_smoothing"), "must be in [0, 1)");
        }
        if let Some(a) = &self.augment {
            a.validate(&format!("{path}.augment"), c);
        }
    }
    fn build(&self, vs: &nn::VarStore, info: BuildInfo) -> BuildResult {
        let p = self;
        let root = vs.root();
        let encoder = p.encoder.build(&(&root / "encoder"), info.shape)?;
        let head = nn::linear(&root / "head", encoder.out_dim(), info.num_classes, Default::default());
        Ok(Box::new(Supervised {
            norm: Normalizer::new(&(&root / "norm"), info.shape.0),
            encoder,
            head,
            smoothing: p.label_smoothing,
            augment: p.augment.clone(),
        }))
    }
}

/// Cross-entropy with label smoothing ε: (1 − ε)·NLL + ε·mean over classes of −log p.
pub fn smoothed_ce(logits: &Tensor, y: &Tensor, eps: f64) -> Tensor {
    let logp = logits.log_softmax(-1, Kind::Float);
    let nll = logp.nll_loss(y);
    if eps == 0.0 {
        return nll;
    }
    nll * (1.0 - eps) - logp.mean_dim(-1, false, Kind::Float).mean(Kind::Float) * eps
}

impl Objective for Supervised {
    fn loss(&mut self, x: &Tensor, y: &Tensor, _s: &StepInfo) -> crate::error::Result<Tensor> {
        let x = match &self.augment {
            Some(a) => a.apply(x),
            None => x.shallow_clone(),
        };
        let logits = self.head.forward(&self.encoder.forward(&self.norm.apply(&x), true));
        Ok(smoothed_ce(&logits, y, self.smoothing))
    }
}

// The representation is the backbone's output on standardized input.
super::learner_via_backbone!(Supervised);
