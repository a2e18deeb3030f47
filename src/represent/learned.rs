//! Learned representations: a method's settings → a trained network → a fitted
//! representation that embeds with the network's encoder (eval mode).
//!
//! The fitted state is every variable of the method's var store (`vs/...`) plus
//! its extra state (EMA teacher, DINO centre), so a restored model embeds exactly
//! as the trained one did.
use super::{FitContext, Fitted};
use crate::error::{Error, Result};
use crate::methods::{BuildInfo, Learner, Method};
use crate::state::NamedTensors;
use crate::train::checkpoint::Checkpointer;
use crate::train::monitor::{self, MonitorParams};
use crate::train::trainer::{self, EpochLog, TrainData};
use tch::{nn, Device, Kind, Tensor};

pub struct FittedLearned {
    vs: nn::VarStore,
    learner: Box<dyn Learner>,
    info: BuildInfo,
    pub logs: Vec<EpochLog>,
    counted: super::Counted,
}

/// The embedding network's parameters and MACs, counted from the architecture.
fn count(method: &dyn Method, info: BuildInfo) -> super::Counted {
    match method.complexity(info.shape) {
        Ok(c) => super::Counted::exact(c.params, c.macs, "counted from the architecture (ptflops' aten convention)"),
        Err(e) => super::Counted::not_counted(None, &e.to_string()),
    }
}

/// Builds the networks under the fit seed, so initial weights are reproducible.
fn init(method: &dyn Method, device: Device, info: BuildInfo, seed: u64) -> Result<(nn::VarStore, Box<dyn Learner>)> {
    crate::runtime::seeding::with_torch_seed(seed, || {
        let vs = nn::VarStore::new(device);
        let learner = method.build(&vs, info)?;
        Ok((vs, learner))
    })
}

/// Trains on `images` (u8 N×C×H×W) and `labels`.
pub fn fit(method: &dyn Method, images: &Tensor, ctx: &FitContext) -> Result<FittedLearned> {
    let tp = method.train();
    let s = images.size();
    let info = BuildInfo { shape: (s[1], s[2], s[3]), num_classes: ctx.num_classes };
    let (vs, mut learner) = init(method, ctx.device, info, crate::runtime::seeding::derive(ctx.seed, "init"))?;
    // Streamed (a mapped store): the images stay in host memory and each batch
    // is gathered there and moved to the device; otherwise the training split
    // moves to the device once.
    let images = if ctx.rows.is_some() { images.shallow_clone() } else { images.to_device(ctx.device) };
    let rows = ctx.rows.map(|r| r.to_device(Device::Cpu));
    let n = rows.as_ref().map(|r| r.size()[0]).unwrap_or(s[0]);
    match &rows {
        Some(r) => learner.normalizer().fit_rows(&images, r),
        None => learner.normalizer().fit(&images),
    }
    let labels = match ctx.labels {
        Some(l) => l.to_device(ctx.device),
        None => Tensor::zeros([n], (Kind::Int64, ctx.device)),
    };
    let ckpt = ctx.checkpoint_dir.as_deref().map(Checkpointer::new).transpose()?;
    // bf16 autocast exists only on CUDA; a suite written for a GPU still runs on a
    // CPU (f32), but says so rather than falling back silently.
    if tp.bf16 && !ctx.device.is_cuda() {
        (ctx.log)(&format!(
            "  note: train.bf16 is set but training runs on {:?}: bf16 autocast is CUDA-only, computing in f32",
            ctx.device
        ));
    }
    // The monitor's bank is the training set itself (streamed fits gather it
    // once: the monitor is a diagnostic, docs/datasets.md says what it costs).
    let bank = match (&tp.monitor, &rows) {
        (Some(_), Some(r)) => Some(images.index_select(0, r).to_device(ctx.device)),
        _ => None,
    };
    let monitor = match &tp.monitor {
        None => None,
        Some(m) => Some(Monitor::new(m, bank.as_ref().unwrap_or(&images), &labels, ctx)?),
    };
    let mut on_epoch = |learner: &mut (dyn Learner + 'static), l: &mut EpochLog| -> Result<()> {
        if let Some(m) = &monitor {
            if m.params.measures(l.epoch, tp.epochs) {
                l.diagnostics.insert(monitor::KEY.into(), m.accuracy(learner)?);
            }
        }
        let diag: String = l.diagnostics.iter().map(|(k, v)| format!(", {k} {v:.4}")).collect();
        (ctx.log)(&format!(
            "  epoch {}/{}: loss {:.4}{diag}, lr {:.2e}, {:.1} s, {:.0} img/s",
            l.epoch, tp.epochs, l.loss, l.lr, l.seconds, l.images_per_s
        ));
        Ok(())
    };
    let logs = trainer::train(
        learner.as_mut(),
        &vs,
        TrainData { images: &images, rows: rows.as_ref(), labels: &labels },
        tp,
        crate::runtime::seeding::derive(ctx.seed, "train"),
        ckpt.as_ref(),
        &mut on_epoch,
    )?;
    Ok(FittedLearned { vs, learner, info, logs, counted: count(method, info) })
}

