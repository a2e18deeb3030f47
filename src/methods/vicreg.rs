//! VICReg (Bardes et al. 2022): two views, an expander MLP, and the variance /
//! invariance / covariance loss with λ = 25, μ = 25, ν = 1 (the paper's values);
//! expander 8192-8192-8192 scaled to 1024-1024-1024 for small images.
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
pub struct VicregParams {
    pub encoder: EncoderSpec,
    pub train: TrainParams,
    pub augment: AugmentParams,
    pub expander: Vec<usize>,
    /// Invariance weight λ.
    pub sim_coeff: f64,
    /// Variance weight μ.
    pub std_coeff: f64,
    /// Covariance weight ν.
    pub cov_coeff: f64,
}

impl Default for VicregParams {
    fn default() -> Self {
        VicregParams {
            encoder: Default::default(),
            train: Default::default(),
            augment: Default::default(),
            expander: vec![1024, 1024, 1024],
            sim_coeff: 25.0,
            std_coeff: 25.0,
            cov_coeff: 1.0,
        }
    }
}

pub struct Vicreg {
    norm: Normalizer,
    encoder: Box<dyn Encoder>,
    expander: Mlp,
    p: VicregParams,
}

/// Version of this method's arithmetic; bump it when what it computes changes
/// (it enters the fit key, see `Method::version`).
pub const VERSION: u32 = 1;

impl Method for VicregParams {
    super::method_basics!(VERSION);
    fn check(&self, path: &str, c: &mut Checker) {
        self.augment.validate(&format!("{path}.augment"), c);
        c.widths(&format!("{path}.expander"), &self.expander);
    }
    fn build(&self, vs: &nn::VarStore, info: BuildInfo) -> BuildResult {
        let p = self;
        let root = vs.root();
        let encoder = p.encoder.build(&(&root / "encoder"), info.shape)?;
        let mut dims = vec![encoder.out_dim()];
        dims.extend(p.expander.iter().map(|&d| d as i64));
        let expander = Mlp::new(&(&root / "projector"), &dims);
        Ok(Box::new(Vicreg { norm: Normalizer::new(&(&root / "norm"), info.shape.0), encoder, expander, p: p.clone() }))
    }
}

impl Objective for Vicreg {
    fn loss(&mut self, x: &Tensor, _y: &Tensor, _s: &StepInfo) -> crate::error::Result<Tensor> {
        let f = |v: &Tensor| self.expander.forward(&self.encoder.forward(&self.norm.apply(v), true), true);
        let (z1, z2) = (f(&self.p.augment.apply(x)), f(&self.p.augment.apply(x)));
        Ok(losses::vicreg(&z1, &z2, self.p.sim_coeff, self.p.std_coeff, self.p.cov_coeff))
    }
}

// The representation is the backbone's output on standardized input.
super::learner_via_backbone!(Vicreg);
