//! SGD (momentum, Nesterov), Adam, AdamW and LARS with the learning-rate schedule
//! (linear warm-up, then cosine to `min_lr`, per iteration).
//!
//! Written over plain tensors rather than libtorch's optimizers so the state
//! (momentum buffers, Adam moments, step count) is ours to checkpoint: a resumed
//! run continues exactly where the killed one stopped. As in the DINO/SimCLR
//! reference code, biases and normalisation parameters (1-D tensors) get no
//! weight decay and no LARS adaptation.
mod params;
#[cfg(test)]
mod tests;

pub use params::{OptimizerKind, OptimizerParams};
use tch::{nn, Tensor};

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
    /// Per-element step counts, kept once some parameter has been frozen for a
    /// step (its Adam bias correction then follows its own count, as PyTorch's
    /// per-parameter `step` does); `None` while every element has `steps`.
    counts: Option<Tensor>,
}

/// How gradients are clipped before an update.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Clip {
    /// Scale all gradients together to a global L2 norm of at most this.
    Global(f64),
    /// Scale each parameter's gradient to an L2 norm of at most this (DINO's `clip_gradients`).
    PerParameter(f64),
}

/// What one optimiser step does.
pub struct Update<'a> {
    pub lr: f64,
    /// This step's weight decay (a schedule may move it; see `TrainParams::weight_decay_end`).
    pub weight_decay: f64,
    pub clip: Option<Clip>,
    /// Parameters held still this step, as if their gradient were `None` in
    /// PyTorch: no decay, no moment update, no step count (DINO's frozen last layer).
    pub frozen: &'a [Tensor],
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
        Optimizer { cfg: cfg.clone(), params, numels, flat, decay_mask, state, steps: 0, counts: None }
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

    /// One update with learning rate `lr` and the configured weight decay; with
    /// `clip`, gradients are first scaled to a global L2 norm of at most `clip`.
    /// Returns the gradient norm when clipping.
    pub fn step(&mut self, lr: f64, clip: Option<f64>) -> Option<f64> {
        let weight_decay = self.cfg.weight_decay;
        self.update(&Update { lr, weight_decay, clip: clip.map(Clip::Global), frozen: &[] })
    }

    /// 1 for the elements of parameters that take part in this update, 0 for
    /// those of `frozen` (matched by storage); `None` when nothing is frozen.
    fn active_mask(&self, frozen: &[Tensor]) -> Option<Tensor> {
        if frozen.is_empty() {
            return None;
        }
        let dev = self.flat.device();
        let parts: Vec<Tensor> = self
            .params
            .iter()
            .zip(&self.numels)
            .map(|(p, &n)| {
                let off = frozen.iter().any(|f| f.data_ptr() == p.data_ptr());
                Tensor::full([n], if off { 0.0 } else { 1.0 }, (tch::Kind::Float, dev))
            })
            .collect();
        Some(Tensor::cat(&parts, 0))
    }

    /// One update (see [`Update`]).
    ///
    /// Long on purpose: one update for every optimiser kind (SGD, AdamW, LARS) with clipping, weight
    /// decay and frozen parameters, kept whole as PyTorch's `step()` is, so it can be read against it.
    pub fn update(&mut self, u: &Update) -> Option<f64> {
        if self.params.is_empty() {
            return None;
        }
        let active = self.active_mask(u.frozen);
        if active.is_some() && self.counts.is_none() {
            // From the first frozen step on, each element keeps its own step count.
            self.counts = Some(self.flat.full_like(self.steps as f64));
        }
        self.steps += 1;
        let c = self.cfg.clone();
        let lr = u.lr;
        let t = self.steps as f64;
        tch::no_grad(|| {
            if let Some(counts) = &mut self.counts {
                match &active {
                    Some(a) => drop(counts.g_add_(a)),
                    None => drop(counts.g_add_scalar_(1.0)),
                }
            }
            let mut g = self.flat_grad();
            let mut norm = None;
            match u.clip {
                Some(Clip::Global(max)) => {
                    let total = g.norm().double_value(&[]);
                    if total > max {
                        g = &g * (max / (total + 1e-6));
                    }
                    norm = Some(total);
                }
                Some(Clip::PerParameter(max)) => {
                    // DINO's `clip_gradients`: each parameter's gradient on its own.
                    let norms = self.per_param(&g, |x| x.norm());
                    let coef = (max / (&norms + 1e-6)).clamp_max(1.0);
                    g = &g * self.spread(&coef);
                    norm = Some(norms.square().sum(tch::Kind::Float).sqrt().double_value(&[]));
                }
                None => {}
            }
            // Frozen parameters take no decay, no moment update and no step.
            let on = |x: Tensor| match &active {
                Some(a) => x * a,
                None => x,
            };
            let wd = on(&self.decay_mask * u.weight_decay);
            match c.kind {
                OptimizerKind::Sgd | OptimizerKind::Lars => {
                    let mut d = if u.weight_decay > 0.0 { &g + &self.flat * &wd } else { g };
                    if c.kind == OptimizerKind::Lars {
                        let pn = self.per_param(&self.flat, |x| x.norm());
                        let dn = self.per_param(&d, |x| x.norm());
                        let ok = pn.gt(0.0).logical_and(&dn.gt(0.0));
                        let trust = (&pn / dn.clamp_min(1e-12) * c.trust_coefficient).where_self(&ok, &pn.ones_like());
                        // Only rank > 1 tensors are adapted.
                        let trust = &self.spread(&trust) * &self.decay_mask + (1.0 - &self.decay_mask);
                        d = &d * trust;
                    }
                    let buf = &mut self.state[0];
                    match (&self.counts, &active) {
                        (None, _) if t == 1.0 => buf.copy_(&d),
                        (None, _) => drop(buf.g_mul_scalar_(c.momentum).g_add_(&d)),
                        (Some(n), a) => {
                            let fresh = n.eq(1.0).to_kind(tch::Kind::Float);
                            let next = &fresh * &d + (1.0 - &fresh) * (&*buf * c.momentum + &d);
                            let next = match a {
                                Some(a) => a * &next + (1.0 - a) * &*buf,
                                None => next,
                            };
                            buf.copy_(&next);
                        }
                    }
                    let upd = if c.nesterov { &d + &self.state[0] * c.momentum } else { self.state[0].shallow_clone() };
                    let _ = self.flat.g_sub_(&on(upd * lr));
                }
                OptimizerKind::Adam | OptimizerKind::Adamw => {
                    let [b1, b2] = c.betas;
                    let g =
                        if c.kind == OptimizerKind::Adam && u.weight_decay > 0.0 { &g + &self.flat * &wd } else { g };
                    if c.kind == OptimizerKind::Adamw && u.weight_decay > 0.0 {
                        let _ = self.flat.g_mul_(&(1.0 - &wd * lr));
                    }
                    match &active {
                        None => {
                            let _ = self.state[0].lerp_(&g, 1.0 - b1);
                            let _ = self.state[1].g_mul_scalar_(b2);
                            let _ = self.state[1].addcmul_(&g, &g.g_mul_scalar(1.0 - b2));
                        }
                        Some(a) => {
                            let _ = self.state[0].lerp_tensor_(&g, &(a * (1.0 - b1)));
                            let keep = 1.0 - a * (1.0 - b2);
                            let _ = self.state[1].g_mul_(&keep);
                            let _ = self.state[1].addcmul_(&g, &(&g * a * (1.0 - b2)));
                        }
                    }
                    match &self.counts {
                        None => {
                            let denom = (&self.state[1] / (1.0 - b2.powf(t))).sqrt() + c.eps;
                            let _ = self.flat.addcdiv_(&(&self.state[0] * (-lr / (1.0 - b1.powf(t)))), &denom);
                        }
                        Some(n) => {
                            // Elements never stepped have count 0; they are frozen, and the
                            // floor of 1 only keeps their (discarded) arithmetic finite.
                            let n = n.clamp_min(1.0);
                            let bc1: Tensor = 1.0 - (&n * b1.ln()).exp();
                            let bc2: Tensor = 1.0 - (&n * b2.ln()).exp();
                            let denom = (&self.state[1] / bc2).sqrt() + c.eps;
                            let _ = self.flat.addcdiv_(&on(&self.state[0] / bc1 * (-lr)), &denom);
                        }
                    }
                }
            }
            norm
        })
    }

    /// `f` of each parameter's slice of the flat `x`, stacked: [n_params].
    fn per_param(&self, x: &Tensor, f: impl Fn(&Tensor) -> Tensor) -> Tensor {
        Tensor::stack(&x.split_with_sizes(&self.numels, 0).iter().map(f).collect::<Vec<_>>(), 0)
    }

    /// A per-parameter value [n_params] repeated over each parameter's elements.
    fn spread(&self, v: &Tensor) -> Tensor {
        let per = Tensor::from_slice(&self.numels).to_device(self.flat.device());
        v.repeat_interleave_self_tensor(&per, 0, None)
    }

    /// State tensors by name, for checkpoints.
    pub fn state_tensors(&self) -> Vec<(String, Tensor)> {
        let mut out = vec![("opt/steps".to_string(), Tensor::from_slice(&[self.steps]))];
        for (j, t) in self.state.iter().enumerate() {
            out.push((format!("opt/{j}"), t.shallow_clone()));
        }
        if let Some(c) = &self.counts {
            out.push(("opt/counts".to_string(), c.shallow_clone()));
        }
        out
    }

    pub fn load_state(&mut self, get: &dyn Fn(&str) -> Option<Tensor>) -> crate::error::Result<()> {
        let steps = get("opt/steps").ok_or_else(|| crate::error::Error::stage("checkpoint lacks opt/steps"))?;
        self.steps = steps.int64_value(&[0]);
        self.counts = get("opt/counts").map(|c| c.to_kind(tch::Kind::Float));
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