/// The k-NN monitor's data (see `train::monitor`): the training images as the
/// bank, the validation split as the queries, both on the training device.
struct Monitor<'a> {
    params: &'a MonitorParams,
    bank: &'a Tensor,
    bank_labels: &'a Tensor,
    queries: Tensor,
    query_labels: Tensor,
    classes: i64,
}

impl<'a> Monitor<'a> {
    fn new(params: &'a MonitorParams, bank: &'a Tensor, bank_labels: &'a Tensor, ctx: &FitContext) -> Result<Self> {
        let (queries, query_labels) = match ctx.val {
            Some((x, y)) if x.size()[0] > 0 => (x.to_device(bank.device()), y.to_device(bank.device())),
            _ => {
                return Err(Error::stage(
                    "train.monitor needs a validation split to measure on: the dataset has none (set dataset.val_fraction above 0)",
                ))
            }
        };
        if ctx.labels.is_none() || ctx.num_classes < 2 {
            return Err(Error::stage("train.monitor needs the training labels and at least 2 classes"));
        }
        let n = bank.size()[0];
        if params.k as i64 > n {
            return Err(Error::stage(format!("train.monitor.k = {} but there are only {n} training images", params.k)));
        }
        Ok(Monitor { params, bank, bank_labels, queries, query_labels, classes: ctx.num_classes })
    }

    /// Top-1 of the weighted k-NN vote, with the learner as it is now (eval mode, no grad).
    fn accuracy(&self, learner: &dyn Learner) -> Result<f64> {
        let embed = |x: &Tensor| {
            super::pixels::in_batches(x, 1024, |b| {
                Ok(tch::no_grad(|| learner.embed(&(b.to_kind(Kind::Float) / 255.0))))
            })
        };
        let (bank, queries) = (embed(self.bank)?, embed(&self.queries)?);
        let p = crate::knn_vote::predict(
            &bank,
            self.bank_labels,
            &queries,
            &[self.params.k],
            self.params.temperature,
            self.classes,
        )?;
        let right = p[0].eq_tensor(&self.query_labels).to_kind(Kind::Float).mean(Kind::Float);
        Ok(right.double_value(&[]))
    }
}

/// A learned representation whose weights come from elsewhere: built as the
/// method builds it, then `load` fills the var store; nothing is trained.
pub fn pretrained(
    method: &dyn Method,
    info: BuildInfo,
    device: Device,
    seed: u64,
    load: impl FnOnce(&nn::VarStore) -> Result<()>,
) -> Result<FittedLearned> {
    let (vs, learner) = init(method, device, info, seed)?;
    load(&vs)?;
    Ok(FittedLearned { vs, learner, info, logs: Vec::new(), counted: count(method, info) })
}

