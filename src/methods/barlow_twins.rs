//! Barlow Twins (Zbontar et al. 2021, "Barlow Twins: Self-Supervised Learning via
//! Redundancy Reduction"): two augmented views, a projector, and a loss that
//! drives the cross-correlation matrix C of the two views' batch-standardized
//! projections to the identity:
//!
//!   L = Σ_i (1 − C_ii)² + λ Σ_{i≠j} C_ij²,   C = BN(z1)ᵀ BN(z2) / N.
//!
//! Paper defaults: λ = 0.0051, projector 8192-8192-8192 (Linear-BN-ReLU, last
//! Linear without bias), BYOL's asymmetric augmentations. Scaled for 28×28 /
//! 32×32 images: projector 1024-1024-1024 (solo-learn's CIFAR recipe uses
//! 2048) and the loss multiplied by `scale_loss` = 0.1 (solo-learn's CIFAR
//! value; with Adam it mostly rescales ε and the gradient clip).
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
pub struct BarlowTwinsParams {
    pub encoder: EncoderSpec,
    pub train: TrainParams,
    pub augment: AugmentParams,
    /// Projector widths after the encoder (hidden..., output).
    pub projector: Vec<usize>,
    /// Weight λ of the redundancy-reduction (off-diagonal) term.
    pub lambda: f64,
    /// Factor on the whole loss.
    pub scale_loss: f64,
}

impl Default for BarlowTwinsParams {
    fn default() -> Self {
        BarlowTwinsParams {
            encoder: Default::default(),
            train: Default::default(),
            augment: AugmentParams { blur_p: 0.5, solarize_p: 0.1, ..Default::default() },
            projector: vec![1024, 1024, 1024],
            lambda: 0.0051,
            scale_loss: 0.1,
        }
    }
}

/// Version of Barlow Twins' arithmetic; bump it when what it computes changes
/// (it enters the fit key, see `Method::version`).
pub const VERSION: u32 = 1;

impl Method for BarlowTwinsParams {
    super::method_basics!(VERSION);
    fn check(&self, path: &str, c: &mut Checker) {
        self.augment.validate(&format!("{path}.augment"), c);
        c.widths(&format!("{path}.projector"), &self.projector);
        c.non_negative_f(&format!("{path}.lambda"), self.lambda);
        c.positive_f(&format!("{path}.scale_loss"), self.scale_loss);
    }
    fn build(&self, vs: &nn::VarStore, info: BuildInfo) -> BuildResult {
        let root = vs.root();
        let encoder = self.encoder.build(&(&root / "encoder"), info.shape)?;
        let mut dims = vec![encoder.out_dim()];
        dims.extend(self.projector.iter().map(|&d| d as i64));
        let projector = Mlp::new(&(&root / "projector"), &dims);
        Ok(Box::new(BarlowTwins {
            norm: Normalizer::new(&(&root / "norm"), info.shape.0),
            encoder,
            projector,
            p: self.clone(),
        }))
    }
}

pub struct BarlowTwins {
    norm: Normalizer,
    encoder: Box<dyn Encoder>,
    projector: Mlp,
    p: BarlowTwinsParams,
}

/// The Barlow Twins loss of two [N, D] projections (before standardization).
pub fn loss(z1: &Tensor, z2: &Tensor, lambda: f64) -> Tensor {
    let n = z1.size()[0] as f64;
    let c = batch_standardize(z1).transpose(0, 1).matmul(&batch_standardize(z2)) / n;
    let diag = c.diagonal(0, 0, 1);
    let on_diag = (&diag - 1.0).square().sum(Kind::Float);
    let off_diag = c.square().sum(Kind::Float) - diag.square().sum(Kind::Float);
    on_diag + off_diag * lambda
}

impl Objective for BarlowTwins {
    fn loss(&mut self, x: &Tensor, _y: &Tensor, _s: &StepInfo) -> crate::error::Result<Tensor> {
        let project = |v: &Tensor| self.projector.forward(&self.encoder.forward(&self.norm.apply(v), true), true);
        let (z1, z2) = (project(&self.p.augment.apply(x)), project(&self.p.augment.apply(x)));
        Ok(loss(&z1, &z2, self.p.lambda) * self.p.scale_loss)
    }
}

// The representation is the backbone's output on standardized input.
super::learner_via_backbone!(BarlowTwins);

#[cfg(test)]
mod tests {
    //! Reference values from tests/reference/ssl_losses_torch.py (the PyTorch
    //! formulation of facebookresearch/barlowtwins, run with torch 2.11.0).
    use super::*;

    #[test]
    fn loss_matches_the_pytorch_reference() {
        let (z1, z2) = crate::methods::heads::reference_inputs();
        let l = loss(&z1, &z2, 0.0051).double_value(&[]);
        assert!((l - BARLOW_REF).abs() < 1e-6, "{l}");
        // Perfectly correlated, decorrelated features give C = I: zero loss.
        let e = Tensor::from_slice(&[1.0f32, 1.0, -1.0, 1.0, 1.0, -1.0, -1.0, -1.0]).view([4, 2]);
        assert!(loss(&e, &(&e * 3.0), 0.0051).double_value(&[]).abs() < 1e-3);
    }

    const BARLOW_REF: f64 = 0.010_978_97;
}
