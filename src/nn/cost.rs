//! Parameters and multiply-accumulates (MACs) per image of repbench's encoders,
//! counted from the architecture and the image shape — no forward pass, so the
//! count is exact and costs nothing.
//!
//! The convention is ptflops' `aten` backend (the count of the operators
//! PyTorch actually runs): every convolution and matrix product counts its
//! multiply-accumulates, a bias adds one per output element, and attention's
//! two products (QKᵀ and the weighted sum of V) count as matrix products;
//! normalisation, activations, pooling and softmax count nothing. Parameters
//! are the trainable ones (BatchNorm's running statistics are buffers).
//! `tests/fixtures/cost/reference.json`, written by ptflops from the same
//! modules in PyTorch (`make_reference.py` beside it), checks both numbers.
use super::{convnet::ConvNetParams, mlp::MlpParams, resnet::ResNetParams, EncoderSpec, Shape};
use crate::error::Result;

/// One image's cost through an encoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Complexity {
    pub params: u64,
    pub macs: u64,
    /// The representation's width.
    pub out_dim: i64,
}

/// Adds up layers as they are applied, tracking the feature map's size.
#[derive(Default)]
struct Counter {
    params: u64,
    macs: u64,
}

/// A square convolution's geometry.
struct Conv {
    cin: i64,
    cout: i64,
    k: i64,
    stride: i64,
    pad: i64,
    bias: bool,
}

impl Counter {
    /// A convolution on an `h`×`w` map; returns the output size.
    fn conv(&mut self, c: Conv, (h, w): (i64, i64)) -> (i64, i64) {
        let out = |s: i64| (s + 2 * c.pad - c.k) / c.stride + 1;
        let (oh, ow) = (out(h), out(w));
        let weights = (c.cout * c.cin * c.k * c.k) as u64;
        let bias = if c.bias { c.cout as u64 } else { 0 };
        self.params += weights + bias;
        self.macs += (weights + bias) * (oh * ow) as u64;
        (oh, ow)
    }

    /// A linear layer applied to `rows` vectors (tokens) of one image.
    fn linear(&mut self, rows: i64, din: i64, dout: i64, bias: bool) {
        let weights = (din * dout) as u64;
        let bias = if bias { dout as u64 } else { 0 };
        self.params += weights + bias;
        self.macs += (weights + bias) * rows as u64;
    }

    /// A BatchNorm or LayerNorm's scale and shift.
    fn norm(&mut self, channels: i64) {
        self.params += 2 * channels as u64;
    }

    fn done(self, out_dim: i64) -> Complexity {
        Complexity { params: self.params, macs: self.macs, out_dim }
    }
}

impl EncoderSpec {
    /// Parameters and MACs per image of shape `shape` (C, H, W).
    pub fn complexity(&self, shape: Shape) -> Result<Complexity> {
        Ok(match self {
            EncoderSpec::Mlp(m) => mlp(m, shape),
            EncoderSpec::Convnet(c) => convnet(c, shape),
            EncoderSpec::Resnet18(r) => resnet(r, shape),
            EncoderSpec::Vit(v) => vit(&v.resolved()?, shape),
        })
    }
}

fn mlp(m: &MlpParams, (c, h, w): Shape) -> Complexity {
    let mut n = Counter::default();
    let mut d = c * h * w;
    for &hd in &m.hidden {
        n.linear(1, d, hd as i64, true);
        n.norm(hd as i64);
        d = hd as i64;
    }
    n.done(d)
}

fn convnet(cfg: &ConvNetParams, (c, h, w): Shape) -> Complexity {
    let mut n = Counter::default();
    let (mut cin, mut size) = (c, (h, w));
    for (i, &wd) in cfg.widths.iter().enumerate() {
        let wd = wd as i64;
        for _ in 0..cfg.convs_per_block {
            size = n.conv(Conv { cin, cout: wd, k: 3, stride: 1, pad: 1, bias: !cfg.batch_norm }, size);
            if cfg.batch_norm {
                n.norm(wd);
            }
            cin = wd;
        }
        // As `ConvNet::new` decides: pool while the map is larger than 2×2.
        if size.0 > 2 && i + 1 < cfg.widths.len() {
            size = (size.0 / 2, size.1 / 2);
        }
    }
    n.done(cin)
}

