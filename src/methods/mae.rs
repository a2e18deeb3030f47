//! MAE (He et al. 2022): a ViT encoder sees a random 25 % of the patches (mask
//! ratio 0.75); a light transformer decoder reconstructs the pixels of the masked
//! patches, and the loss is the MSE on masked patches only — optionally against
//! per-patch normalised pixels (`norm_pix_loss`, the paper's better variant).
//! Decoder 512-d × 8 blocks scaled to 128-d × 2 for small images. The
//! representation is the encoder's CLS token on the full image.
use super::{BuildInfo, BuildResult, Method, Normalizer};
use crate::augment::AugmentParams;
use crate::checks::Checker;
use crate::nn::vit::{linear, Vit, VitBlock};
use crate::nn::{Encoder, EncoderSpec};
use crate::train::trainer::{Objective, StepInfo, TrainParams};
use serde::{Deserialize, Serialize};
use tch::nn::{self, Module};
use tch::{Kind, Tensor};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MaeParams {
    pub encoder: EncoderSpec,
    pub train: TrainParams,
    /// Crop and flip only, as in the paper (colour settings are ignored).
    pub augment: AugmentParams,
    pub mask_ratio: f64,
    pub decoder_dim: usize,
    pub decoder_depth: usize,
    pub decoder_heads: usize,
    pub norm_pix_loss: bool,
}

impl Default for MaeParams {
    fn default() -> Self {
        MaeParams {
            encoder: EncoderSpec::Vit(Default::default()),
            train: Default::default(),
            augment: AugmentParams { jitter_p: 0.0, grayscale_p: 0.0, ..Default::default() },
            mask_ratio: 0.75,
            decoder_dim: 128,
            decoder_depth: 2,
            decoder_heads: 4,
            norm_pix_loss: true,
        }
    }
}

pub struct Mae {
    norm: Normalizer,
    encoder: Box<dyn Encoder>,
    dec_embed: nn::Linear,
    mask_token: Tensor,
    dec_pos: Tensor,
    dec_blocks: Vec<VitBlock>,
    dec_norm: nn::LayerNorm,
    dec_pred: nn::Linear,
    p: MaeParams,
    patch: i64,
}

/// Version of this method's arithmetic; bump it when what it computes changes
/// (it enters the fit key, see `Method::version`).
pub const VERSION: u32 = 1;

impl Method for MaeParams {
    super::method_basics!(VERSION);
    fn check(&self, path: &str, c: &mut Checker) {
        if !matches!(self.encoder, EncoderSpec::Vit(_)) {
            c.push(&format!("{path}.encoder.arch"), "mae needs a ViT encoder (arch: vit)");
        }
        if !(self.mask_ratio > 0.0 && self.mask_ratio < 1.0) {
            c.push(&format!("{path}.mask_ratio"), format!("must be in (0, 1) (got {})", self.mask_ratio));
        }
        c.positive(&format!("{path}.decoder_dim"), self.decoder_dim);
        c.positive(&format!("{path}.decoder_heads"), self.decoder_heads);
    }
    fn build(&self, vs: &nn::VarStore, info: BuildInfo) -> BuildResult {
        let p = self;
        let cfg = p.encoder.require_vit("mae")?;
        let root = vs.root();
        let encoder = p.encoder.build(&(&root / "encoder"), info.shape)?;
        let n = (info.shape.1 / cfg.patch) * (info.shape.2 / cfg.patch);
        let dd = p.decoder_dim as i64;
        if dd % p.decoder_heads as i64 != 0 {
            return Err(crate::error::Error::stage(format!(
                "mae: decoder_dim {dd} is not divisible by decoder_heads {}",
                p.decoder_heads
            )));
        }
        let d = &root / "decoder";
        Ok(Box::new(Mae {
            norm: Normalizer::new(&(&root / "norm"), info.shape.0),
            dec_embed: linear(&d / "embed", cfg.dim, dd),
            mask_token: d.var("mask_token", &[1, 1, dd], nn::Init::Randn { mean: 0.0, stdev: 0.02 }),
            dec_pos: d.var("pos_embed", &[1, n + 1, dd], nn::Init::Randn { mean: 0.0, stdev: 0.02 }),
            dec_blocks: (0..p.decoder_depth)
                .map(|i| VitBlock::new(&(&d / "blocks" / i), dd, p.decoder_heads as i64, 4.0, 0.0))
                .collect(),
            dec_norm: nn::layer_norm(&d / "norm", vec![dd], Default::default()),
            dec_pred: linear(&d / "pred", dd, cfg.patch * cfg.patch * info.shape.0),
            encoder,
            p: p.clone(),
            patch: cfg.patch,
        }))
    }
}

