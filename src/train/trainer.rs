//! The one training loop. A method supplies only its loss (and, for EMA methods,
//! what happens after each step); batching, shuffling, seeding, the schedule,
//! clipping, divergence checks, logging and checkpoints live here, once.
use super::checkpoint::Checkpointer;
use super::monitor::MonitorParams;
use super::optim::{lr_at, Clip, Optimizer, OptimizerParams, Update};
use crate::checks::{Checker, Validate};
use crate::error::{Error, Result};
use crate::runtime::seeding;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Instant;
use tch::{nn, Kind, Tensor};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainParams {
    pub epochs: usize,
    pub batch_size: usize,
    pub optimizer: OptimizerParams,
    /// Linear warm-up length, in epochs (fractions allowed).
    pub warmup_epochs: f64,
    /// Learning rate at the end of the cosine schedule.
    pub min_lr: f64,
    /// Maximum gradient norm (of all gradients together, or of each parameter's: `grad_clip_mode`).
    pub grad_clip: Option<f64>,
    /// `global` (default; `torch.nn.utils.clip_grad_norm_`) or `per_parameter`
    /// (DINO's `clip_gradients`: each parameter's gradient clipped on its own).
    pub grad_clip_mode: ClipMode,
    /// Weight decay at the end of training: it follows a half cosine from
    /// `optimizer.weight_decay` at the first step to this at the last (DINO: 0.04 → 0.4).
    /// Unset: constant.
    pub weight_decay_end: Option<f64>,
    /// Linear scaling rule: when set, `optimizer.lr` is the rate for this batch
    /// size and the peak rate is `lr × batch_size / lr_reference_batch` (DINO
    /// and SimCLR use 256). `min_lr` is not scaled, as in DINO. Unset: `lr` as given.
    ///
    /// Every field is serialized, `null` and defaults included: a method with its
    /// own training defaults (DINO) reads a missing key as *its* default, so a
    /// skipped `null` would come back as that default whenever a suite is
    /// re-read from its serialized form (matrix expansion does this).
    pub lr_reference_batch: Option<usize>,
    /// bf16 autocast (CUDA only; ignored on CPU).
    pub bf16: bool,
    /// A k-NN accuracy on the validation split logged during training (a
    /// training curve; it changes nothing that is trained). Unset: none. Skipped
    /// when unset, unlike the other fields: no method has a default for it, so
    /// leaving it out is the same as `null`, and the fit keys of suites without
    /// it stay what they were.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub monitor: Option<MonitorParams>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClipMode {
    #[default]
    Global,
    PerParameter,
}

impl TrainParams {
    /// The peak learning rate for an effective batch of `batch` images.
    pub fn peak_lr(&self, batch: i64) -> f64 {
        match self.lr_reference_batch {
            Some(r) => self.optimizer.lr * batch as f64 / r as f64,
            None => self.optimizer.lr,
        }
    }
    /// Weight decay at `step` of `total` (DINO's `cosine_scheduler(wd, wd_end, …)`,
    /// which has no warm-up: value i of the schedule is end + (start − end)·(1 + cos(π·i/total))/2).
    pub fn weight_decay_at(&self, step: i64, total: i64) -> f64 {
        let start = self.optimizer.weight_decay;
        match self.weight_decay_end {
            None => start,
            Some(end) => {
                end + (start - end) * 0.5 * (1.0 + (std::f64::consts::PI * step as f64 / total.max(1) as f64).cos())
            }
        }
    }
    fn clip(&self) -> Option<Clip> {
        self.grad_clip.map(|g| match self.grad_clip_mode {
            ClipMode::Global => Clip::Global(g),
            ClipMode::PerParameter => Clip::PerParameter(g),
        })
    }
}

impl Default for TrainParams {
    fn default() -> Self {
        TrainParams {
            epochs: 10,
            batch_size: 256,
            optimizer: Default::default(),
            warmup_epochs: 1.0,
            min_lr: 0.0,
            grad_clip: None,
            grad_clip_mode: ClipMode::Global,
            weight_decay_end: None,
            lr_reference_batch: None,
            bf16: false,
            monitor: None,
        }
    }
}

