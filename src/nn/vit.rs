//! Vision Transformer (Dosovitskiy et al.): non-overlapping patches, a CLS token,
//! learned position embeddings, pre-norm blocks (attention + GELU MLP). Position
//! embeddings are interpolated bilinearly for other input sizes (multi-crop).
//!
//! Presets follow DeiT: tiny = 192-d, 12 blocks, 3 heads; small = 384-d, 12, 6.
use super::{Encoder, Shape};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use tch::nn::{self, Init, Module};
use tch::{Kind, Tensor};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VitParams {
    /// `tiny` or `small`; the other fields override it.
    pub preset: String,
    pub patch_size: Option<usize>,
    pub dim: Option<usize>,
    pub depth: Option<usize>,
    pub heads: Option<usize>,
    pub mlp_ratio: Option<f64>,
}

impl Default for VitParams {
    fn default() -> Self {
        VitParams { preset: "tiny".into(), patch_size: None, dim: None, depth: None, heads: None, mlp_ratio: None }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VitConfig {
    pub patch: i64,
    pub dim: i64,
    pub depth: i64,
    pub heads: i64,
    pub mlp_ratio: f64,
    /// Stochastic depth: the largest rate, reached by the last block (rates rise
    /// linearly from 0 at the first, as in DeiT/DINO). Only in training mode; 0 off.
    /// Not a suite setting of the encoder: a method sets it for the network it
    /// trains (DINO's student), never for an EMA teacher.
    pub drop_path: f64,
}

impl VitParams {
    pub fn resolved(&self) -> Result<VitConfig> {
        let (dim, depth, heads) = match self.preset.as_str() {
            "tiny" => (192, 12, 3),
            "small" => (384, 12, 6),
            other => return Err(Error::stage(format!("unknown ViT preset `{other}` (tiny or small)"))),
        };
        let c = VitConfig {
            patch: self.patch_size.unwrap_or(4) as i64,
            dim: self.dim.unwrap_or(dim) as i64,
            depth: self.depth.unwrap_or(depth) as i64,
            heads: self.heads.unwrap_or(heads) as i64,
            mlp_ratio: self.mlp_ratio.unwrap_or(4.0),
            drop_path: 0.0,
        };
        if c.patch < 1 || c.dim < 1 || c.depth < 1 || c.heads < 1 || c.mlp_ratio <= 0.0 {
            return Err(Error::stage("ViT patch_size, dim, depth, heads and mlp_ratio must be positive"));
        }
        if c.dim % c.heads != 0 {
            return Err(Error::stage(format!("ViT dim {} is not divisible by heads {}", c.dim, c.heads)));
        }
        Ok(c)
    }
}

pub fn linear(p: nn::Path, i: i64, o: i64) -> nn::Linear {
    nn::linear(
        p,
        i,
        o,
        nn::LinearConfig {
            ws_init: Init::Randn { mean: 0.0, stdev: 0.02 },
            bs_init: Some(Init::Const(0.0)),
            bias: true,
        },
    )
}

pub struct VitBlock {
    ln1: nn::LayerNorm,
    qkv: nn::Linear,
    proj: nn::Linear,
    ln2: nn::LayerNorm,
    fc1: nn::Linear,
    fc2: nn::Linear,
    heads: i64,
    /// This block's drop-path rate (training only).
    drop: f64,
}

impl VitBlock {
    pub fn new(p: &nn::Path, dim: i64, heads: i64, mlp_ratio: f64, drop: f64) -> VitBlock {
        let hidden = (dim as f64 * mlp_ratio) as i64;
        VitBlock {
            ln1: nn::layer_norm(p / "ln1", vec![dim], Default::default()),
            qkv: linear(p / "attn" / "qkv", dim, 3 * dim),
            proj: linear(p / "attn" / "proj", dim, dim),
            ln2: nn::layer_norm(p / "ln2", vec![dim], Default::default()),
            fc1: linear(p / "mlp" / "fc1", dim, hidden),
            fc2: linear(p / "mlp" / "fc2", hidden, dim),
            heads,
            drop,
        }
    }

    /// q, k, v as [B, H, N, dh].
    fn qkv(&self, x: &Tensor) -> (Tensor, Tensor, Tensor) {
        let (b, n, d) = x.size3().expect("tokens are [B, N, D]");
        let qkv = self
            .qkv
            .forward(&self.ln1.forward(x))
            .reshape([b, n, 3, self.heads, d / self.heads])
            .permute([2, 0, 3, 1, 4]);
        (qkv.get(0), qkv.get(1), qkv.get(2))
    }

    fn finish(&self, x: &Tensor, attn_out: Tensor, train: bool) -> Tensor {
        let (b, n, d) = x.size3().expect("tokens are [B, N, D]");
        let x = x + self.drop_path(self.proj.forward(&attn_out.transpose(1, 2).reshape([b, n, d])), train);
        let h = self.fc2.forward(&self.fc1.forward(&self.ln2.forward(&x)).gelu("none"));
        &x + self.drop_path(h, train)
    }

    /// Stochastic depth on a residual branch [B, N, D]: each image's branch is
    /// dropped with probability `drop` and the kept ones scaled by 1 / (1 − drop).
    fn drop_path(&self, branch: Tensor, train: bool) -> Tensor {
        if !train || self.drop <= 0.0 {
            return branch;
        }
        let keep = 1.0 - self.drop;
        let b = branch.size()[0];
        crate::runtime::seeding::check_seeded("vit drop path");
        let mask = Tensor::rand([b, 1, 1], (Kind::Float, branch.device())).lt(keep).to_kind(branch.kind());
        branch * mask / keep
    }

    pub fn forward(&self, x: &Tensor) -> Tensor {
        self.forward_t(x, false)
    }

    /// The forward pass; in training mode with drop-path.
    pub fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let (q, k, v) = self.qkv(x);
        let a = Tensor::scaled_dot_product_attention::<Tensor>(&q, &k, &v, None, 0.0, false, None, false);
        self.finish(x, a, train)
    }

    /// The forward pass that also returns the attention weights [B, H, N, N].
    pub fn forward_with_attention(&self, x: &Tensor) -> (Tensor, Tensor) {
        let (q, k, v) = self.qkv(x);
        let scale = (q.size()[3] as f64).powf(-0.5);
        let w = (q.matmul(&k.transpose(-2, -1)) * scale).softmax(-1, Kind::Float);
        let a = w.matmul(&v);
        (self.finish(x, a, false), w)
    }
}

pub struct Vit {
    pub cfg: VitConfig,
    patch_embed: nn::Conv2D,
    cls: Tensor,
    pos: Tensor,
    grid: (i64, i64),
    pub blocks: Vec<VitBlock>,
    norm: nn::LayerNorm,
}

impl Vit {
    pub fn new(p: &nn::Path, cfg: &VitConfig, (c, h, w): Shape) -> Result<Vit> {
        if h < cfg.patch || w < cfg.patch {
            return Err(Error::stage(format!("ViT patch size {} is larger than the {h}x{w} images", cfg.patch)));
        }
        let grid = (h / cfg.patch, w / cfg.patch);
        let n = grid.0 * grid.1;
        Ok(Vit {
            cfg: *cfg,
            patch_embed: nn::conv2d(
                p / "patch_embed",
                c,
                cfg.dim,
                cfg.patch,
                nn::ConvConfig { stride: cfg.patch, ..Default::default() },
            ),
            cls: p.var("cls_token", &[1, 1, cfg.dim], Init::Randn { mean: 0.0, stdev: 0.02 }),
            pos: p.var("pos_embed", &[1, n + 1, cfg.dim], Init::Randn { mean: 0.0, stdev: 0.02 }),
            grid,
            blocks: (0..cfg.depth)
                .map(|i| {
                    let drop = cfg.drop_path * i as f64 / (cfg.depth - 1).max(1) as f64;
                    VitBlock::new(&(p / "blocks" / i), cfg.dim, cfg.heads, cfg.mlp_ratio, drop)
                })
                .collect(),
            norm: nn::layer_norm(p / "norm", vec![cfg.dim], Default::default()),
        })
    }

