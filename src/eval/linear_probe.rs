//! Linear probe: multinomial logistic regression on standardized frozen features.
//!
//! The L2 strength is chosen on the validation split from a small grid; all grid
//! points train at once as one batched weight tensor [G, D, C] (one matmul per
//! step instead of G). The test accuracy is that of the chosen model at the final
//! iteration — never the best test epoch.
use super::{Evaluation, Headline, Input, EvalContext, EvalOutput, accuracy, Features};
use crate::error::{Error, Result};
use crate::spec::validate::{Checker, Validate};
use serde::{Deserialize, Serialize};
use tch::nn::OptimizerConfig;
use tch::{nn, Kind, Tensor};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LinearProbeParams {
    /// L2 strengths tried (penalty λ/2·‖W‖² added to the mean cross-entropy).
    pub l2_grid: Vec<f64>,
    pub epochs: usize,
    pub batch_size: usize,
    /// Adam learning rate, decayed to 0 with a cosine schedule.
    pub lr: f64,
}

impl Default for LinearProbeParams {
    fn default() -> Self {
        LinearProbeParams { l2_grid: vec![1e-5, 1e-4, 1e-3, 1e-2], epochs: 30, batch_size: 256, lr: 1e-2 }
    }
}

impl Validate for LinearProbeParams {
    fn validate(&self, path: &str, c: &mut Checker) {
        c.non_empty(&format!("{path}.l2_grid"), &self.l2_grid);
        for (i, &l) in self.l2_grid.iter().enumerate() {
            c.non_negative_f(&format!("{path}.l2_grid[{i}]"), l);
        }
        c.positive(&format!("{path}.epochs"), self.epochs);
        c.positive(&format!("{path}.batch_size"), self.batch_size);
        c.positive_f(&format!("{path}.lr"), self.lr);
    }
}

/// A trained probe: standardization plus one linear layer per grid point.
pub struct Probe {
    mean: Tensor,
    std: Tensor,
    w: Tensor,
    b: Tensor,
}

impl Probe {
    /// Logits [G, N, C] for raw features [N, D].
    pub fn logits(&self, x: &Tensor) -> Tensor {
        ((x - &self.mean) / &self.std).matmul(&self.w) + self.b.unsqueeze(1)
    }
    /// Predictions [G, N].
    pub fn predict(&self, x: &Tensor) -> Tensor {
        tch::no_grad(|| self.logits(x).argmax(-1, false))
    }
}

/// Version of this evaluation's arithmetic; bump it when what it computes
/// changes (it enters the evaluation's key, see `Evaluation::version`).
pub const VERSION: u32 = 1;

impl Evaluation for LinearProbeParams {
    fn version(&self) -> u32 {
        VERSION
    }
    fn evaluate(&self, input: &Input, ctx: &EvalContext) -> Result<EvalOutput> {
        self.run(&input.features()?.to_device(ctx.device), ctx)
    }
    fn choices(&self) -> &'static [&'static str] {
        &["l2"]
    }
    fn headline(&self) -> Headline {
        Headline::ranked("top1")
    }
}

impl LinearProbeParams {
    /// Trains the whole grid on (x, y). `seed` orders the mini-batches.
    pub fn train(&self, x: &Tensor, y: &Tensor, classes: i64, seed: u64) -> Result<Probe> {
        let (n, d) = (x.size()[0], x.size()[1]);
        if n == 0 {
            return Err(Error::stage("linear probe: the train split is empty"));
        }
        let dev = x.device();
        let mean = x.mean_dim(0, true, Kind::Float);
        // Constant features get std 1 (they standardize to 0) instead of a division by 0.
        let std = x.std_dim(0, false, true);
        let std = std.where_self(&std.gt(1e-6), &std.ones_like());
        let xs = (x - &mean) / &std;
        let g = self.l2_grid.len() as i64;
        let lambdas = Tensor::from_slice(&self.l2_grid).to_kind(Kind::Float).to_device(dev).view([g, 1, 1]);
        let vs = nn::VarStore::new(dev);
        let w = vs.root().zeros("w", &[g, d, classes]);
        let b = vs.root().zeros("b", &[g, classes]);
        let mut opt = nn::Adam::default().build(&vs, self.lr)?;
        let bs = (self.batch_size as i64).min(n);
        let steps_per_epoch = (n + bs - 1) / bs;
        let total = (steps_per_epoch * self.epochs as i64) as f64;
        let yy = y.unsqueeze(0).expand([g, n], false);
        let mut step = 0f64;
        for epoch in 0..self.epochs {
            let perm = crate::runtime::seeding::with_torch_seed(crate::runtime::seeding::derive(seed, &format!("probe/epoch{epoch}")), || {
                Tensor::randperm(n, (Kind::Int64, tch::Device::Cpu))
            })
            .to_device(dev);
            for s in 0..steps_per_epoch {
                let idx = perm.narrow(0, s * bs, bs.min(n - s * bs));
                let xb = xs.index_select(0, &idx);
                let yb = yy.index_select(1, &idx);
                let logits = xb.matmul(&w) + b.unsqueeze(1);
                let m = idx.size()[0];
                let ce = logits.view([g * m, classes]).cross_entropy_for_logits(&yb.reshape([g * m]));
                // cross_entropy averages over G·m; ×G gives the sum of G per-grid means.
                let reg = (&w * &w * &lambdas).sum(Kind::Float) * 0.5;
                let loss = ce * (g as f64) + reg;
                opt.set_lr(self.lr * 0.5 * (1.0 + (std::f64::consts::PI * step / total).cos()));
                opt.backward_step(&loss);
                step += 1.0;
            }
        }
        let loss_check = w.isfinite().all().int64_value(&[]);
        if loss_check == 0 {
            return Err(Error::stage("linear probe diverged: non-finite weights"));
        }
        Ok(Probe { mean, std, w: w.detach(), b: b.detach() })
    }