impl Validate for TrainParams {
    fn validate(&self, path: &str, c: &mut Checker) {
        c.positive(&format!("{path}.epochs"), self.epochs);
        c.positive(&format!("{path}.batch_size"), self.batch_size);
        c.non_negative_f(&format!("{path}.warmup_epochs"), self.warmup_epochs);
        // A warm-up longer than the run never reaches the peak rate nor decays
        // (main_dino.py's scheduler asserts the same); refused rather than run
        // with a learning rate that is not the one the suite names.
        if self.warmup_epochs > self.epochs as f64 {
            c.push(
                &format!("{path}.warmup_epochs"),
                format!(
                    "is longer than the run ({} > epochs {}): the learning rate would never reach its peak — set it to at most {} (DINO's default is main_dino.py's 10)",
                    self.warmup_epochs, self.epochs, self.epochs
                ),
            );
        }
        c.non_negative_f(&format!("{path}.min_lr"), self.min_lr);
        if let Some(g) = self.grad_clip {
            c.positive_f(&format!("{path}.grad_clip"), g);
        }
        if let Some(w) = self.weight_decay_end {
            c.non_negative_f(&format!("{path}.weight_decay_end"), w);
        }
        if let Some(b) = self.lr_reference_batch {
            c.positive(&format!("{path}.lr_reference_batch"), b);
        }
        self.optimizer.validate(&format!("{path}.optimizer"), c);
        super::decay_check::check(self, path, c);
        if let Some(m) = &self.monitor {
            m.validate(&format!("{path}.monitor"), c);
        }
    }
}

/// One line of the training log (stored with the fitted representation).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochLog {
    pub epoch: usize,
    pub loss: f64,
    pub lr: f64,
    pub seconds: f64,
    pub images_per_s: f64,
    /// Method-specific means over the epoch's steps (e.g. DINO's teacher entropy),
    /// by name; empty for most methods.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub diagnostics: BTreeMap<String, f64>,
}

/// Where in training a step is.
#[derive(Debug, Clone, Copy)]
pub struct StepInfo {
    pub epoch: usize,
    pub epochs: usize,
    pub step: i64,
    pub total_steps: i64,
}

impl StepInfo {
    /// Progress through training in [0, 1].
    pub fn progress(&self) -> f64 {
        self.step as f64 / self.total_steps.max(1) as f64
    }
}

/// A training objective: the loss of a batch of images in [0, 1].
pub trait Objective {
    /// An error (a TorchScript module that fails mid-training, say) ends the fit
    /// with that error instead of a panic.
    fn loss(&mut self, x: &Tensor, y: &Tensor, s: &StepInfo) -> crate::error::Result<Tensor>;
    /// Called between backward and the optimizer step (e.g. to cancel gradients).
    fn before_step(&mut self, _s: &StepInfo) {}
    /// Parameters held still at this step: the optimiser treats them as PyTorch
    /// treats a parameter whose `grad` is `None` (DINO's frozen last layer).
    fn frozen_params(&self, _s: &StepInfo) -> Vec<Tensor> {
        Vec::new()
    }
    /// Called after each optimizer step (EMA teachers, centres).
    fn after_step(&mut self, _s: &StepInfo) {}
    /// Means of the method's own diagnostics over the epoch that just ended (and
    /// resets them). Accumulated on the device, read once per epoch.
    fn epoch_diagnostics(&mut self) -> BTreeMap<String, f64> {
        BTreeMap::new()
    }
    /// State outside the var store that a checkpoint must keep.
    fn extra_state(&self) -> Vec<(String, Tensor)> {
        Vec::new()
    }
    fn load_extra_state(&mut self, _get: &dyn Fn(&str) -> Option<Tensor>) -> Result<()> {
        Ok(())
    }
}

pub struct TrainData<'a> {
    /// u8 [M, C, H, W] on the training device.
    pub images: &'a Tensor,
    /// When set, the training images are these rows of `images` (i64 [N],
    /// both in host memory): `images` is then a memory-mapped store part and
    /// each batch is gathered from it and moved to the training device, so
    /// no copy of the training set is made.
    pub rows: Option<&'a Tensor>,
    /// i64 [N] on the training device (following `rows` when set); its device
    /// is where training runs.
    pub labels: &'a Tensor,
}

