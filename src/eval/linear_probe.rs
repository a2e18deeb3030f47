//! Linear probe: multinomial logistic regression on standardized frozen features.
//!
//! The default solver is L-BFGS on the whole training split (full batch),
//! run to a gradient tolerance for every L2 strength of a log-spaced grid,
//! strongest first, each warm-started from the previous solution: the same
//! optimum whatever the number of labels, so the L2 choice means the same at 1 %
//! of the labels as at 100 %. The L2 strength is chosen on the validation
//! split (ties to the stronger); the test accuracy is that of the chosen model.
//! Iterations, the final gradient and whether each point converged are
//! recorded, and the report warns when the choice is an edge of the grid.
//!
//! `solver: adam` keeps the earlier protocol (a fixed number of minibatch
//! epochs, all grid points at once as one batched weight tensor [G, D, C]).
use super::lbfgs::{minimize_preconditioned, LbfgsConfig, Preconditioner};
use super::{accuracy, EvalContext, EvalOutput, Evaluation, Features, Headline, Input};
use crate::checks::{Checker, Validate};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use tch::nn::OptimizerConfig;
use tch::{nn, Kind, Tensor};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Solver {
    /// Full-batch L-BFGS to a tolerance, warm-started along the L2 path.
    Lbfgs,
    /// Minibatch Adam for a fixed number of epochs (cosine-decayed rate).
    Adam,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LinearProbeParams {
    /// L2 strengths tried (penalty λ/2·‖W‖² added to the mean cross-entropy;
    /// scikit-learn's C = 1 / (λ·n)).
    pub l2_grid: Vec<f64>,
    pub solver: Solver,
    /// L-BFGS: stop when every gradient component is at most this.
    pub tolerance: f64,
    /// L-BFGS: iterations allowed per grid point (a point that stops there is reported as not converged).
    pub max_iterations: usize,
    /// Adam only: epochs, minibatch size and learning rate (30, 256, 0.01 when unset).
    pub epochs: Option<usize>,
    pub batch_size: Option<usize>,
    pub lr: Option<f64>,
}

impl Default for LinearProbeParams {
    fn default() -> Self {
        LinearProbeParams {
            l2_grid: vec![1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0],
            solver: Solver::Lbfgs,
            tolerance: 1e-4,
            max_iterations: 1000,
            epochs: None,
            batch_size: None,
            lr: None,
        }
    }
}

impl Validate for LinearProbeParams {
    fn validate(&self, path: &str, c: &mut Checker) {
        c.non_empty(&format!("{path}.l2_grid"), &self.l2_grid);
        for (i, &l) in self.l2_grid.iter().enumerate() {
            c.non_negative_f(&format!("{path}.l2_grid[{i}]"), l);
        }
        match self.solver {
            Solver::Lbfgs => {
                c.positive_f(&format!("{path}.tolerance"), self.tolerance);
                c.positive(&format!("{path}.max_iterations"), self.max_iterations);
                for (name, set) in [
                    ("epochs", self.epochs.is_some()),
                    ("batch_size", self.batch_size.is_some()),
                    ("lr", self.lr.is_some()),
                ] {
                    if set {
                        c.push(&format!("{path}.{name}"), "applies to `solver: adam` only; L-BFGS runs to `tolerance`");
                    }
                }
            }
            Solver::Adam => {
                c.positive(&format!("{path}.epochs"), self.epochs());
                c.positive(&format!("{path}.batch_size"), self.batch_size.unwrap_or(256));
                c.positive_f(&format!("{path}.lr"), self.lr());
            }
        }
    }
}

/// One grid point's solve: (iterations, max |gradient|, converged); None for Adam.
pub type PathPoint = Option<(usize, f64, bool)>;

/// Weights [G, D, C], biases [G, C] and each grid point's solve.
type Trained = (Tensor, Tensor, Vec<PathPoint>);

/// A trained probe: standardization plus one linear layer per grid point.
pub struct Probe {
    mean: Tensor,
    std: Tensor,
    w: Tensor,
    b: Tensor,
    /// Per grid point: (iterations, max |gradient|, converged); None for Adam.
    pub path: Vec<PathPoint>,
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

/// A probe with the grid point chosen on the validation split.
pub struct Selected {
    pub probe: Probe,
    pub best: usize,
    /// Validation accuracy per grid point.
    pub val_acc: Vec<f64>,
}

impl Selected {
    /// Predictions of the chosen grid point for raw features [N, D].
    pub fn predict(&self, x: &Tensor) -> Tensor {
        self.probe.predict(x).get(self.best as i64)
    }
    /// Logits of the chosen grid point [N, C].
    pub fn logits(&self, x: &Tensor) -> Tensor {
        tch::no_grad(|| self.probe.logits(x).get(self.best as i64))
    }
}

/// Version of this evaluation's arithmetic; bump it when what it computes
/// changes (it enters the evaluation's key, see `Evaluation::version`).
pub const VERSION: u32 = 6;

impl Evaluation for LinearProbeParams {
    fn version(&self) -> u32 {
        VERSION
    }
    fn evaluate(&self, input: &Input, ctx: &EvalContext) -> Result<EvalOutput> {
        self.run(&input.features()?.to_device(ctx.device), ctx)
    }
    fn figures(&self) -> &'static [super::FigureKind] {
        &[super::FigureKind::Confusion, super::FigureKind::Reliability]
    }
    fn choices(&self) -> &'static [&'static str] {
        &["l2", "iterations", "grad_max", "converged", "l2_edge"]
    }
    fn headline(&self) -> Headline {
        Headline::ranked("top1")
    }
}