/// [B, C, H, W] → [B, N, p·p·C], patches in row-major order.
pub fn patchify(x: &Tensor, p: i64) -> Tensor {
    let s = x.size();
    let (b, c, h, w) = (s[0], s[1], s[2] / p, s[3] / p);
    x.narrow(2, 0, h * p).narrow(3, 0, w * p).reshape([b, c, h, p, w, p]).permute([0, 2, 4, 3, 5, 1]).reshape([
        b,
        h * w,
        p * p * c,
    ])
}

impl Mae {
    fn vit(&self) -> &Vit {
        self.encoder.as_vit().expect("mae is built with a ViT")
    }

    /// Loss of a batch (normalised images) with a given mask noise [B, N].
    pub fn loss_with_noise(&self, x: &Tensor, noise: &Tensor) -> Tensor {
        let vit = self.vit();
        let tokens = vit.patch_tokens(x);
        let (b, n, d) = tokens.size3().expect("[B, N, D]");
        let keep = ((n as f64) * (1.0 - self.p.mask_ratio)).round().max(1.0) as i64;
        let shuffle = noise.argsort(1, false);
        let restore = shuffle.argsort(1, false);
        let ids_keep = shuffle.narrow(1, 0, keep);
        let visible = tokens.gather(1, &ids_keep.unsqueeze(-1).expand([b, keep, d], false), false);
        let (enc, _) = vit.run_blocks(&vit.with_cls(&visible), false);
        // Decoder: embed, append mask tokens, unshuffle, add positions.
        let e = self.dec_embed.forward(&enc);
        let dd = e.size()[2];
        let masks = self.mask_token.expand([b, n - keep, dd], false);
        let seq = Tensor::cat(&[e.narrow(1, 1, keep), masks], 1);
        let seq = seq.gather(1, &restore.unsqueeze(-1).expand([b, n, dd], false), false);
        let mut h = Tensor::cat(&[e.narrow(1, 0, 1), seq], 1) + &self.dec_pos;
        for blk in &self.dec_blocks {
            h = blk.forward(&h);
        }
        let pred = self.dec_pred.forward(&self.dec_norm.forward(&h)).narrow(1, 1, n);
        let mut target = patchify(x, self.patch);
        if self.p.norm_pix_loss {
            let m = target.mean_dim(-1, true, Kind::Float);
            let v = target.var_dim(-1, true, true);
            target = (target - m) / (v + 1e-6).sqrt();
        }
        let per_patch = (pred - target).square().mean_dim(-1, false, Kind::Float);
        // mask: 1 for removed patches, in the original order.
        let mask = Tensor::ones([b, n], (Kind::Float, x.device()));
        let mask = mask.index_fill(1, &Tensor::arange(keep, (Kind::Int64, x.device())), 0.0).gather(1, &restore, false);
        (per_patch * &mask).sum(Kind::Float) / mask.sum(Kind::Float)
    }
}

impl Objective for Mae {
    fn loss(&mut self, x: &Tensor, _y: &Tensor, _s: &StepInfo) -> crate::error::Result<Tensor> {
        let v = self.norm.apply(&self.p.augment.crop(x, (x.size()[2], x.size()[3]), self.p.augment.crop_scale));
        let n = self.vit().num_patches();
        crate::runtime::seeding::check_seeded("mae mask");
        let noise = Tensor::rand([x.size()[0], n], (Kind::Float, x.device()));
        Ok(self.loss_with_noise(&v, &noise))
    }
}

// The representation is the backbone's output on standardized input.
super::learner_via_backbone!(Mae);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patchify_orders_patches_row_major() {
        let x = Tensor::arange(16, (Kind::Float, tch::Device::Cpu)).view([1, 1, 4, 4]);
        let p = patchify(&x, 2);
        assert_eq!(p.size(), vec![1, 4, 4]);
        let first: Vec<f32> = Vec::try_from(p.get(0).get(0)).unwrap();
        assert_eq!(first, vec![0.0, 1.0, 4.0, 5.0]);
        let second: Vec<f32> = Vec::try_from(p.get(0).get(1)).unwrap();
        assert_eq!(second, vec![2.0, 3.0, 6.0, 7.0]);
    }
}
