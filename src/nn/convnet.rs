//! A plain ConvNet: per block, `convs_per_block` × (3×3 conv → BatchNorm → ReLU),
//! then 2×2 max-pooling while the feature map is larger than 2×2. The
//! representation is the global average of the last block.
use super::{gap, Encoder, Shape};
use serde::{Deserialize, Serialize};
use tch::nn::{self, Module, ModuleT};
use tch::Tensor;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConvNetParams {
    pub widths: Vec<usize>,
    pub convs_per_block: usize,
    pub batch_norm: bool,
}

impl Default for ConvNetParams {
    fn default() -> Self {
        ConvNetParams { widths: vec![32, 64, 128], convs_per_block: 2, batch_norm: true }
    }
}

struct Block {
    convs: Vec<(nn::Conv2D, Option<nn::BatchNorm>)>,
    pool: bool,
}

pub struct ConvNet {
    blocks: Vec<Block>,
    out: i64,
}

impl ConvNet {
    pub fn new(p: &nn::Path, cfg: &ConvNetParams, (c, h, _w): Shape) -> ConvNet {
        let mut cin = c;
        let mut size = h;
        let mut blocks = Vec::new();
        for (i, &wd) in cfg.widths.iter().enumerate() {
            let q = p / format!("block{i}");
            let mut convs = Vec::new();
            for j in 0..cfg.convs_per_block {
                let conv_cfg = nn::ConvConfig { padding: 1, bias: !cfg.batch_norm, ..Default::default() };
                let conv = nn::conv2d(&q / format!("conv{j}"), cin, wd as i64, 3, conv_cfg);
                let bn = cfg.batch_norm.then(|| nn::batch_norm2d(&q / format!("bn{j}"), wd as i64, Default::default()));
                convs.push((conv, bn));
                cin = wd as i64;
            }
            let pool = size > 2 && i + 1 < cfg.widths.len();
            if pool {
                size /= 2;
            }
            blocks.push(Block { convs, pool });
        }
        ConvNet { blocks, out: cin }
    }
}

impl ConvNet {
    /// Runs the blocks; `each` sees every block's feature map before pooling.
    fn run(&self, x: &Tensor, train: bool, mut each: impl FnMut(&Tensor)) -> Tensor {
        let mut h = x.shallow_clone();
        for b in &self.blocks {
            for (conv, bn) in &b.convs {
                h = conv.forward(&h);
                if let Some(bn) = bn {
                    h = bn.forward_t(&h, train);
                }
                h = h.relu();
            }
            each(&h);
            if b.pool {
                h = h.max_pool2d_default(2);
            }
        }
        h
    }
}

impl Encoder for ConvNet {
    fn blocks(&self, x: &Tensor, train: bool) -> Vec<Tensor> {
        let mut out = Vec::with_capacity(self.blocks.len());
        let _last = self.run(x, train, |h| out.push(gap(h)));
        out
    }
    /// Training only needs the last block: no pooled copies of the others.
    fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        gap(&self.run(x, train, |_| {}))
    }
    fn block_prefixes(&self) -> Vec<Vec<String>> {
        (0..self.blocks.len()).map(|i| vec![format!("block{i}")]).collect()
    }
    fn out_dim(&self) -> i64 {
        self.out
    }
}
