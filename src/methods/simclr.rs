//! SimCLR (Chen et al. 2020): two augmented views, a 2-layer projection MLP and
//! the NT-Xent loss. Defaults: temperature 0.2 (the paper's range is 0.1–0.5),
//! projection 2048 → 128 scaled to 512 → 128 for small images.
use super::heads::Mlp;
use super::{losses, BuildInfo, BuildResult, Method, Normalizer};
use crate::augment::AugmentParams;
use crate::checks::{Checker, Validate};
use crate::nn::{Encoder, EncoderSpec};
use crate::train::trainer::{Objective, StepInfo, TrainParams};
use serde::{Deserialize, Serialize};
use tch::{nn, Tensor};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SimclrParams {
    pub encoder: EncoderSpec,
    pub train: TrainParams,
    pub augment: AugmentParams,
    pub temperature: f64,
    pub projection_hidden: usize,
    pub projection_dim: usize,
}

impl Default for SimclrParams {
    fn default() -> Self {
        SimclrParams {
            encoder: Default::default(),
            train: Default::default(),
            augment: Default::default(),
            temperature: 0.2,
            projection_hidden: 512,
            projection_dim: 128,
        }
    }
}

pub struct Simclr {
    norm: Normalizer,
    encoder: Box<dyn Encoder>,
    projector: Mlp,
    augment: AugmentParams,
    temperature: f64,
}

/// Version of this method's arithmetic; bump it when what it computes changes
/// (it enters the fit key, see `Method::version`).
pub const VERSION: u32 = 1;

impl Method for SimclrParams {
    super::method_basics!(VERSION);
    fn check(&self, path: &str, c: &mut Checker) {
        self.augment.validate(&format!("{path}.augment"), c);
        c.positive_f(&format!("{path}.temperature"), self.temperature);
        c.positive(&format!("{path}.projection_hidden"), self.projection_hidden);
        c.positive(&format!("{path}.projection_dim"), self.projection_dim);
    }
    fn build(&self, vs: &nn::VarStore, info: BuildInfo) -> BuildResult {
        let p = self;
        let root = vs.root();
        let encoder = p.encoder.build(&(&root / "encoder"), info.shape)?;
        let projector =
            Mlp::new(&(&root / "projector"), &[encoder.out_dim(), p.projection_hidden as i64, p.projection_dim as i64]);
        Ok(Box::new(Simclr {
            norm: Normalizer::new(&(&root / "norm"), info.shape.0),
            encoder,
            projector,
            augment: p.augment.clone(),
            temperature: p.temperature,
        }))
    }
}

impl Simclr {
    fn project(&self, x: &Tensor) -> Tensor {
        self.projector.forward(&self.encoder.forward(&self.norm.apply(x), true), true)
    }
}

impl Objective for Simclr {
    fn loss(&mut self, x: &Tensor, _y: &Tensor, _s: &StepInfo) -> crate::error::Result<Tensor> {
        let (v1, v2) = (self.augment.apply(x), self.augment.apply(x));
        Ok(losses::nt_xent(&self.project(&v1), &self.project(&v2), self.temperature))
    }
}

// The representation is the backbone's output on standardized input.
super::learner_via_backbone!(Simclr);