/// Rebuilds a fitted learned representation from its saved state.
pub fn restore(method: &dyn Method, state: &NamedTensors, device: Device) -> Result<FittedLearned> {
    let get = |n: &str| state.get(n);
    let shape: Vec<i64> = get("info/shape").map(|t| Vec::try_from(t).unwrap_or_default()).unwrap_or_default();
    let classes = get("info/classes").map(|t| t.int64_value(&[0])).unwrap_or(0);
    if shape.len() != 3 {
        return Err(Error::stage("fitted state lacks info/shape"));
    }
    let info = BuildInfo { shape: (shape[0], shape[1], shape[2]), num_classes: classes };
    let (vs, mut learner) = init(method, device, info, 0)?;
    crate::train::checkpoint::load_vars(&vs, "vs", &get)?;
    learner.load_extra_state(&|n| get(n).map(|t| t.to_device(device)))?;
    Ok(FittedLearned { vs, learner, info, logs: Vec::new(), counted: count(method, info) })
}

impl FittedLearned {
    pub fn learner(&self) -> &dyn Learner {
        self.learner.as_ref()
    }

    /// The embedding traced to TorchScript on `example` (float images in
    /// [0, 1]); the weights become constants, so they are frozen first.
    pub fn to_torchscript(mut self, example: Tensor) -> Result<tch::CModule> {
        self.vs.freeze();
        let learner = self.learner;
        Ok(tch::no_grad(|| {
            tch::CModule::create_by_tracing("RepbenchEncoder", "forward", &[example], &mut |x| {
                vec![learner.embed(&x[0])]
            })
        })?)
    }
}

impl Fitted for FittedLearned {
    fn embed(&self, images: &Tensor, device: Device) -> Result<Tensor> {
        let dev = self.vs.device();
        let out = super::pixels::in_batches(images, 1024, |b| {
            let x = b.to_device(dev).to_kind(Kind::Float) / 255.0;
            Ok(tch::no_grad(|| self.learner.embed(&x)))
        })?;
        Ok(out.to_device(device))
    }
    fn state(&self) -> Vec<(String, Tensor)> {
        let (c, h, w) = self.info.shape;
        let mut v: Vec<(String, Tensor)> =
            self.vs.variables().into_iter().map(|(k, t)| (format!("vs/{k}"), t)).collect();
        v.extend(self.learner.extra_state());
        v.push(("info/shape".into(), Tensor::from_slice(&[c, h, w])));
        v.push(("info/classes".into(), Tensor::from_slice(&[self.info.num_classes])));
        v
    }
    fn train_log(&self) -> Option<Vec<crate::train::trainer::EpochLog>> {
        Some(self.logs.clone())
    }
    fn embed_blocks(&self, images: &Tensor, device: Device) -> Result<Option<Vec<Tensor>>> {
        let dev = self.vs.device();
        let mut parts: Vec<Vec<Tensor>> = Vec::new();
        let n = images.size()[0];
        for start in (0..n).step_by(512) {
            let b = images.narrow(0, start, 512.min(n - start));
            let x = b.to_device(dev).to_kind(Kind::Float) / 255.0;
            let blocks = tch::no_grad(|| self.learner.embed_blocks(&x));
            if parts.is_empty() {
                parts = blocks.iter().map(|_| Vec::new()).collect();
            }
            for (p, t) in parts.iter_mut().zip(blocks) {
                p.push(t.to_kind(Kind::Float).to_device(device));
            }
        }
        Ok(Some(parts.iter().map(|p| Tensor::cat(p, 0)).collect()))
    }
    fn counted(&self) -> super::Counted {
        self.counted.clone()
    }
    fn cls_attention(&self, images: &Tensor, device: Device) -> Result<Option<Tensor>> {
        let x = images.to_device(self.vs.device()).to_kind(Kind::Float) / 255.0;
        Ok(tch::no_grad(|| self.learner.cls_attention(&x)).map(|t| t.to_kind(Kind::Float).to_device(device)))
    }
}
