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
        OptimizerParams {
            kind: OptimizerKind::Adamw,
            lr: 1e-3,
            weight_decay: 1e-4,
            momentum: 0.9,
            nesterov: false,
            betas: [0.9, 0.999],
            eps: 1e-8,
            trust_coefficient: 0.001,
        }
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

/// The optimizer keeps all trainable parameters in one flat buffer (each variable
/// becomes a view into it), so an update is a dozen whole-buffer ops instead of a
/// dozen per parameter — libtorch's `_foreach`/fused kernels are not exposed to
/// Rust, and this gets the same effect.
pub struct Optimizer {
    pub cfg: OptimizerParams,
    params: Vec<Tensor>,
    numels: Vec<i64>,
    flat: Tensor,
    /// 1 where weight decay and LARS adaptation apply (tensors of rank > 1).
    decay_mask: Tensor,
    /// [momentum] for SGD/LARS, [m, v] for Adam(W), each flat.
    state: Vec<Tensor>,
    pub steps: i64,
}

impl Optimizer {
    pub fn new(vs: &nn::VarStore, cfg: &OptimizerParams) -> Optimizer {
        Self::over(vs.trainable_variables(), vs.device(), cfg)
    }

    /// An optimizer over the variables whose names `keep` accepts, in name order
    /// (fine-tuning part of a network). The others get `requires_grad = false`,
    /// so backward does not even compute their gradients.
    pub fn filtered(vs: &nn::VarStore, cfg: &OptimizerParams, keep: &dyn Fn(&str) -> bool) -> Optimizer {
        let mut vars: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        let trainable: Vec<Tensor> = vs.trainable_variables();
        let is_trainable = |t: &Tensor| trainable.iter().any(|v| v.data_ptr() == t.data_ptr());
        let mut params = Vec::new();
        for (name, t) in vars {
            if !is_trainable(&t) {
                continue;
            }
            if keep(&name) {
                params.push(t);
            } else {
                let _ = t.set_requires_grad(false);
            }
        }
        Self::over(params, vs.device(), cfg)
    }

    fn over(mut params: Vec<Tensor>, dev: tch::Device, cfg: &OptimizerParams) -> Optimizer {
        let numels: Vec<i64> = params.iter().map(|p| p.numel() as i64).collect();
        let flat = tch::no_grad(|| {
            if params.is_empty() {
                Tensor::zeros([0], (tch::Kind::Float, dev))
            } else {
                Tensor::cat(&params.iter().map(|p| p.detach().reshape([-1])).collect::<Vec<_>>(), 0)
            }
        });
        let mut off = 0;
        let mut mask = Vec::with_capacity(params.len());
        for (p, &n) in params.iter_mut().zip(&numels) {
            let shape = p.size();
            p.set_data(&flat.narrow(0, off, n).view(shape.as_slice()));
            mask.push(Tensor::full([n], if p.dim() > 1 { 1.0 } else { 0.0 }, (tch::Kind::Float, dev)));
            off += n;
        }
        let decay_mask = if mask.is_empty() { flat.zeros_like() } else { Tensor::cat(&mask, 0) };
        let k = match cfg.kind {
            OptimizerKind::Sgd | OptimizerKind::Lars => 1,
            OptimizerKind::Adam | OptimizerKind::Adamw => 2,
        };
        let state = (0..k).map(|_| flat.zeros_like()).collect();
        Optimizer { cfg: cfg.clone(), params, numels, flat, decay_mask, state, steps: 0 }
    }

    pub fn zero_grad(&mut self) {
        for p in &mut self.params {
            let mut g = p.grad();
            if g.defined() {
                let _ = g.detach_().zero_();
            }
        }
    }

    /// All gradients as one flat tensor (zeros for parameters without a gradient).
    fn flat_grad(&self) -> Tensor {
        let gs: Vec<Tensor> = self
            .params
            .iter()
            .zip(&self.numels)
            .map(|(p, &n)| {
                let g = p.grad();
                if g.defined() {
                    g.reshape([-1])
                } else {
                    Tensor::zeros([n], (tch::Kind::Float, self.flat.device()))
                }
            })
            .collect();
        Tensor::cat(&gs, 0)
    }

