//! MoCo v3 (Chen, Xie & He 2021, "An Empirical Study of Training
//! Self-Supervised Vision Transformers"): a base encoder with projector and
//! predictor (the query), a momentum encoder with projector (the key, an EMA of
//! the base), and a symmetric InfoNCE loss over the batch — the other images'
//! keys are the negatives, no queue:
//!
//!   ctr(q, k) = 2τ · CE(q̂ k̂ᵀ / τ, diag),   L = ctr(q1, k2) + ctr(q2, k1).
//!
//! Paper defaults (facebookresearch/moco-v3 builder.py): τ = 0.2 (the ViT
//! recipe; 1.0 for ResNet-50 in the official code), momentum 0.99 → 1 on a
//! cosine schedule, 4096 hidden / 256 out. For a ViT the projector has 3 layers
//! and the predictor 2, both ending in a batch norm without affine; for a
//! ResNet (here also the ConvNet and MLP encoders) the projector has 2 layers
//! ending in that batch norm and the predictor ends without one. AdamW for
//! ViTs, LARS for ResNets. Scaled for 28×28 / 32×32 images: 512 hidden,
//! 128 out (as BYOL's heads here).
use super::heads::{batch_standardize, EmaTeacher, Mlp};
use super::{BuildInfo, BuildResult, Method, Normalizer};
use crate::augment::AugmentParams;
use crate::checks::{Checker, Validate};
use crate::error::Result;
use crate::nn::{Encoder, EncoderSpec};
use crate::train::trainer::{Objective, StepInfo, TrainParams};
use serde::{Deserialize, Serialize};
use tch::{nn, Kind, Tensor};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MocoV3Params {
    pub encoder: EncoderSpec,
    pub train: TrainParams,
    pub augment: AugmentParams,
    pub hidden_dim: usize,
    pub out_dim: usize,
    /// InfoNCE temperature τ.
    pub temperature: f64,
    /// EMA momentum of the key encoder at the start; it rises to 1 by the end.
    pub base_momentum: f64,
}

impl Default for MocoV3Params {
    fn default() -> Self {
        MocoV3Params {
            encoder: Default::default(),
            train: Default::default(),
            augment: AugmentParams { blur_p: 0.5, solarize_p: 0.1, ..Default::default() },
            hidden_dim: 512,
            out_dim: 128,
            temperature: 0.2,
            base_momentum: 0.99,
        }
    }
}

/// Version of MoCo v3's arithmetic; bump it when what it computes changes (it
/// enters the fit key, see `Method::version`).
pub const VERSION: u32 = 1;

impl Method for MocoV3Params {
    super::method_basics!(VERSION);
    fn check(&self, path: &str, c: &mut Checker) {
        self.augment.validate(&format!("{path}.augment"), c);
        c.positive(&format!("{path}.hidden_dim"), self.hidden_dim);
        c.positive(&format!("{path}.out_dim"), self.out_dim);
        c.positive_f(&format!("{path}.temperature"), self.temperature);
        super::check_momentum(path, "base_momentum", self.base_momentum, c);
    }
    fn build(&self, vs: &nn::VarStore, info: BuildInfo) -> BuildResult {
        let root = vs.root();
        let (h, o) = (self.hidden_dim as i64, self.out_dim as i64);
        let vit = self.encoder.is_vit();
        let proj_dims = |d: i64| if vit { vec![d, h, h, o] } else { vec![d, h, o] };
        let encoder = self.encoder.build(&(&root / "encoder"), info.shape)?;
        let projector = Mlp::new(&(&root / "projector"), &proj_dims(encoder.out_dim()));
        let predictor = Mlp::new(&(&root / "predictor"), &[o, h, o]);
        let norm = Normalizer::new(&(&root / "norm"), info.shape.0);
        let (momentum, (m_encoder, m_projector)) = EmaTeacher::new(vs, self.base_momentum, |t| {
            let e = self.encoder.build(&(t / "encoder"), info.shape)?;
            let proj = Mlp::new(&(t / "projector"), &proj_dims(e.out_dim()));
            Ok((e, proj))
        })?;
        Ok(Box::new(MocoV3 {
            norm,
            encoder,
            projector,
            predictor,
            predictor_bn: vit,
            momentum,
            m_encoder,
            m_projector,
            p: self.clone(),
        }))
    }
}

pub struct MocoV3 {
    norm: Normalizer,
    encoder: Box<dyn Encoder>,
    projector: Mlp,
    predictor: Mlp,
    /// Whether the predictor ends in a batch norm (the ViT recipe).
    predictor_bn: bool,
    momentum: EmaTeacher,
    m_encoder: Box<dyn Encoder>,
    m_projector: Mlp,
    p: MocoV3Params,
}

/// MoCo v3's contrastive loss of queries q against keys k ([N, D] each): the
/// positive of query i is key i, the other keys are its negatives; scaled by 2τ.
pub fn contrastive(q: &Tensor, k: &Tensor, temperature: f64) -> Tensor {
    let unit = |t: &Tensor| t / t.norm_scalaropt_dim(2, [1], true).clamp_min(1e-12);
    let logits = unit(q).matmul(&unit(&k.detach()).transpose(0, 1)) / temperature;
    let labels = Tensor::arange(q.size()[0], (Kind::Int64, q.device()));
    logits.cross_entropy_for_logits(&labels) * (2.0 * temperature)
}

impl Objective for MocoV3 {
    fn loss(&mut self, x: &Tensor, _y: &Tensor, _s: &StepInfo) -> crate::error::Result<Tensor> {
        let (v1, v2) = (self.p.augment.apply(x), self.p.augment.apply(x));
        let query = |v: &Tensor| {
            let z = batch_standardize(&self.projector.forward(&self.encoder.forward(&self.norm.apply(v), true), true));
            let q = self.predictor.forward(&z, true);
            if self.predictor_bn {
                batch_standardize(&q)
            } else {
                q
            }
        };
        let key = |v: &Tensor| {
            tch::no_grad(|| {
                batch_standardize(&self.m_projector.forward(&self.m_encoder.forward(&self.norm.apply(v), true), true))
            })
        };
        let t = self.p.temperature;
        Ok(contrastive(&query(&v1), &key(&v2), t) + contrastive(&query(&v2), &key(&v1), t))
    }
    fn after_step(&mut self, s: &StepInfo) {
        self.momentum.update(s.progress());
    }
    fn extra_state(&self) -> Vec<(String, Tensor)> {
        self.momentum.state()
    }
    fn load_extra_state(&mut self, get: &dyn Fn(&str) -> Option<Tensor>) -> Result<()> {
        self.momentum.load(get)
    }
}

// The representation is the base encoder's output on standardized input.
super::learner_via_backbone!(MocoV3);

#[cfg(test)]
mod tests {
    //! Reference values from tests/reference/ssl_losses_torch.py (the PyTorch
    //! formulation of facebookresearch/moco-v3, run with torch 2.11.0).
    use super::*;

    #[test]
    fn loss_matches_the_pytorch_reference() {
        let (q, k) = crate::methods::heads::reference_inputs();
        for (t, want) in [(0.2, MOCO_REF_T02), (1.0, MOCO_REF_T1)] {
            let l = contrastive(&q, &k, t).double_value(&[]);
            assert!((l - want).abs() < 1e-5, "τ = {t}: {l} vs {want}");
        }
    }

    const MOCO_REF_T02: f64 = 0.047_389_91;
    const MOCO_REF_T1: f64 = 2.098_977_09;
}
