//! Learning methods: each builds its networks in a var store, defines its loss
//! (the shared loop in `train::trainer` does the rest) and says how to embed.
//!
//! Networks are named by path: `encoder/...` is the backbone whose output is the
//! representation; `projector/`, `predictor/`, `head/`, `decoder/` are the
//! method's own; EMA teachers live in a second var store under the same names.
//!
//! A method is one file: its params struct (serde, `Default` = the paper's
//! settings scaled to small images), its `Method` impl (which owns the checks of
//! its settings and the version of its arithmetic) and its learner. It is made
//! known by one line in `for_each_method!` below.
pub mod heads;
pub mod losses;

/// The registry of learned methods: `file: ParamsType => Variant,` — one line per
/// method. The file name is the suite's `kind:` (the variant's snake_case name,
/// which a test checks). `callback!` receives the list, after any tokens given
/// before it (how `represent` adds the hand-engineered kinds to one enum).
macro_rules! for_each_method {
    ($callback:ident { $($before:tt)* }) => {
        $callback! {
            $($before)*
            learned {
                supervised: SupervisedParams => Supervised,
                autoencoder: AutoencoderParams => Autoencoder,
                simclr: SimclrParams => Simclr,
                byol: ByolParams => Byol,
                vicreg: VicregParams => Vicreg,
                dino: DinoParams => Dino,
                mae: MaeParams => Mae,
                barlow_twins: BarlowTwinsParams => BarlowTwins,
                simsiam: SimsiamParams => Simsiam,
                moco_v3: MocoV3Params => MocoV3,
            }
        }
    };
}
pub(crate) use for_each_method;

/// Declares each registered method's module.
macro_rules! declare_method_modules {
    (learned { $($module:ident: $params:ident => $variant:ident,)* }) => {
        $(pub mod $module;)*
    };
}
for_each_method!(declare_method_modules {});

use crate::checks::Checker;
use crate::error::Result;
use crate::nn::{EncoderSpec, Shape};
use crate::train::trainer::{Objective, TrainParams};
use tch::{nn, Kind, Tensor};

/// A learned method's settings, as the representation family sees them: what
/// to train with, which encoder, how to build the learner, where its embedding
/// backbone lives, and which of its settings are valid.
pub trait Method: std::fmt::Debug + Send + Sync {
    /// The version of the method's arithmetic (loss, heads, schedules, how it
    /// embeds). It enters the fit key: bump it when a change alters what the
    /// method computes for the same settings (docs/architecture.md).
    fn version(&self) -> u32;
    fn encoder(&self) -> &EncoderSpec;
    fn train(&self) -> &TrainParams;
    /// Builds the learner's networks in `vs` (under the caller's seed).
    fn build(&self, vs: &nn::VarStore, info: BuildInfo) -> BuildResult;
    /// Prefix of the embedding backbone's variables in the fitted state. DINO
    /// embeds with its EMA teacher, so fine-tuning starts from the teacher.
    fn backbone_prefix(&self) -> &'static str {
        "vs/encoder"
    }
    /// Parameters and multiply-accumulates per image of what embeds: the
    /// encoder, unless the method's representation adds layers after it.
    fn complexity(&self, shape: crate::nn::Shape) -> crate::error::Result<crate::nn::cost::Complexity> {
        self.encoder().complexity(shape)
    }
    /// Checks of the method's own settings (`path` is the representation's
    /// field path); the encoder and training settings are checked for every method.
    fn check(&self, path: &str, c: &mut Checker);
}

/// Version of the machinery every learned method shares: the training loop and
/// its optimisers and schedules (`train/`), the encoders (`nn/`), the
/// augmentations and the input normalizer. It enters every learned fit key.
pub const SHARED_VERSION: u32 = 2;

/// The accessors every `Method` impl shares: `version` (the file's `VERSION`),
/// `encoder` and `train` (the params' fields of those names).
macro_rules! method_basics {
    ($version:expr) => {
        fn version(&self) -> u32 {
            $version
        }
        fn encoder(&self) -> &$crate::nn::EncoderSpec {
            &self.encoder
        }
        fn train(&self) -> &$crate::train::trainer::TrainParams {
            &self.train
        }
    };
}
pub(crate) use method_basics;

/// Checks that `v`, at `path.name`, is a momentum in [0, 1].
pub fn check_momentum(path: &str, name: &str, v: f64, c: &mut Checker) {
    if !(0.0..=1.0).contains(&v) {
        c.push(&format!("{path}.{name}"), format!("must be in [0, 1] (got {v})"));
    }
}

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
        Normalizer {
            mean: p.zeros_no_train("mean", &[1, channels, 1, 1]),
            std: p.ones_no_train("std", &[1, channels, 1, 1]),
        }
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
    /// The same statistics over `rows` of `images` (a memory-mapped store
    /// part), a chunk at a time: sums in f64, so no float copy of the
    /// training set is made.
    pub fn fit_rows(&mut self, images: &Tensor, rows: &Tensor) {
        tch::no_grad(|| {
            let (n, c) = (rows.size()[0], images.size()[1]);
            let mut sum = Tensor::zeros([c], (Kind::Double, images.device()));
            let mut sq = Tensor::zeros([c], (Kind::Double, images.device()));
            let mut count = 0i64;
            let chunk = 2048;
            for start in (0..n).step_by(chunk as usize) {
                let idx = rows.narrow(0, start, chunk.min(n - start));
                let x = images.index_select(0, &idx).to_kind(Kind::Double) / 255.0;
                sum += x.sum_dim_intlist([0i64, 2, 3].as_slice(), false, Kind::Double);
                sq += x.square().sum_dim_intlist([0i64, 2, 3].as_slice(), false, Kind::Double);
                count += x.size()[0] * x.size()[2] * x.size()[3];
            }
            let m = &sum / count as f64;
            let var = (&sq / count as f64 - m.square()).clamp_min(0.0);
            let s = var.sqrt().clamp_min(1e-3);
            self.mean.copy_(&m.to_kind(Kind::Float).view([1, c, 1, 1]));
            self.std.copy_(&s.to_kind(Kind::Float).view([1, c, 1, 1]));
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