    /// Number of patches of a full-size image.
    pub fn num_patches(&self) -> i64 {
        self.grid.0 * self.grid.1
    }

    /// Position embeddings of the patches for a gh×gw grid [1, gh·gw, D].
    fn patch_pos(&self, gh: i64, gw: i64) -> Tensor {
        let pp = self.pos.narrow(1, 1, self.num_patches());
        if (gh, gw) == self.grid {
            return pp;
        }
        let img = pp.reshape([1, self.grid.0, self.grid.1, self.cfg.dim]).permute([0, 3, 1, 2]);
        img.upsample_bilinear2d([gh, gw], false, None, None).permute([0, 2, 3, 1]).reshape([1, gh * gw, self.cfg.dim])
    }

    /// Patch tokens with their position embeddings [B, N, D] (no CLS).
    pub fn patch_tokens(&self, x: &Tensor) -> Tensor {
        let t = self.patch_embed.forward(x); // [B, D, gh, gw]
        let (gh, gw) = (t.size()[2], t.size()[3]);
        t.flatten(2, -1).transpose(1, 2) + self.patch_pos(gh, gw)
    }

    /// Prepends the CLS token (with its position embedding).
    pub fn with_cls(&self, tokens: &Tensor) -> Tensor {
        let b = tokens.size()[0];
        let cls = (&self.cls + self.pos.narrow(1, 0, 1)).expand([b, 1, self.cfg.dim], false);
        Tensor::cat(&[cls, tokens.shallow_clone()], 1)
    }

