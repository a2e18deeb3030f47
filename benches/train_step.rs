//! Training-step throughput of repbench's loop pieces, to compare side by side
//! with the same model and loop in PyTorch Python (benches/train_step.py) on the
//! same libtorch:
//!   * supervised ConvNet step (forward, cross-entropy, backward, AdamW);
//!   * SimCLR step (two batched augmented views, ConvNet + projector, NT-Xent, AdamW);
//!   * SimCLR two-view augmentation alone: batched vs one image at a time.
//!
//! `cargo bench --bench train_step -- [cpu|cuda] [batch] [steps]`
use repbench::augment::AugmentParams;
use repbench::methods::losses::nt_xent;
use repbench::nn::convnet::{ConvNet, ConvNetParams};
use repbench::nn::Encoder;
use repbench::train::optim::{Optimizer, OptimizerKind, OptimizerParams};
use std::time::Instant;
use tch::nn::{self, Module};
use tch::{Device, Kind, Tensor};

fn sync(dev: Device) {
    if let Device::Cuda(i) = dev {
        tch::Cuda::synchronize(i as i64);
    }
}

fn time_steps(dev: Device, warmup: usize, steps: usize, mut f: impl FnMut()) -> f64 {
    for _ in 0..warmup {
        f();
    }
    sync(dev);
    let t = Instant::now();
    for _ in 0..steps {
        f();
    }
    sync(dev);
    t.elapsed().as_secs_f64() / steps as f64
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let dev = match args.first().map(String::as_str) {
        Some("cuda") => repbench::runtime::device::resolve(repbench::spec::DeviceChoice::Cuda).expect("CUDA").0,
        _ => Device::Cpu,
    };
    let batch: i64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(256);
    let steps: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(20);
    println!("device {dev:?}, batch {batch}, {steps} timed steps, torch threads {}", tch::get_num_threads());
    tch::manual_seed(0);
    let x = (Tensor::rand([batch, 1, 28, 28], (Kind::Float, dev)) * 255.0).to_kind(Kind::Uint8);
    let y = Tensor::randint(10, [batch], (Kind::Int64, dev));
    let opt_cfg = OptimizerParams { kind: OptimizerKind::Adamw, lr: 1e-3, weight_decay: 1e-4, ..Default::default() };

    // Supervised ConvNet step.
    let vs = nn::VarStore::new(dev);
    let enc = ConvNet::new(&(vs.root() / "encoder"), &ConvNetParams::default(), (1, 28, 28));
    let head = nn::linear(vs.root() / "head", enc.out_dim(), 10, Default::default());
    let mut opt = Optimizer::new(&vs, &opt_cfg);
    let s = time_steps(dev, 3, steps, || {
        let xf = x.to_kind(Kind::Float) / 255.0;
        let loss = head.forward(&enc.forward(&xf, true)).cross_entropy_for_logits(&y);
        opt.zero_grad();
        loss.backward();
        opt.step(1e-3, None);
        let _ = loss.double_value(&[]);
    });
    println!("rust supervised convnet step: {:.2} ms, {:.0} img/s", s * 1e3, batch as f64 / s);

    // SimCLR step.
    let vs = nn::VarStore::new(dev);
    let enc = ConvNet::new(&(vs.root() / "encoder"), &ConvNetParams::default(), (1, 28, 28));
    let proj = repbench::methods::heads::Mlp::new(&(vs.root() / "projector"), &[enc.out_dim(), 512, 128]);
    let mut opt = Optimizer::new(&vs, &opt_cfg);
    let aug = AugmentParams::default();
    let s = time_steps(dev, 3, steps, || {
        let xf = x.to_kind(Kind::Float) / 255.0;
        let (v1, v2) = (aug.apply(&xf), aug.apply(&xf));
        let z1 = proj.forward(&enc.forward(&v1, true), true);
        let z2 = proj.forward(&enc.forward(&v2, true), true);
        let loss = nt_xent(&z1, &z2, 0.2);
        opt.zero_grad();
        loss.backward();
        opt.step(1e-3, None);
        let _ = loss.double_value(&[]);
    });
    println!("rust simclr step: {:.2} ms, {:.0} img/s", s * 1e3, batch as f64 / s);

    // Two-view augmentation: batched vs per image.
    let xf = x.to_kind(Kind::Float) / 255.0;
    let s_batched = time_steps(dev, 3, steps, || {
        let (a, b) = (aug.apply(&xf), aug.apply(&xf));
        let _ = (a.sum(Kind::Float) + b.sum(Kind::Float)).double_value(&[]);
    });
    let s_single = time_steps(dev, 1, steps.min(5), || {
        let mut acc = 0.0;
        for i in 0..batch {
            let im = xf.narrow(0, i, 1);
            let (a, b) = (aug.apply(&im), aug.apply(&im));
            acc += (a.sum(Kind::Float) + b.sum(Kind::Float)).double_value(&[]);
        }
        let _ = acc;
    });
    println!(
        "rust two-view augmentation: batched {:.0} img/s, one image at a time {:.0} img/s (×{:.1})",
        batch as f64 / s_batched,
        batch as f64 / s_single,
        s_single / s_batched
    );
}