    pub fn run(&self, f: &Features, ctx: &EvalContext) -> Result<EvalOutput> {
        let probe = self.train(&f.train_x, &f.train_y, f.num_classes, ctx.seed)?;
        let val_pred = probe.predict(&f.val_x);
        let val_acc: Vec<f64> = (0..self.l2_grid.len() as i64).map(|i| accuracy(&val_pred.get(i), &f.val_y)).collect();
        // Best validation accuracy; ties go to the stronger regulariser (later in a
        // sorted grid is not assumed, so compare λ explicitly).
        let mut best = 0;
        for i in 1..val_acc.len() {
            if val_acc[i] > val_acc[best] || (val_acc[i] == val_acc[best] && self.l2_grid[i] > self.l2_grid[best]) {
                best = i;
            }
        }
        let test_pred = probe.predict(&f.test_x).get(best as i64);
        let train_pred = probe.predict(&f.train_x).get(best as i64);
        let test_acc = accuracy(&test_pred, &f.test_y);
        let confusion = confusion_matrix(&test_pred, &f.test_y, f.num_classes);
        Ok(EvalOutput {
            metrics: vec![
                ("top1".into(), test_acc),
                ("val_top1".into(), val_acc[best]),
                ("train_top1".into(), accuracy(&train_pred, &f.train_y)),
                ("l2".into(), self.l2_grid[best]),
            ],
            details: serde_json::json!({ "val_top1_by_l2": self.l2_grid.iter().zip(&val_acc).map(|(l, a)| vec![*l, *a]).collect::<Vec<_>>(), "confusion": confusion }),
        })
    }
}

/// Confusion counts [true][pred].
pub fn confusion_matrix(pred: &Tensor, y: &Tensor, classes: i64) -> Vec<Vec<i64>> {
    let flat = (y.to_device(tch::Device::Cpu) * classes + pred.to_device(tch::Device::Cpu)).bincount::<Tensor>(None, classes * classes);
    let v: Vec<i64> = Vec::try_from(flat).unwrap_or_default();
    v.chunks(classes as usize).map(|r| r.to_vec()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separable_data_is_learned() {
        // Three well-separated gaussian blobs in 5-D.
        let centers = Tensor::from_slice(&[4.0f32, 0., 0., 0., 0., 0., 4., 0., 0., 0., 0., 0., 4., 0., 0.]).view([3, 5]);
        let y = Tensor::arange(300, (Kind::Int64, tch::Device::Cpu)).remainder(3);
        let x = centers.index_select(0, &y) + crate::runtime::seeding::randn(&[300, 5], 0) * 0.5;
        let f = Features {
            train_x: x.narrow(0, 0, 200),
            train_y: y.narrow(0, 0, 200),
            val_x: x.narrow(0, 200, 50),
            val_y: y.narrow(0, 200, 50),
            test_x: x.narrow(0, 250, 50),
            test_y: y.narrow(0, 250, 50),
            num_classes: 3,
        };
        let p = LinearProbeParams { epochs: 30, batch_size: 32, lr: 0.05, ..Default::default() };
        let out = p.run(&f, &EvalContext { device: tch::Device::Cpu, seed: 0 }).unwrap();
        let top1 = out.metrics.iter().find(|m| m.0 == "top1").unwrap().1;
        assert!(top1 >= 0.98, "{out:?}");
        let conf = out.details["confusion"].as_array().unwrap();
        assert_eq!(conf.len(), 3);
    }
}