/// Mean cross-entropy + λ/2·‖W‖² of θ = [W (D×C) flattened, b (C)] on
/// standardized `x` with one-hot `onehot`, and its gradient (computed in
/// closed form: two matmuls, no autograd).
fn objective(x: &Tensor, onehot: &Tensor, lambda: f64, theta: &Tensor) -> (f64, Tensor) {
    let (n, d) = (x.size()[0], x.size()[1]);
    let c = onehot.size()[1];
    let w = theta.narrow(0, 0, d * c).view([d, c]);
    let b = theta.narrow(0, d * c, c);
    let logp = (x.matmul(&w) + &b).log_softmax(-1, Kind::Float);
    let ce = -(onehot * &logp).sum(Kind::Double).double_value(&[]) / n as f64;
    let reg = 0.5 * lambda * (&w * &w).sum(Kind::Double).double_value(&[]);
    let diff = (logp.exp() - onehot) / n as f64;
    // (diffᵀ·x)ᵀ rather than xᵀ·diff: the same product, 3× faster in libtorch's
    // CPU GEMM for a tall x (6.5 ms against 22 ms at 18,000 × 784 × 10, 2 threads,
    // measured in PyTorch 2.11; docs/benchmarks.md).
    let gw = diff.tr().matmul(x).tr() + &w * lambda;
    let gb = diff.sum_dim_intlist(0, false, Kind::Float);
    (ce + reg, Tensor::cat(&[gw.flatten(0, -1), gb], 0))
}

/// The features' second moments, for a fixed approximation of the objective's
/// Hessian: `c·Σ ⊗ I + λI` for the weights (Σ = XᵀX / n of the standardized
/// features, c = 1/C the softmax curvature at the start, where every class has
/// probability 1/C) and `c` for the biases. Its inverse preconditions L-BFGS.
/// Raw pixels are strongly correlated (Σ is ill-conditioned), which
/// is what made the unpreconditioned path slow; the optimum is the same.
struct Curvature {
    /// Σ = U diag(s) Uᵀ.
    eigenvalues: Tensor,
    eigenvectors: Tensor,
    c: f64,
    classes: i64,
}

/// The largest feature dimension for which Σ is decomposed (an O(D³) eigh, once
/// per probe); wider features run without the preconditioner.
const MAX_PRECONDITIONED_DIM: i64 = 4096;

/// Up to this many feature values (n × D; 512 MB as doubles) Σ = XᵀX/n is one
/// product; above it, a sum over row chunks.
const SIGMA_IN_ONE_PIECE: i64 = 1 << 26;

