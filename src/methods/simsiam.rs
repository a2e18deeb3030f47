//! SimSiam (Chen & He 2021, "Exploring Simple Siamese Representation
//! Learning"): two views through one encoder and projector; a predictor maps
//! one view's projection to the other's, which is held fixed (stop-gradient):
//!
//!   L = −½ cos(p1, sg(z2)) − ½ cos(p2, sg(z1)).
//!
//! No negatives, no momentum encoder: the stop-gradient is what prevents
//! collapse. Paper defaults (CIFAR-10 variant): projector 2 layers of 2048 with
//! a batch norm on its output (no affine), predictor 2048 → 512 → 2048 (a
//! bottleneck), SGD lr 0.03·batch/256, weight decay 5e-4. Scaled for 28×28 /
//! 32×32 images: projector 512-512, predictor 512 → 128 → 512.
use super::heads::{batch_standardize, Mlp};
use super::{BuildInfo, BuildResult, Method, Normalizer};
use crate::augment::AugmentParams;
use crate::checks::{Checker, Validate};
use crate::nn::{Encoder, EncoderSpec};
use crate::train::trainer::{Objective, StepInfo, TrainParams};
use serde::{Deserialize, Serialize};
use tch::{nn, Kind, Tensor};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SimsiamParams {
    pub encoder: EncoderSpec,
    pub train: TrainParams,
    pub augment: AugmentParams,
    /// Projector widths after the encoder (hidden..., output = the predictor's in/out).
    pub projector: Vec<usize>,
    /// The predictor's bottleneck width.
    pub predictor_hidden: usize,
}

impl Default for SimsiamParams {
    fn default() -> Self {
        SimsiamParams {
            encoder: Default::default(),
            train: Default::default(),
            augment: Default::default(),
            projector: vec![512, 512],
            predictor_hidden: 128,
        }
    }
}

/// Version of SimSiam's arithmetic; bump it when what it computes changes (it
/// enters the fit key, see `Method::version`).
pub const VERSION: u32 = 1;

impl Method for SimsiamParams {
    super::method_basics!(VERSION);
    fn check(&self, path: &str, c: &mut Checker) {
        self.augment.validate(&format!("{path}.augment"), c);
        c.widths(&format!("{path}.projector"), &self.projector);
        c.positive(&format!("{path}.predictor_hidden"), self.predictor_hidden);
    }
    fn build(&self, vs: &nn::VarStore, info: BuildInfo) -> BuildResult {
        let root = vs.root();
        let encoder = self.encoder.build(&(&root / "encoder"), info.shape)?;
        let mut dims = vec![encoder.out_dim()];
        dims.extend(self.projector.iter().map(|&d| d as i64));
        let out = *dims.last().unwrap_or(&encoder.out_dim());
        let projector = Mlp::new(&(&root / "projector"), &dims);
        let predictor = Mlp::new(&(&root / "predictor"), &[out, self.predictor_hidden as i64, out]);
        let norm = Normalizer::new(&(&root / "norm"), info.shape.0);
        Ok(Box::new(Simsiam { norm, encoder, projector, predictor, augment: self.augment.clone() }))
    }
}

pub struct Simsiam {
    norm: Normalizer,
    encoder: Box<dyn Encoder>,
    projector: Mlp,
    predictor: Mlp,
    augment: AugmentParams,
}

/// SimSiam's symmetric loss from predictions p1, p2 and projections z1, z2
/// (the projections are detached here: the stop-gradient).
pub fn loss(p1: &Tensor, p2: &Tensor, z1: &Tensor, z2: &Tensor) -> Tensor {
    let neg_cos = |p: &Tensor, z: &Tensor| -Tensor::cosine_similarity(p, &z.detach(), 1, 1e-8).mean(Kind::Float);
    (neg_cos(p1, z2) + neg_cos(p2, z1)) * 0.5
}

impl Objective for Simsiam {
    fn loss(&mut self, x: &Tensor, _y: &Tensor, _s: &StepInfo) -> crate::error::Result<Tensor> {
        let project = |v: &Tensor| {
            batch_standardize(&self.projector.forward(&self.encoder.forward(&self.norm.apply(v), true), true))
        };
        let (z1, z2) = (project(&self.augment.apply(x)), project(&self.augment.apply(x)));
        let (p1, p2) = (self.predictor.forward(&z1, true), self.predictor.forward(&z2, true));
        Ok(loss(&p1, &p2, &z1, &z2))
    }
}

// The representation is the backbone's output on standardized input.
super::learner_via_backbone!(Simsiam);

#[cfg(test)]
mod tests {
    //! Reference values from tests/reference/ssl_losses_torch.py (the PyTorch
    //! formulation of facebookresearch/simsiam, run with torch 2.11.0).
    use super::*;

    #[test]
    fn loss_matches_the_pytorch_reference() {
        let (a, b) = crate::methods::heads::reference_inputs();
        let l = loss(&a, &b, &a.flip([0]), &b.flip([0])).double_value(&[]);
        assert!((l - SIMSIAM_REF).abs() < 1e-5, "{l}");
        // Predictions in the targets' directions give the minimum, −1.
        assert!((loss(&a, &a, &a, &a).double_value(&[]) + 1.0).abs() < 1e-5);
    }

    #[test]
    fn the_targets_get_no_gradient() {
        let (a, b) = crate::methods::heads::reference_inputs();
        let (p, z) = (a.set_requires_grad(true), b.set_requires_grad(true));
        loss(&p, &p, &z, &z).backward();
        assert!(p.grad().abs().sum(Kind::Float).double_value(&[]) > 0.0);
        assert!(!z.grad().defined() || z.grad().abs().sum(Kind::Float).double_value(&[]) == 0.0);
    }

    const SIMSIAM_REF: f64 = 0.203_311_92;
}