    /// One update with learning rate `lr`; with `clip`, gradients are first scaled
    /// to a global L2 norm of at most `clip`. Returns the gradient norm when clipping.
    ///
    /// Long on purpose: one update for every optimiser kind (SGD, AdamW, LARS) with clipping and weight
    /// decay, kept whole as PyTorch's `step()` is, so it can be read against it.
    pub fn step(&mut self, lr: f64, clip: Option<f64>) -> Option<f64> {
        if self.params.is_empty() {
            return None;
        }
        self.steps += 1;
        let c = self.cfg.clone();
        let t = self.steps as f64;
        tch::no_grad(|| {
            let mut g = self.flat_grad();
            let mut norm = None;
            if let Some(max) = clip {
                let total = g.norm().double_value(&[]);
                if total > max {
                    g = &g * (max / (total + 1e-6));
                }
                norm = Some(total);
            }
            let wd = &self.decay_mask * c.weight_decay;
            match c.kind {
                OptimizerKind::Sgd | OptimizerKind::Lars => {
                    let mut d = if c.weight_decay > 0.0 { &g + &self.flat * &wd } else { g };
                    if c.kind == OptimizerKind::Lars {
                        let pn = Tensor::stack(
                            &self.flat.split_with_sizes(&self.numels, 0).iter().map(|x| x.norm()).collect::<Vec<_>>(),
                            0,
                        );
                        let dn = Tensor::stack(
                            &d.split_with_sizes(&self.numels, 0).iter().map(|x| x.norm()).collect::<Vec<_>>(),
                            0,
                        );
                        let ok = pn.gt(0.0).logical_and(&dn.gt(0.0));
                        let trust = (&pn / dn.clamp_min(1e-12) * c.trust_coefficient).where_self(&ok, &pn.ones_like());
                        let per = Tensor::from_slice(&self.numels).to_device(self.flat.device());
                        let trust = trust.repeat_interleave_self_tensor(&per, 0, None);
                        // Only rank > 1 tensors are adapted.
                        let trust = &trust * &self.decay_mask + (1.0 - &self.decay_mask);
                        d = &d * trust;
                    }
                    if t == 1.0 {
                        self.state[0].copy_(&d);
                    } else {
                        let _ = self.state[0].g_mul_scalar_(c.momentum);
                        let _ = self.state[0].g_add_(&d);
                    }
                    let upd = if c.nesterov { &d + &self.state[0] * c.momentum } else { self.state[0].shallow_clone() };
                    let _ = self.flat.g_sub_(&(upd * lr));
                }
                OptimizerKind::Adam | OptimizerKind::Adamw => {
                    let [b1, b2] = c.betas;
                    let g =
                        if c.kind == OptimizerKind::Adam && c.weight_decay > 0.0 { &g + &self.flat * &wd } else { g };
                    if c.kind == OptimizerKind::Adamw && c.weight_decay > 0.0 {
                        let _ = self.flat.g_mul_(&(1.0 - &wd * lr));
                    }
                    let _ = self.state[0].lerp_(&g, 1.0 - b1);
                    let _ = self.state[1].g_mul_scalar_(b2);
                    let _ = self.state[1].addcmul_(&g, &g.g_mul_scalar(1.0 - b2));
                    let denom = (&self.state[1] / (1.0 - b2.powf(t))).sqrt() + c.eps;
                    let _ = self.flat.addcdiv_(&(&self.state[0] * (-lr / (1.0 - b1.powf(t)))), &denom);
                }
            }
            norm
        })
    }

    /// State tensors by name, for checkpoints.
    pub fn state_tensors(&self) -> Vec<(String, Tensor)> {
        let mut out = vec![("opt/steps".to_string(), Tensor::from_slice(&[self.steps]))];
        for (j, t) in self.state.iter().enumerate() {
            out.push((format!("opt/{j}"), t.shallow_clone()));
        }
        out
    }

    pub fn load_state(&mut self, get: &dyn Fn(&str) -> Option<Tensor>) -> crate::error::Result<()> {
        let steps = get("opt/steps").ok_or_else(|| crate::error::Error::stage("checkpoint lacks opt/steps"))?;
        self.steps = steps.int64_value(&[0]);
        tch::no_grad(|| -> crate::error::Result<()> {
            for (j, t) in self.state.iter_mut().enumerate() {
                let src = get(&format!("opt/{j}"))
                    .ok_or_else(|| crate::error::Error::stage(format!("checkpoint lacks opt/{j}")))?;
                if src.size() != t.size() {
                    return Err(crate::error::Error::stage(format!(
                        "checkpoint opt/{j} has shape {:?}, expected {:?}",
                        src.size(),
                        t.size()
                    )));
                }
                t.copy_(&src);
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
                opt.step(lr, None);
            }
            let err = (&x - 0.5).abs().max().double_value(&[]);
            assert!(err < 0.05, "{kind:?}: {err}");
        }
    }
}
