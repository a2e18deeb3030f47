//! ResNet-18, CIFAR-style: a 3×3 stride-1 stem and no max-pool, so 28×28 and
//! 32×32 images keep their resolution into the first stage; four stages of two
//! BasicBlocks with widths 64·w, 128·w, 256·w, 512·w.
use super::{gap, Encoder, Shape};
use serde::{Deserialize, Serialize};
use tch::nn::{self, Module, ModuleT};
use tch::Tensor;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ResNetParams {
    /// Width multiplier on (64, 128, 256, 512).
    pub width: f64,
}

impl Default for ResNetParams {
    fn default() -> Self {
        ResNetParams { width: 1.0 }
    }
}

fn conv(p: nn::Path, cin: i64, cout: i64, k: i64, stride: i64) -> nn::Conv2D {
    nn::conv2d(p, cin, cout, k, nn::ConvConfig { stride, padding: k / 2, bias: false, ..Default::default() })
}

struct BasicBlock {
    c1: nn::Conv2D,
    b1: nn::BatchNorm,
    c2: nn::Conv2D,
    b2: nn::BatchNorm,
    down: Option<(nn::Conv2D, nn::BatchNorm)>,
}

impl BasicBlock {
    fn new(p: &nn::Path, cin: i64, cout: i64, stride: i64) -> BasicBlock {
        let down = (stride != 1 || cin != cout).then(|| {
            (
                conv(p / "down" / "conv", cin, cout, 1, stride),
                nn::batch_norm2d(p / "down" / "bn", cout, Default::default()),
            )
        });
        BasicBlock {
            c1: conv(p / "conv1", cin, cout, 3, stride),
            b1: nn::batch_norm2d(p / "bn1", cout, Default::default()),
            c2: conv(p / "conv2", cout, cout, 3, 1),
            b2: nn::batch_norm2d(p / "bn2", cout, Default::default()),
            down,
        }
    }
    fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        let h = self.b1.forward_t(&self.c1.forward(x), train).relu();
        let h = self.b2.forward_t(&self.c2.forward(&h), train);
        let skip = match &self.down {
            Some((c, b)) => b.forward_t(&c.forward(x), train),
            None => x.shallow_clone(),
        };
        (h + skip).relu()
    }
}

pub struct ResNet {
    stem: (nn::Conv2D, nn::BatchNorm),
    stages: Vec<Vec<BasicBlock>>,
    out: i64,
}

impl ResNet {
    pub fn new(p: &nn::Path, cfg: &ResNetParams, (c, _h, _w): Shape) -> ResNet {
        let w = |n: f64| ((n * cfg.width).round() as i64).max(1);
        let stem_w = w(64.0);
        let stem = (
            conv(p / "stem" / "conv", c, stem_w, 3, 1),
            nn::batch_norm2d(p / "stem" / "bn", stem_w, Default::default()),
        );
        let mut cin = stem_w;
        let mut stages = Vec::new();
        for (i, (width, stride)) in [(64.0, 1), (128.0, 2), (256.0, 2), (512.0, 2)].into_iter().enumerate() {
            let cout = w(width);
            let q = p / format!("layer{}", i + 1);
            stages.push(vec![
                BasicBlock::new(&(&q / "0"), cin, cout, stride),
                BasicBlock::new(&(&q / "1"), cout, cout, 1),
            ]);
            cin = cout;
        }
        ResNet { stem, stages, out: cin }
    }
}

impl ResNet {
    fn run(&self, x: &Tensor, train: bool, mut each: impl FnMut(&Tensor)) -> Tensor {
        let mut h = self.stem.1.forward_t(&self.stem.0.forward(x), train).relu();
        for stage in &self.stages {
            for b in stage {
                h = b.forward(&h, train);
            }
            each(&h);
        }
        h
    }
}

impl Encoder for ResNet {
    fn blocks(&self, x: &Tensor, train: bool) -> Vec<Tensor> {
        let mut out = Vec::with_capacity(4);
        let _last = self.run(x, train, |h| out.push(gap(h)));
        out
    }
    fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        gap(&self.run(x, train, |_| {}))
    }
    fn block_prefixes(&self) -> Vec<Vec<String>> {
        (0..self.stages.len()).map(|i| vec![format!("layer{}", i + 1)]).collect()
    }
    fn out_dim(&self) -> i64 {
        self.out
    }
}
