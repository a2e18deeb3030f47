//! Autoencoder: encoder → linear bottleneck → decoder (an MLP, or transposed
//! convolutions) → sigmoid pixels; MSE against the clean image, with optional
//! gaussian input noise (a denoising autoencoder). The representation is the
//! bottleneck.
use super::{BuildInfo, BuildResult, Learner, Method, Normalizer};
use crate::checks::Checker;
use crate::nn::{Encoder, EncoderSpec, Shape};
use crate::train::trainer::{Objective, StepInfo, TrainParams};
use serde::{Deserialize, Serialize};
use tch::nn::{self, Module};
use tch::Tensor;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DecoderKind {
    Mlp,
    Conv,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AutoencoderParams {
    pub encoder: EncoderSpec,
    pub train: TrainParams,
    pub bottleneck: usize,
    pub decoder: DecoderKind,
    /// Std of gaussian noise added to the input in [0, 1] (0 = plain autoencoder).
    pub noise_std: f64,
}

impl Default for AutoencoderParams {
    fn default() -> Self {
        AutoencoderParams {
            encoder: Default::default(),
            train: Default::default(),
            bottleneck: 128,
            decoder: DecoderKind::Conv,
            noise_std: 0.0,
        }
    }
}

// One decoder per model: the variants' size difference costs nothing.
#[allow(clippy::large_enum_variant)]
enum Decoder {
    Mlp(nn::Linear, nn::Linear),
    Conv { fc: nn::Linear, up1: nn::ConvTranspose2D, up2: nn::ConvTranspose2D, base: (i64, i64) },
}

pub struct Autoencoder {
    norm: Normalizer,
    encoder: Box<dyn Encoder>,
    bottleneck: nn::Linear,
    decoder: Decoder,
    shape: Shape,
    noise_std: f64,
}

/// Version of this method's arithmetic; bump it when what it computes changes
/// (it enters the fit key, see `Method::version`).
pub const VERSION: u32 = 1;

impl Method for AutoencoderParams {
    super::method_basics!(VERSION);
    fn check(&self, path: &str, c: &mut Checker) {
        c.positive(&format!("{path}.bottleneck"), self.bottleneck);
        c.non_negative_f(&format!("{path}.noise_std"), self.noise_std);
    }
    /// The representation is the bottleneck after the encoder.
    fn complexity(&self, shape: Shape) -> crate::error::Result<crate::nn::cost::Complexity> {
        Ok(crate::nn::cost::with_linear(self.encoder.complexity(shape)?, self.bottleneck as i64))
    }
    fn build(&self, vs: &nn::VarStore, info: BuildInfo) -> BuildResult {
        let p = self;
        let root = vs.root();
        let (c, h, w) = info.shape;
        let encoder = p.encoder.build(&(&root / "encoder"), info.shape)?;
        let z = p.bottleneck as i64;
        let bottleneck = nn::linear(&root / "bottleneck", encoder.out_dim(), z, Default::default());
        let d = &root / "decoder";
        let decoder = match p.decoder {
            DecoderKind::Mlp => Decoder::Mlp(
                nn::linear(&d / "fc1", z, 512, Default::default()),
                nn::linear(&d / "fc2", 512, c * h * w, Default::default()),
            ),
            DecoderKind::Conv => {
                let base = ((h + 3) / 4, (w + 3) / 4);
                let cfg = nn::ConvTransposeConfig { stride: 2, padding: 1, output_padding: 1, ..Default::default() };
                Decoder::Conv {
                    fc: nn::linear(&d / "fc", z, 64 * base.0 * base.1, Default::default()),
                    up1: nn::conv_transpose2d(&d / "up1", 64, 32, 3, cfg),
                    up2: nn::conv_transpose2d(&d / "up2", 32, c, 3, cfg),
                    base,
                }
            }
        };
        Ok(Box::new(Autoencoder {
            norm: Normalizer::new(&(&root / "norm"), c),
            encoder,
            bottleneck,
            decoder,
            shape: info.shape,
            noise_std: p.noise_std,
        }))
    }
}

impl Autoencoder {
    fn encode(&self, x: &Tensor, train: bool) -> Tensor {
        self.bottleneck.forward(&self.encoder.forward(&self.norm.apply(x), train))
    }

    fn decode(&self, z: &Tensor) -> Tensor {
        let (c, h, w) = self.shape;
        let b = z.size()[0];
        let logits = match &self.decoder {
            Decoder::Mlp(f1, f2) => f2.forward(&f1.forward(z).relu()).view([b, c, h, w]),
            Decoder::Conv { fc, up1, up2, base } => {
                let t = fc.forward(z).relu().view([b, 64, base.0, base.1]);
                let t = up2.forward(&up1.forward(&t).relu());
                if (t.size()[2], t.size()[3]) == (h, w) {
                    t
                } else {
                    t.upsample_bilinear2d([h, w], false, None, None)
                }
            }
        };
        logits.sigmoid()
    }
}

impl Objective for Autoencoder {
    fn loss(&mut self, x: &Tensor, _y: &Tensor, _s: &StepInfo) -> crate::error::Result<Tensor> {
        let input = if self.noise_std > 0.0 {
            crate::runtime::seeding::check_seeded("autoencoder noise");
            (x + x.randn_like() * self.noise_std).clamp(0.0, 1.0)
        } else {
            x.shallow_clone()
        };
        let rec = self.decode(&self.encode(&input, true));
        Ok(rec.mse_loss(x, tch::Reduction::Mean))
    }
}

impl Learner for Autoencoder {
    fn embed(&self, x: &Tensor) -> Tensor {
        self.encode(x, false)
    }
    fn embed_blocks(&self, x: &Tensor) -> Vec<Tensor> {
        let mut b = self.encoder.blocks(&self.norm.apply(x), false);
        b.push(self.embed(x));
        b
    }
    fn normalizer(&mut self) -> &mut Normalizer {
        &mut self.norm
    }
    fn cls_attention(&self, x: &Tensor) -> Option<Tensor> {
        self.encoder.as_vit().map(|v| v.last_cls_attention(&self.norm.apply(x)))
    }
}