impl Curvature {
    fn of(xs: &Tensor, classes: i64) -> Option<Curvature> {
        let (n, d) = (xs.size()[0], xs.size()[1]);
        if d > MAX_PRECONDITIONED_DIM || n == 0 || classes < 2 {
            return None;
        }
        let sigma = if n * d <= SIGMA_IN_ONE_PIECE {
            let x = xs.to_kind(Kind::Double);
            x.tr().matmul(&x) / n as f64
        } else {
            // Large n: Σ summed over row chunks, so that no double copy of the
            // features is made (at 810k × 256 it would be 1.7 GB). Up to the
            // threshold the arithmetic is the one-piece product above.
            let mut acc = Tensor::zeros([d, d], (Kind::Double, xs.device()));
            for start in (0..n).step_by(65_536) {
                let x = xs.narrow(0, start, 65_536.min(n - start)).to_kind(Kind::Double);
                acc += x.tr().matmul(&x);
            }
            acc / n as f64
        };
        let (s, u) = sigma.linalg_eigh("L");
        Some(Curvature { eigenvalues: s.clamp_min(0.0), eigenvectors: u, c: 1.0 / classes as f64, classes })
    }

    /// `M = (c·Σ + λI)⁻¹` on the weights, `1/c` on the biases.
    fn inverse(&self, lambda: f64) -> InverseCurvature {
        let s = &self.eigenvalues * self.c;
        // A floor keeps M finite when λ = 0 and Σ is singular (constant features).
        let floor = (s.max().double_value(&[]) * 1e-10).max(f64::MIN_POSITIVE);
        let scale = (s + lambda).clamp_min(floor).reciprocal();
        InverseCurvature {
            u: self.eigenvectors.to_kind(Kind::Float),
            scale: scale.to_kind(Kind::Float).unsqueeze(1),
            bias_scale: 1.0 / self.c,
            classes: self.classes,
        }
    }
}

struct InverseCurvature {
    u: Tensor,
    scale: Tensor,
    bias_scale: f64,
    classes: i64,
}

impl InverseCurvature {
    fn apply(&self, g: &Tensor) -> Tensor {
        let (d, c) = (self.u.size()[0], self.classes);
        let gw = g.narrow(0, 0, d * c).view([d, c]);
        let gb = g.narrow(0, d * c, c);
        let mw = self.u.matmul(&(&self.scale * self.u.tr().matmul(&gw)));
        Tensor::cat(&[mw.flatten(0, -1), gb * self.bias_scale], 0)
    }
}

impl LinearProbeParams {
    fn epochs(&self) -> usize {
        self.epochs.unwrap_or(30)
    }
    fn lr(&self) -> f64 {
        self.lr.unwrap_or(1e-2)
    }

    /// Trains the whole grid on (x, y). `seed` orders Adam's minibatches (L-BFGS is deterministic).
    pub fn train(&self, x: &Tensor, y: &Tensor, classes: i64, seed: u64) -> Result<Probe> {
        let n = x.size()[0];
        if n == 0 {
            return Err(Error::stage("linear probe: the train split is empty"));
        }
        let mean = x.mean_dim(0, true, Kind::Float);
        // Constant features get std 1 (they standardize to 0) instead of a division by 0.
        let std = x.std_dim(0, false, true);
        let std = std.where_self(&std.gt(1e-6), &std.ones_like());
        let xs = (x - &mean) / &std;
        let (w, b, path) = match self.solver {
            Solver::Lbfgs => self.train_lbfgs(&xs, y, classes),
            Solver::Adam => self.train_adam(&xs, y, classes, seed)?,
        };
        if w.isfinite().all().int64_value(&[]) == 0 {
            return Err(Error::stage("linear probe diverged: non-finite weights"));
        }
        Ok(Probe { mean, std, w, b, path })
    }

