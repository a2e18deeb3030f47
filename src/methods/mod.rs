//! Learning methods: each builds its networks in a var store, defines its loss
//! (the shared loop in `train::trainer` does the rest) and says how to embed.
//!
//! Networks are named by path: `encoder/...` is the backbone whose output is the
//! representation; `projector/`, `predictor/`, `head/`, `decoder/` are the
//! method's own; EMA teachers live in a second var store under the same names.
pub mod autoencoder;
pub mod byol;
pub mod dino;
pub mod heads;
pub mod losses;
pub mod mae;
pub mod simclr;
pub mod supervised;
pub mod vicreg;

use crate::error::Result;
use crate::nn::Shape;
use crate::train::trainer::Objective;
use tch::{nn, Kind, Tensor};

/// A method being trained (or restored): an objective that can also embed.
pub trait Learner: Objective + Send {
    /// The representation of images in [0, 1] (eval mode, no grad).
    fn embed(&self, x: &Tensor) -> Tensor;
    /// Per-block features, for probes by depth.
    fn embed_blocks(&self, x: &Tensor) -> Vec<Tensor>;
    /// The input standardisation, fitted on the training images before training.
    fn normalizer(&mut self) -> &mut Normalizer;
    /// CLS attention of the last block per head [B, heads, gh, gw], for ViT encoders.
    fn cls_attention(&self, _x: &Tensor) -> Option<Tensor> {
        None
    }
}

/// Per-channel standardisation with the training split's statistics, stored in
/// the var store (not trained) so a restored model normalizes identically.
pub struct Normalizer {
    mean: Tensor,
    std: Tensor,
}

impl Normalizer {
    pub fn new(p: &nn::Path, channels: i64) -> Normalizer {
        Normalizer { mean: p.zeros_no_train("mean", &[1, channels, 1, 1]), std: p.ones_no_train("std", &[1, channels, 1, 1]) }
    }
    /// Sets the statistics from u8 training images.
    pub fn fit(&mut self, images: &Tensor) {
        tch::no_grad(|| {
            let x = images.to_kind(Kind::Float) / 255.0;
            let m = x.mean_dim([0i64, 2, 3].as_slice(), true, Kind::Float);
            let s = x.std_dim([0i64, 2, 3].as_slice(), false, true).clamp_min(1e-3);
            self.mean.copy_(&m);
            self.std.copy_(&s);
        });
    }
    pub fn apply(&self, x: &Tensor) -> Tensor {
        (x - &self.mean) / &self.std
    }
}

/// Implements `Learner` for a method whose representation is its `encoder` on
/// `norm`-standardized input (every method but the autoencoder and DINO).
macro_rules! learner_via_backbone {
    ($t:ty) => {
        impl $crate::methods::Learner for $t {
            fn embed(&self, x: &tch::Tensor) -> tch::Tensor {
                self.encoder.forward(&self.norm.apply(x), false)
            }
            fn embed_blocks(&self, x: &tch::Tensor) -> Vec<tch::Tensor> {
                self.encoder.blocks(&self.norm.apply(x), false)
            }
            fn normalizer(&mut self) -> &mut $crate::methods::Normalizer {
                &mut self.norm
            }
            fn cls_attention(&self, x: &tch::Tensor) -> Option<tch::Tensor> {
                self.encoder.as_vit().map(|v| v.last_cls_attention(&self.norm.apply(x)))
            }
        }
    };
}
pub(crate) use learner_via_backbone;

/// What building a learner needs besides its settings.
#[derive(Debug, Clone, Copy)]
pub struct BuildInfo {
    pub shape: Shape,
    pub num_classes: i64,
}

/// Builds a learner for `spec` in `vs`.
pub type BuildResult = Result<Box<dyn Learner>>;