impl TrainData<'_> {
    /// How many training images.
    pub fn len(&self) -> i64 {
        self.rows.map(|r| r.size()[0]).unwrap_or_else(|| self.images.size()[0])
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The u8 images at positions `idx` of the training set.
    pub fn batch(&self, idx: &Tensor) -> Tensor {
        match self.rows {
            Some(r) => {
                let rows = r.index_select(0, &idx.to_device(r.device()));
                self.images.index_select(0, &rows).to_device(self.labels.device())
            }
            None => self.images.index_select(0, idx),
        }
    }
}

/// What runs at the end of each epoch, before its checkpoint: it sees the
/// objective (to embed with it) and may add to the epoch's log (the k-NN monitor).
pub type OnEpoch<'a, O> = dyn FnMut(&mut O, &mut EpochLog) -> Result<()> + 'a;

/// Trains `obj`'s parameters in `vs`. With a checkpointer, resumes from its latest
/// epoch and saves after every epoch.
pub fn train<O: Objective + ?Sized>(
    obj: &mut O,
    vs: &nn::VarStore,
    data: TrainData,
    cfg: &TrainParams,
    seed: u64,
    ckpt: Option<&Checkpointer>,
    on_epoch: &mut OnEpoch<O>,
) -> Result<Vec<EpochLog>> {
    let opt = Optimizer::new(vs, &cfg.optimizer);
    train_with(obj, vs, opt, data, cfg, seed, ckpt, on_epoch)
}

/// Trains only the variables of `vs` whose names `keep` accepts (fine-tuning).
pub fn train_subset<O: Objective + ?Sized>(
    obj: &mut O,
    vs: &nn::VarStore,
    keep: &dyn Fn(&str) -> bool,
    data: TrainData,
    cfg: &TrainParams,
    seed: u64,
    on_epoch: &mut OnEpoch<O>,
) -> Result<Vec<EpochLog>> {
    let opt = Optimizer::filtered(vs, &cfg.optimizer, keep);
    train_with(obj, vs, opt, data, cfg, seed, None, on_epoch)
}

