//! SGD (momentum, Nesterov), Adam, AdamW and LARS with the learning-rate schedule
//! (linear warm-up, then cosine to `min_lr`, per iteration).
//!
//! Written over plain tensors rather than libtorch's optimizers so the state
//! (momentum buffers, Adam moments, step count) is ours to checkpoint: a resumed
//! run continues exactly where the killed one stopped. As in the DINO/SimCLR
//! reference code, biases and normalisation parameters (1-D tensors) get no
//! weight decay and no LARS adaptation.
use crate::spec::validate::{Checker, Validate};
use serde::{Deserialize, Serialize};
use tch::{nn, Tensor};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    Sgd,
    Adam,
    Adamw,
    Lars,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OptimizerParams {
    pub kind: OptimizerKind,
    /// Peak learning rate (after warm-up).
    pub lr: f64,
    pub weight_decay: f64,
    /// SGD / LARS momentum.
    pub momentum: f64,
    pub nesterov: bool,
    /// Adam / AdamW.
    pub betas: [f64; 2],
    pub eps: f64,
    /// LARS trust coefficient η.
    pub trust_coefficient: f64,
}

impl Default for OptimizerParams {
    fn default() -> Self {
        OptimizerParams { kind: OptimizerKind::Adamw, lr: 1e-3, weight_decay: 1e-4, momentum: 0.9, nesterov: false, betas: [0.9, 0.999], eps: 1e-8, trust_coefficient: 0.001 }
    }
}

impl Validate for OptimizerParams {
    fn validate(&self, path: &str, c: &mut Checker) {
        c.positive_f(&format!("{path}.lr"), self.lr);
        c.non_negative_f(&format!("{path}.weight_decay"), self.weight_decay);
        if !(0.0..1.0).contains(&self.momentum) {
            c.push(&format!("{path}.momentum"), format!("must be in [0, 1) (got {})", self.momentum));
        }
        if !self.betas.iter().all(|b| (0.0..1.0).contains(b)) {
            c.push(&format!("{path}.betas"), "must be in [0, 1)");
        }
        c.positive_f(&format!("{path}.eps"), self.eps);
    }
}

/// Learning rate at `step` of `total`: linear warm-up over `warmup` steps to
/// `base`, then half-cosine down to `min`.
pub fn lr_at(step: i64, total: i64, warmup: i64, base: f64, min: f64) -> f64 {
    if step < warmup {
        return base * (step + 1) as f64 / warmup as f64;
    }
    let t = (step - warmup) as f64 / ((total - warmup).max(1)) as f64;
    min + (base - min) * 0.5 * (1.0 + (std::f64::consts::PI * t.min(1.0)).cos())
}

pub struct Optimizer {
    pub cfg: OptimizerParams,
    params: Vec<Tensor>,
    /// Per parameter: [momentum] for SGD/LARS, [m, v] for Adam(W).
    state: Vec<Vec<Tensor>>,
    pub steps: i64,
}

impl Optimizer {
    pub fn new(vs: &nn::VarStore, cfg: &OptimizerParams) -> Optimizer {
        let params = vs.trainable_variables();
        let k = match cfg.kind {
            OptimizerKind::Sgd | OptimizerKind::Lars => 1,
            OptimizerKind::Adam | OptimizerKind::Adamw => 2,
        };
        let state = params.iter().map(|p| (0..k).map(|_| p.zeros_like()).collect()).collect();
        Optimizer { cfg: cfg.clone(), params, state, steps: 0 }
    }

    pub fn zero_grad(&mut self) {
        for p in &mut self.params {
            let mut g = p.grad();
            if g.defined() {
                let _ = g.detach_().zero_();
            }
        }
    }

    /// Scales gradients so their global L2 norm is at most `max`; returns the norm.
    pub fn clip_grad_norm(&mut self, max: f64) -> f64 {
        let grads: Vec<Tensor> = self.params.iter().map(|p| p.grad()).filter(|g| g.defined()).collect();
        if grads.is_empty() {
            return 0.0;
        }
        let norms: Vec<Tensor> = grads.iter().map(|g| g.norm().square()).collect();
        let total = Tensor::stack(&norms, 0).sum(tch::Kind::Float).sqrt().double_value(&[]);
        if total > max {
            for mut g in grads {
                let _ = g.g_mul_scalar_(max / (total + 1e-6));
            }
        }
        total
    }