    /// The L2 path, strongest first, each point warm-started from the last.
    fn train_lbfgs(&self, xs: &Tensor, y: &Tensor, classes: i64) -> Trained {
        let d = xs.size()[1];
        let onehot = y.one_hot(classes).to_kind(Kind::Float);
        let cfg = LbfgsConfig { tolerance: self.tolerance, max_iterations: self.max_iterations, history: 10 };
        let mut order: Vec<usize> = (0..self.l2_grid.len()).collect();
        order.sort_by(|&a, &b| self.l2_grid[b].total_cmp(&self.l2_grid[a]));
        let mut theta = Tensor::zeros([d * classes + classes], (Kind::Float, xs.device()));
        let mut solved: Vec<(Tensor, PathPoint)> = Vec::with_capacity(self.l2_grid.len());
        solved.resize_with(self.l2_grid.len(), || (Tensor::new(), None));
        tch::no_grad(|| {
            let curvature = Curvature::of(xs, classes);
            for &i in &order {
                let lambda = self.l2_grid[i];
                let m = curvature.as_ref().map(|c| c.inverse(lambda));
                let precondition = m.as_ref().map(|m| move |g: &Tensor| m.apply(g));
                let r = minimize_preconditioned(
                    theta.shallow_clone(),
                    |t| objective(xs, &onehot, lambda, t),
                    precondition.as_ref().map(|p| p as Preconditioner),
                    &cfg,
                );
                theta = r.x;
                solved[i] = (theta.shallow_clone(), Some((r.iterations, r.grad_max, r.converged)));
            }
        });
        let (thetas, path): (Vec<Tensor>, Vec<PathPoint>) = solved.into_iter().unzip();
        let all = Tensor::stack(&thetas, 0);
        let w = all.narrow(1, 0, d * classes).view([-1, d, classes]);
        let b = all.narrow(1, d * classes, classes);
        (w, b, path)
    }

    /// The earlier protocol: every grid point at once, minibatch Adam, a fixed budget.
    fn train_adam(&self, xs: &Tensor, y: &Tensor, classes: i64, seed: u64) -> Result<Trained> {
        let (n, d) = (xs.size()[0], xs.size()[1]);
        let dev = xs.device();
        let g = self.l2_grid.len() as i64;
        let lambdas = Tensor::from_slice(&self.l2_grid).to_kind(Kind::Float).to_device(dev).view([g, 1, 1]);
        let vs = nn::VarStore::new(dev);
        let w = vs.root().zeros("w", &[g, d, classes]);
        let b = vs.root().zeros("b", &[g, classes]);
        let mut opt = nn::Adam::default().build(&vs, self.lr())?;
        let bs = (self.batch_size.unwrap_or(256) as i64).min(n);
        let steps_per_epoch = (n + bs - 1) / bs;
        let total = (steps_per_epoch * self.epochs() as i64) as f64;
        let yy = y.unsqueeze(0).expand([g, n], false);
        let mut step = 0f64;
        for epoch in 0..self.epochs() {
            let perm = crate::runtime::seeding::with_torch_seed(
                crate::runtime::seeding::derive(seed, &format!("probe/epoch{epoch}")),
                || Tensor::randperm(n, (Kind::Int64, tch::Device::Cpu)),
            )
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
                opt.set_lr(self.lr() * 0.5 * (1.0 + (std::f64::consts::PI * step / total).cos()));
                opt.backward_step(&loss);
                step += 1.0;
            }
        }
        Ok((w.detach(), b.detach(), vec![None; g as usize]))
    }

    /// Trains the probe on the training split and picks the L2 strength on
    /// the validation split (ties to the stronger regulariser).
    pub fn fit_selected(&self, f: &Features, seed: u64) -> Result<Selected> {
        let probe = self.train(&f.train_x, &f.train_y, f.num_classes, seed)?;
        let val_pred = probe.predict(&f.val_x);
        let val_acc: Vec<f64> = (0..self.l2_grid.len() as i64).map(|i| accuracy(&val_pred.get(i), &f.val_y)).collect();
        // Sorted grids are not assumed, so ties compare λ explicitly.
        let mut best = 0;
        for i in 1..val_acc.len() {
            if val_acc[i] > val_acc[best] || (val_acc[i] == val_acc[best] && self.l2_grid[i] > self.l2_grid[best]) {
                best = i;
            }
        }
        Ok(Selected { probe, best, val_acc })
    }

    pub fn run(&self, f: &Features, ctx: &EvalContext) -> Result<EvalOutput> {
        let Selected { probe, best, val_acc } = self.fit_selected(f, ctx.seed)?;
        let test_pred = probe.predict(&f.test_x).get(best as i64);
        let train_pred = probe.predict(&f.train_x).get(best as i64);
        let test_acc = accuracy(&test_pred, &f.test_y);
        let confusion = confusion_matrix(&test_pred, &f.test_y, f.num_classes)?;
        let calibration = super::class_metrics::calibration(&probe.logits(&f.test_x).get(best as i64), &f.test_y)?;
        let (lo, hi) = self.l2_grid.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &l| (a.min(l), b.max(l)));
        let edge = self.l2_grid.len() >= 3 && (self.l2_grid[best] == lo || self.l2_grid[best] == hi);
        let mut metrics = vec![
            ("top1".into(), test_acc),
            ("val_top1".into(), val_acc[best]),
            ("train_top1".into(), accuracy(&train_pred, &f.train_y)),
            ("l2".into(), self.l2_grid[best]),
            ("l2_edge".into(), if edge { 1.0 } else { 0.0 }),
        ];
        metrics.extend(super::class_metrics::class_metrics(&confusion));
        metrics.push(("ece".into(), calibration.ece));
        metrics.push(("nll".into(), calibration.nll));
        if let Some((iters, grad, _)) = probe.path[best] {
            let all_converged = probe.path.iter().flatten().all(|p| p.2);
            metrics.push(("iterations".into(), iters as f64));
            metrics.push(("grad_max".into(), grad));
            metrics.push(("converged".into(), if all_converged { 1.0 } else { 0.0 }));
        }
        let path: Vec<serde_json::Value> = self
            .l2_grid
            .iter()
            .zip(&val_acc)
            .zip(&probe.path)
            .map(|((l, a), p)| match p {
                Some((it, g, c)) => {
                    serde_json::json!({ "l2": l, "val_top1": a, "iterations": it, "grad_max": g, "converged": c })
                }
                None => serde_json::json!({ "l2": l, "val_top1": a }),
            })
            .collect();
        let mut details = serde_json::json!({ "path": path, "solver": self.solver, "train_images": f.train_x.size()[0], "val_images": f.val_x.size()[0], "test_correct": super::correct_bits(&test_pred, &f.test_y)?, "test_images": f.test_y.size()[0] });
        details["test_labels"] = super::class_metrics::labels_b64(&f.test_y, f.num_classes)?.into();
        super::figure_data::put(&mut details, &super::figure_data::ConfusionData { confusion })?;
        super::figure_data::put(&mut details, &super::figure_data::ReliabilityData { reliability: calibration.bins })?;
        Ok(EvalOutput { metrics, details })
    }
}