#[allow(clippy::too_many_arguments)]
/// Long on purpose: the one training loop, kept whole so the order of a step (seed, loss, divergence check,
/// backward, hooks, schedule, optimiser step, EMA) and of an epoch (shuffle, steps, log, checkpoint) reads
/// top to bottom.
fn train_with<O: Objective + ?Sized>(
    obj: &mut O,
    vs: &nn::VarStore,
    mut opt: Optimizer,
    data: TrainData,
    cfg: &TrainParams,
    seed: u64,
    ckpt: Option<&Checkpointer>,
    on_epoch: &mut OnEpoch<O>,
) -> Result<Vec<EpochLog>> {
    let n = data.len();
    if n == 0 {
        return Err(Error::stage("no training images"));
    }
    let dev = data.labels.device();
    let bs = (cfg.batch_size as i64).min(n);
    let spe = n / bs;
    let total = spe * cfg.epochs as i64;
    let warmup = (cfg.warmup_epochs * spe as f64).round() as i64;
    let peak_lr = cfg.peak_lr(bs);
    let mut logs: Vec<EpochLog> = Vec::new();
    let mut start = 0;
    if let Some(l) = ckpt.map(|c| c.latest()).transpose()?.flatten() {
        let state = crate::state::NamedTensors(l.tensors);
        let get = |name: &str| state.get(name);
        super::checkpoint::load_vars(vs, "vs", &get)?;
        opt.load_state(&|name| get(name).map(|t| t.to_device(dev)))?;
        obj.load_extra_state(&|name| get(name).map(|t| t.to_device(dev)))?;
        start = l.epoch;
        logs = l.logs;
    }
    let use_bf16 = cfg.bf16 && dev.is_cuda();
    for epoch in start..cfg.epochs {
        let t0 = Instant::now();
        let perm = seeding::with_torch_seed(seeding::derive(seed, &format!("epoch/{epoch}")), || {
            Tensor::randperm(n, (Kind::Int64, dev))
        });
        let mut loss_sum = 0.0;
        let mut lr = 0.0;
        for s in 0..spe {
            let step = epoch as i64 * spe + s;
            let info = StepInfo { epoch, epochs: cfg.epochs, step, total_steps: total };
            let idx = perm.narrow(0, s * bs, bs);
            let x = data.batch(&idx).to_kind(Kind::Float) / 255.0;
            let y = data.labels.index_select(0, &idx);
            let loss = seeding::with_torch_seed(seeding::derive(seed, &format!("step/{step}")), || {
                tch::autocast(use_bf16, || obj.loss(&x, &y, &info))
            })?;
            if crate::runtime::interrupt::requested() {
                return Err(Error::Interrupted);
            }
            let lv = loss.double_value(&[]);
            if !lv.is_finite() {
                return Err(Error::stage(format!("diverged at epoch {}, step {} (loss = {lv})", epoch + 1, s + 1)));
            }
            loss_sum += lv;
            opt.zero_grad();
            loss.backward();
            obj.before_step(&info);
            lr = lr_at(step, total, warmup, peak_lr, cfg.min_lr);
            let frozen = obj.frozen_params(&info);
            opt.update(&Update {
                lr,
                weight_decay: cfg.weight_decay_at(step, total),
                clip: cfg.clip(),
                frozen: &frozen,
            });
            tch::no_grad(|| obj.after_step(&info));
        }
        let secs = t0.elapsed().as_secs_f64();
        let diagnostics = obj.epoch_diagnostics();
        let mut log = EpochLog {
            epoch: epoch + 1,
            loss: loss_sum / spe as f64,
            lr,
            seconds: secs,
            images_per_s: (spe * bs) as f64 / secs,
            diagnostics,
        };
        on_epoch(obj, &mut log)?;
        logs.push(log);
        if let Some(c) = ckpt {
            let mut tensors: Vec<(String, Tensor)> =
                vs.variables().into_iter().map(|(k, v)| (format!("vs/{k}"), v)).collect();
            tensors.extend(opt.state_tensors());
            tensors.extend(obj.extra_state());
            c.save(epoch + 1, &tensors, &logs)?;
        }
    }
    Ok(logs)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// DINO's `cosine_scheduler(0.04, 0.4, …)`, by hand: end + (start − end)(1 + cos(π i / total)) / 2.
    #[test]
    fn weight_decay_schedule_and_lr_scaling_by_hand() {
        let mut t = TrainParams { weight_decay_end: Some(0.4), lr_reference_batch: Some(256), ..Default::default() };
        t.optimizer.weight_decay = 0.04;
        t.optimizer.lr = 5e-4;
        for (step, want) in [(0, 0.04), (25, 0.092_720_779), (50, 0.22), (75, 0.347_279_221), (100, 0.4)] {
            let got = t.weight_decay_at(step, 100);
            assert!((got - want).abs() < 1e-8, "step {step}: {got} vs {want}");
        }
        assert!((t.peak_lr(128) - 2.5e-4).abs() < 1e-15);
        assert!((t.peak_lr(512) - 1e-3).abs() < 1e-15);
        let constant = TrainParams::default();
        assert_eq!(constant.weight_decay_at(30, 100), constant.optimizer.weight_decay);
        assert_eq!(constant.peak_lr(128), constant.optimizer.lr);
    }

    /// DINO warms up for main_dino.py's 10 epochs; a warm-up longer than the run
    /// is refused at the field, equal to it is allowed (a pure ramp, as upstream).
    #[test]
    fn warmup_longer_than_the_run_is_refused() {
        assert_eq!(crate::methods::dino::train_defaults().warmup_epochs, 10.0);
        let check = |epochs: usize, warmup_epochs: f64| {
            let mut c = Checker { errors: Vec::new(), base_dir: None };
            TrainParams { epochs, warmup_epochs, ..crate::methods::dino::train_defaults() }
                .validate("representations.dino.train", &mut c);
            c.errors
        };
        let errors = check(8, 10.0);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].path, "representations.dino.train.warmup_epochs");
        assert!(errors[0].msg.contains("10 > epochs 8"), "{}", errors[0].msg);
        assert!(check(10, 10.0).is_empty());
        assert!(check(8, 1.0).is_empty());
    }
}