fn resnet(cfg: &ResNetParams, (c, h, w): Shape) -> Complexity {
    let width = |x: f64| ((x * cfg.width).round() as i64).max(1);
    let mut n = Counter::default();
    let stem = width(64.0);
    let mut size = n.conv(Conv { cin: c, cout: stem, k: 3, stride: 1, pad: 1, bias: false }, (h, w));
    n.norm(stem);
    let mut cin = stem;
    for (x, stride) in [(64.0, 1), (128.0, 2), (256.0, 2), (512.0, 2)] {
        let cout = width(x);
        for (bin, s) in [(cin, stride), (cout, 1)] {
            let input = size;
            size = n.conv(Conv { cin: bin, cout, k: 3, stride: s, pad: 1, bias: false }, input);
            n.norm(cout);
            size = n.conv(Conv { cin: cout, cout, k: 3, stride: 1, pad: 1, bias: false }, size);
            n.norm(cout);
            if s != 1 || bin != cout {
                n.conv(Conv { cin: bin, cout, k: 1, stride: s, pad: 0, bias: false }, input);
                n.norm(cout);
            }
        }
        cin = cout;
    }
    n.done(cin)
}

fn vit(cfg: &super::vit::VitConfig, (c, h, w): Shape) -> Complexity {
    let mut n = Counter::default();
    let d = cfg.dim;
    let (gh, gw) = n.conv(Conv { cin: c, cout: d, k: cfg.patch, stride: cfg.patch, pad: 0, bias: true }, (h, w));
    let tokens = gh * gw + 1;
    n.params += (d + tokens * d) as u64; // CLS token and position embeddings
    let hidden = (d as f64 * cfg.mlp_ratio) as i64;
    for _ in 0..cfg.depth {
        n.norm(d);
        n.linear(tokens, d, 3 * d, true);
        // QKᵀ and attention × V: per head tokens² × head width, twice.
        n.macs += 2 * (tokens * tokens * d) as u64;
        n.linear(tokens, d, d, true);
        n.norm(d);
        n.linear(tokens, d, hidden, true);
        n.linear(tokens, hidden, d, true);
    }
    n.norm(d);
    n.done(d)
}

/// A linear layer after the encoder (the autoencoder's bottleneck).
pub fn with_linear(enc: Complexity, dout: i64) -> Complexity {
    let mut n = Counter { params: enc.params, macs: enc.macs };
    n.linear(1, enc.out_dim, dout, true);
    n.done(dout)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{nn, Device};

    /// The analytic parameter count equals the var store's trainable
    /// variables for every architecture (BatchNorm's running stats excluded).
    #[test]
    fn parameters_match_the_built_encoders() {
        let specs: Vec<(EncoderSpec, Shape)> = vec![
            (EncoderSpec::Mlp(Default::default()), (1, 28, 28)),
            (EncoderSpec::Convnet(Default::default()), (1, 28, 28)),
            (
                EncoderSpec::Convnet(ConvNetParams { widths: vec![8, 16], convs_per_block: 1, batch_norm: false }),
                (3, 32, 32),
            ),
            (EncoderSpec::Resnet18(ResNetParams { width: 0.25 }), (3, 32, 32)),
            (EncoderSpec::Vit(super::super::vit::VitParams { depth: Some(2), ..Default::default() }), (1, 28, 28)),
        ];
        for (spec, shape) in specs {
            let vs = nn::VarStore::new(Device::Cpu);
            let enc = spec.build(&vs.root(), shape).unwrap();
            let built: i64 = vs.trainable_variables().iter().map(|t| t.numel() as i64).sum();
            let counted = spec.complexity(shape).unwrap();
            assert_eq!(counted.params as i64, built, "{spec:?}");
            assert_eq!(counted.out_dim, enc.out_dim(), "{spec:?}");
        }
    }
}