    /// Runs the blocks; returns the final normalized tokens and the CLS token after each block.
    pub fn run_blocks(&self, tokens: &Tensor, train: bool) -> (Tensor, Vec<Tensor>) {
        let mut h = tokens.shallow_clone();
        let mut cls = Vec::with_capacity(self.blocks.len());
        for (i, b) in self.blocks.iter().enumerate() {
            h = b.forward_t(&h, train);
            if i + 1 < self.blocks.len() {
                cls.push(h.select(1, 0));
            }
        }
        let h = self.norm.forward(&h);
        cls.push(h.select(1, 0));
        (h, cls)
    }

    /// CLS attention of the last block, per head: [B, H, gh, gw].
    pub fn last_cls_attention(&self, x: &Tensor) -> Tensor {
        let mut h = self.with_cls(&self.patch_tokens(x));
        let last = self.blocks.len() - 1;
        for b in &self.blocks[..last] {
            h = b.forward(&h);
        }
        let (_, w) = self.blocks[last].forward_with_attention(&h);
        let (gh, gw) = (x.size()[2] / self.cfg.patch, x.size()[3] / self.cfg.patch);
        w.select(2, 0).narrow(2, 1, gh * gw).reshape([x.size()[0], self.cfg.heads, gh, gw])
    }
}

impl Encoder for Vit {
    fn blocks(&self, x: &Tensor, train: bool) -> Vec<Tensor> {
        self.run_blocks(&self.with_cls(&self.patch_tokens(x)), train).1
    }
    fn block_prefixes(&self) -> Vec<Vec<String>> {
        let n = self.blocks.len();
        // The final LayerNorm goes with the last block.
        (0..n)
            .map(|i| if i + 1 == n { vec![format!("blocks.{i}"), "norm".into()] } else { vec![format!("blocks.{i}")] })
            .collect()
    }
    fn out_dim(&self) -> i64 {
        self.cfg.dim
    }
    fn as_vit(&self) -> Option<&Vit> {
        Some(self)
    }
}
