//! Encoders for the learned representations. Every encoder exposes the output of
//! each block (pooled to one vector per image, for probes by depth) and its final
//! representation; a ViT also exposes its last block's attention.
//!
//! Parameters are named by path (`encoder/block2/conv1/weight`), so checkpoints are
//! stable across runs and readable by other tools.
pub mod convnet;
pub mod cost;
pub mod mlp;
pub mod resnet;
pub mod vit;

use crate::checks::{Checker, Validate};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use tch::{nn, Tensor};

/// A network mapping images [B, C, H, W] (normalized floats) to features.
pub trait Encoder: Send {
    /// Per-block features [B, d_i]; the last one is the representation.
    fn blocks(&self, x: &Tensor, train: bool) -> Vec<Tensor>;
    /// The representation [B, out_dim].
    fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        self.blocks(x, train).pop().expect("an encoder has at least one block")
    }
    fn out_dim(&self) -> i64;
    /// Variable-name prefixes (relative to the encoder, tch's '.'-joined paths)
    /// of each block, in order:
    /// what fine-tuning the last N blocks unfreezes. Anything before the first
    /// block (stem, patch embedding) belongs to no block.
    fn block_prefixes(&self) -> Vec<Vec<String>>;
    /// The ViT inside, for methods that need its tokens (MAE, attention maps).
    fn as_vit(&self) -> Option<&vit::Vit> {
        None
    }
}

/// `encoder:` in a suite, selected by `arch:`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "arch", rename_all = "snake_case")]
pub enum EncoderSpec {
    Mlp(mlp::MlpParams),
    Convnet(convnet::ConvNetParams),
    Resnet18(resnet::ResNetParams),
    Vit(vit::VitParams),
}

impl Default for EncoderSpec {
    fn default() -> Self {
        EncoderSpec::Convnet(Default::default())
    }
}

/// Image shape (C, H, W).
pub type Shape = (i64, i64, i64);

impl EncoderSpec {
    pub fn build(&self, p: &nn::Path, shape: Shape) -> Result<Box<dyn Encoder>> {
        Ok(match self {
            EncoderSpec::Mlp(m) => Box::new(mlp::Mlp::new(p, m, shape)),
            EncoderSpec::Convnet(c) => Box::new(convnet::ConvNet::new(p, c, shape)),
            EncoderSpec::Resnet18(r) => Box::new(resnet::ResNet::new(p, r, shape)),
            EncoderSpec::Vit(v) => Box::new(vit::Vit::new(p, &v.resolved()?, shape)?),
        })
    }

    /// `build` with stochastic depth `drop_path` in a ViT (the network a method
    /// trains: DINO's student); other architectures have none and ignore it, as in DINO.
    pub fn build_with_drop_path(&self, p: &nn::Path, shape: Shape, drop_path: f64) -> Result<Box<dyn Encoder>> {
        match self {
            EncoderSpec::Vit(v) => {
                Ok(Box::new(vit::Vit::new(p, &vit::VitConfig { drop_path, ..v.resolved()? }, shape)?))
            }
            other => other.build(p, shape),
        }
    }

    /// Whether the encoder is a Vision Transformer (attention maps, patch masking,
    /// MoCo v3's frozen patch embedding). A method, not a compare of `arch()`
    /// strings, so a renamed architecture cannot silently fall out of a check.
    pub fn is_vit(&self) -> bool {
        matches!(self, EncoderSpec::Vit(_))
    }

    /// Whether the encoder is the ResNet-18 (torchvision's checkpoint names).
    pub fn is_resnet18(&self) -> bool {
        matches!(self, EncoderSpec::Resnet18(_))
    }

    /// The suite's `arch:` name, for messages.
    pub fn arch(&self) -> &'static str {
        match self {
            EncoderSpec::Mlp(_) => "mlp",
            EncoderSpec::Convnet(_) => "convnet",
            EncoderSpec::Resnet18(_) => "resnet18",
            EncoderSpec::Vit(_) => "vit",
        }
    }

    pub fn require_vit(&self, method: &str) -> Result<vit::VitConfig> {
        match self {
            EncoderSpec::Vit(v) => v.resolved(),
            other => Err(Error::stage(format!("{method} needs a ViT encoder (arch: vit), not {}", other.arch()))),
        }
    }
}

impl Validate for EncoderSpec {
    fn validate(&self, path: &str, c: &mut Checker) {
        match self {
            EncoderSpec::Mlp(m) => {
                c.widths(&format!("{path}.hidden"), &m.hidden);
            }
            EncoderSpec::Convnet(m) => {
                c.widths(&format!("{path}.widths"), &m.widths);
                c.positive(&format!("{path}.convs_per_block"), m.convs_per_block);
            }
            EncoderSpec::Resnet18(r) => c.positive_f(&format!("{path}.width"), r.width),
            EncoderSpec::Vit(v) => {
                if let Err(e) = v.resolved() {
                    c.push(path, e.to_string());
                }
            }
        }
    }
}

/// Global average pool [B, C, H, W] → [B, C].
pub fn gap(x: &Tensor) -> Tensor {
    x.mean_dim([2i64, 3].as_slice(), false, tch::Kind::Float)
}
