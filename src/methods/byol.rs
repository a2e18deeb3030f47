//! BYOL (Grill et al. 2020): an online network (encoder, projector, predictor)
//! regresses a target network's projection of the other view; the target is an
//! EMA of the online encoder and projector, momentum 0.99 → 1 on a cosine
//! schedule. Projector/predictor 4096 → 256 scaled to 512 → 128.
use super::heads::{EmaTeacher, Mlp};
use super::{losses, BuildInfo, BuildResult, Method, Normalizer};
use crate::augment::AugmentParams;
use crate::checks::{Checker, Validate};
use crate::error::Result;
use crate::nn::{Encoder, EncoderSpec};
use crate::train::trainer::{Objective, StepInfo, TrainParams};
use serde::{Deserialize, Serialize};
use tch::{nn, Tensor};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ByolParams {
    pub encoder: EncoderSpec,
    pub train: TrainParams,
    pub augment: AugmentParams,
    pub projection_hidden: usize,
    pub projection_dim: usize,
    /// EMA momentum at the start; it rises to 1 by the end.
    pub base_momentum: f64,
}

impl Default for ByolParams {
    fn default() -> Self {
        ByolParams {
            encoder: Default::default(),
            train: Default::default(),
            augment: AugmentParams { blur_p: 0.5, solarize_p: 0.1, ..Default::default() },
            projection_hidden: 512,
            projection_dim: 128,
            base_momentum: 0.99,
        }
    }
}

pub struct Byol {
    norm: Normalizer,
    encoder: Box<dyn Encoder>,
    projector: Mlp,
    predictor: Mlp,
    target: EmaTeacher,
    target_encoder: Box<dyn Encoder>,
    target_projector: Mlp,
    p: ByolParams,
}

/// Version of this method's arithmetic; bump it when what it computes changes
/// (it enters the fit key, see `Method::version`).
pub const VERSION: u32 = 1;

impl Method for ByolParams {
    super::method_basics!(VERSION);
    fn check(&self, path: &str, c: &mut Checker) {
        self.augment.validate(&format!("{path}.augment"), c);
        c.positive(&format!("{path}.projection_hidden"), self.projection_hidden);
        c.positive(&format!("{path}.projection_dim"), self.projection_dim);
        super::check_momentum(path, "base_momentum", self.base_momentum, c);
    }
    fn build(&self, vs: &nn::VarStore, info: BuildInfo) -> BuildResult {
        let p = self;
        let root = vs.root();
        let dims = |d: i64| [d, p.projection_hidden as i64, p.projection_dim as i64];
        let encoder = p.encoder.build(&(&root / "encoder"), info.shape)?;
        let projector = Mlp::new(&(&root / "projector"), &dims(encoder.out_dim()));
        let predictor = Mlp::new(&(&root / "predictor"), &dims(p.projection_dim as i64));
        let norm = Normalizer::new(&(&root / "norm"), info.shape.0);
        let (target, (target_encoder, target_projector)) = EmaTeacher::new(vs, p.base_momentum, |t| {
            let e = p.encoder.build(&(t / "encoder"), info.shape)?;
            let proj = Mlp::new(&(t / "projector"), &dims(e.out_dim()));
            Ok((e, proj))
        })?;
        Ok(Box::new(Byol {
            norm,
            encoder,
            projector,
            predictor,
            target,
            target_encoder,
            target_projector,
            p: p.clone(),
        }))
    }
}

impl Objective for Byol {
    fn loss(&mut self, x: &Tensor, _y: &Tensor, _s: &StepInfo) -> crate::error::Result<Tensor> {
        let (v1, v2) = (self.p.augment.apply(x), self.p.augment.apply(x));
        let online = |v: &Tensor| {
            self.predictor
                .forward(&self.projector.forward(&self.encoder.forward(&self.norm.apply(v), true), true), true)
        };
        let target = |v: &Tensor| {
            tch::no_grad(|| {
                self.target_projector.forward(&self.target_encoder.forward(&self.norm.apply(v), true), true)
            })
        };
        Ok(losses::byol(&online(&v1), &target(&v2)) + losses::byol(&online(&v2), &target(&v1)))
    }
    fn after_step(&mut self, s: &StepInfo) {
        self.target.update(s.progress());
    }
    fn extra_state(&self) -> Vec<(String, Tensor)> {
        self.target.state()
    }
    fn load_extra_state(&mut self, get: &dyn Fn(&str) -> Option<Tensor>) -> Result<()> {
        self.target.load(get)
    }
}

// The representation is the backbone's output on standardized input.
super::learner_via_backbone!(Byol);
