//! A multi-layer perceptron on flattened pixels: Linear → BatchNorm → ReLU per block.
use super::{Encoder, Shape};
use serde::{Deserialize, Serialize};
use tch::nn::{self, Module, ModuleT};
use tch::Tensor;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MlpParams {
    pub hidden: Vec<usize>,
}

impl Default for MlpParams {
    fn default() -> Self {
        MlpParams { hidden: vec![512, 256] }
    }
}

pub struct Mlp {
    layers: Vec<(nn::Linear, nn::BatchNorm)>,
    out: i64,
}

impl Mlp {
    pub fn new(p: &nn::Path, cfg: &MlpParams, (c, h, w): Shape) -> Mlp {
        let mut d = c * h * w;
        let mut layers = Vec::new();
        for (i, &hd) in cfg.hidden.iter().enumerate() {
            let q = p / format!("block{i}");
            layers.push((
                nn::linear(&q / "fc", d, hd as i64, Default::default()),
                nn::batch_norm1d(&q / "bn", hd as i64, Default::default()),
            ));
            d = hd as i64;
        }
        Mlp { layers, out: d }
    }
}

impl Encoder for Mlp {
    fn blocks(&self, x: &Tensor, train: bool) -> Vec<Tensor> {
        let mut h = x.flatten(1, -1);
        let mut out = Vec::with_capacity(self.layers.len());
        for (fc, bn) in &self.layers {
            h = bn.forward_t(&fc.forward(&h), train).relu();
            out.push(h.shallow_clone());
        }
        out
    }
    fn block_prefixes(&self) -> Vec<Vec<String>> {
        (0..self.layers.len()).map(|i| vec![format!("block{i}")]).collect()
    }
    fn out_dim(&self) -> i64 {
        self.out
    }
}