/// Confusion counts [true][pred].
pub fn confusion_matrix(pred: &Tensor, y: &Tensor, classes: i64) -> Result<Vec<Vec<i64>>> {
    let flat = (y.to_device(tch::Device::Cpu) * classes + pred.to_device(tch::Device::Cpu))
        .bincount::<Tensor>(None, classes * classes);
    let v: Vec<i64> = Vec::try_from(flat)?;
    Ok(v.chunks(classes as usize).map(|r| r.to_vec()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separable_data_is_learned() {
        // Three well-separated gaussian blobs in 5-D.
        let centers =
            Tensor::from_slice(&[4.0f32, 0., 0., 0., 0., 0., 4., 0., 0., 0., 0., 0., 4., 0., 0.]).view([3, 5]);
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
        for p in [
            LinearProbeParams::default(),
            LinearProbeParams {
                solver: Solver::Adam,
                epochs: Some(30),
                batch_size: Some(32),
                lr: Some(0.05),
                ..Default::default()
            },
        ] {
            let out = p.run(&f, &EvalContext { device: tch::Device::Cpu, seed: 0 }).unwrap();
            let get = |k: &str| out.metrics.iter().find(|m| m.0 == k).map(|m| m.1);
            assert!(get("top1").unwrap() >= 0.98, "{out:?}");
            if p.solver == Solver::Lbfgs {
                assert_eq!(get("converged"), Some(1.0), "{out:?}");
                assert!(get("grad_max").unwrap() <= 1e-4);
            }
        }
        let out = LinearProbeParams::default().run(&f, &EvalContext { device: tch::Device::Cpu, seed: 0 }).unwrap();
        assert_eq!(out.details["confusion"].as_array().unwrap().len(), 3);
    }
}