    /// One update with learning rate `lr`.
    pub fn step(&mut self, lr: f64) {
        self.steps += 1;
        let c = self.cfg.clone();
        let t = self.steps as f64;
        tch::no_grad(|| {
            for (p, st) in self.params.iter_mut().zip(self.state.iter_mut()) {
                let g = p.grad();
                if !g.defined() {
                    continue;
                }
                let decay = if p.dim() > 1 { c.weight_decay } else { 0.0 };
                match c.kind {
                    OptimizerKind::Sgd | OptimizerKind::Lars => {
                        let mut d = if decay > 0.0 { &g + &*p * decay } else { g.shallow_clone() };
                        if c.kind == OptimizerKind::Lars && p.dim() > 1 {
                            let (pn, dn) = (p.norm().double_value(&[]), d.norm().double_value(&[]));
                            if pn > 0.0 && dn > 0.0 {
                                d = d * (c.trust_coefficient * pn / dn);
                            }
                        }
                        let buf = &mut st[0];
                        if t == 1.0 {
                            buf.copy_(&d);
                        } else {
                            let _ = buf.g_mul_scalar_(c.momentum);
                            let _ = buf.g_add_(&d);
                        }
                        let upd = if c.nesterov { &d + &*buf * c.momentum } else { buf.shallow_clone() };
                        let _ = p.g_sub_(&(upd * lr));
                    }
                    OptimizerKind::Adam | OptimizerKind::Adamw => {
                        let [b1, b2] = c.betas;
                        let g = if c.kind == OptimizerKind::Adam && decay > 0.0 { &g + &*p * decay } else { g };
                        if c.kind == OptimizerKind::Adamw && decay > 0.0 {
                            let _ = p.g_mul_scalar_(1.0 - lr * decay);
                        }
                        let _ = st[0].g_mul_scalar_(b1);
                        let _ = st[0].g_add_(&(&g * (1.0 - b1)));
                        let _ = st[1].g_mul_scalar_(b2);
                        let _ = st[1].g_add_(&(g.square() * (1.0 - b2)));
                        let mhat = &st[0] / (1.0 - b1.powf(t));
                        let vhat = &st[1] / (1.0 - b2.powf(t));
                        let _ = p.g_sub_(&(mhat / (vhat.sqrt() + c.eps) * lr));
                    }
                }
            }
        });
    }

    /// State tensors by name, for checkpoints.
    pub fn state_tensors(&self) -> Vec<(String, Tensor)> {
        let mut out = vec![("opt/steps".to_string(), Tensor::from_slice(&[self.steps]))];
        for (i, st) in self.state.iter().enumerate() {
            for (j, t) in st.iter().enumerate() {
                out.push((format!("opt/{i}/{j}"), t.shallow_clone()));
            }
        }
        out
    }

    pub fn load_state(&mut self, get: &dyn Fn(&str) -> Option<Tensor>) -> crate::error::Result<()> {
        let steps = get("opt/steps").ok_or_else(|| crate::error::Error::stage("checkpoint lacks opt/steps"))?;
        self.steps = steps.int64_value(&[0]);
        tch::no_grad(|| -> crate::error::Result<()> {
            for (i, st) in self.state.iter_mut().enumerate() {
                for (j, t) in st.iter_mut().enumerate() {
                    let src = get(&format!("opt/{i}/{j}")).ok_or_else(|| crate::error::Error::stage(format!("checkpoint lacks opt/{i}/{j}")))?;
                    t.copy_(&src);
                }
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_warms_up_then_decays() {
        assert!((lr_at(0, 100, 10, 1.0, 0.0) - 0.1).abs() < 1e-12);
        assert!((lr_at(9, 100, 10, 1.0, 0.0) - 1.0).abs() < 1e-12);
        assert!((lr_at(10, 100, 10, 1.0, 0.0) - 1.0).abs() < 1e-12);
        assert!(lr_at(100, 100, 10, 1.0, 0.1) - 0.1 < 1e-12);
    }

    /// Each optimizer drives a quadratic to its minimum.
    #[test]
    fn optimizers_minimise_a_quadratic() {
        for kind in [OptimizerKind::Sgd, OptimizerKind::Adam, OptimizerKind::Adamw, OptimizerKind::Lars] {
            let vs = nn::VarStore::new(tch::Device::Cpu);
            let x = vs.root().var("x", &[4, 3], nn::Init::Const(2.0));
            let lr = if kind == OptimizerKind::Lars { 5.0 } else { 0.05 };
            let mut opt = Optimizer::new(&vs, &OptimizerParams { kind, lr, weight_decay: 0.0, ..Default::default() });
            for _ in 0..300 {
                opt.zero_grad();
                let loss = (&x - 0.5).square().sum(tch::Kind::Float);
                loss.backward();
                opt.step(lr);
            }
            let err = (&x - 0.5).abs().max().double_value(&[]);
            assert!(err < 0.05, "{kind:?}: {err}");
        }
    }
}
