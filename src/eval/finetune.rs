//! Fine-tuning: a fresh linear head on a learned encoder, trained with the one
//! training loop, in three modes that answer "how much of the backbone must be
//! retrained?":
//!
//! - `frozen`: only the head trains; the encoder runs in eval mode (the linear
//!   probe of the deep-learning papers, but trained end-to-end on images);
//! - `last-n`: the head and the last `blocks` blocks train. As in PyTorch with
//!   `requires_grad = False` and `model.train()`, batch-norm statistics of the
//!   frozen blocks still adapt;
//! - `full`: everything trains.
//!
//! The encoder starts from the fitted weights (DINO: the teacher's). The head is
//! a BatchNorm without affine parameters and a linear layer, as in MAE's linear
//! probing: features of different methods come at very different scales, and
//! the BatchNorm lets one learning rate suit all of them. Test accuracy is that
//! of the final epoch.
use super::backbone::Backbone;
use super::{
    accuracy, linear_probe::confusion_matrix, EvalContext, EvalOutput, Evaluation, Headline, Input, ModelInputs, Scope,
};
use crate::augment::AugmentParams;
use crate::checks::{Checker, Validate};
use crate::error::Result;
use crate::represent::RepresentationSpec;
use crate::train::optim::{OptimizerKind, OptimizerParams};
use crate::train::trainer::{self, Objective, StepInfo, TrainData, TrainParams};
use serde::{Deserialize, Serialize};
use tch::nn::{self, Module, ModuleT};
use tch::{Device, Kind, Tensor};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FinetuneMode {
    #[serde(rename = "frozen")]
    Frozen,
    #[serde(rename = "last-n")]
    LastN,
    #[serde(rename = "full")]
    Full,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FinetuneParams {
    pub mode: FinetuneMode,
    /// Blocks retrained in `last-n` mode.
    pub blocks: usize,
    pub train: TrainParams,
    /// Augmentation of the fine-tuning batches (none by default).
    pub augment: Option<AugmentParams>,
}

impl Default for FinetuneParams {
    fn default() -> Self {
        FinetuneParams {
            mode: FinetuneMode::Full,
            blocks: 1,
            train: TrainParams {
                epochs: 5,
                batch_size: 128,
                warmup_epochs: 0.5,
                optimizer: OptimizerParams {
                    kind: OptimizerKind::Adamw,
                    lr: 1e-3,
                    weight_decay: 1e-4,
                    ..Default::default()
                },
                ..Default::default()
            },
            augment: None,
        }
    }
}

impl Validate for FinetuneParams {
    fn validate(&self, path: &str, c: &mut Checker) {
        c.positive(&format!("{path}.blocks"), self.blocks);
        self.train.validate(&format!("{path}.train"), c);
        if self.train.monitor.is_some() {
            c.push(&format!("{path}.train.monitor"), "the k-NN monitor is for a representation's training, not fine-tuning (whose own test accuracy is the result)");
        }
        if let Some(a) = &self.augment {
            a.validate(&format!("{path}.augment"), c);
        }
    }
}

/// Backbone → BatchNorm (no affine) → linear head.
struct Net {
    backbone: Backbone,
    head_bn: nn::BatchNorm,
    head: nn::Linear,
    encoder_train_mode: bool,
    augment: Option<AugmentParams>,
}

impl Net {
    fn logits(&mut self, x: &Tensor, train: bool) -> Result<Tensor> {
        let f = self.backbone.try_features(x, train && self.encoder_train_mode)?;
        Ok(self.head.forward(&self.head_bn.forward_t(&f, train)))
    }
}

impl Objective for Net {
    fn loss(&mut self, x: &Tensor, y: &Tensor, _s: &StepInfo) -> crate::error::Result<Tensor> {
        let x = match &self.augment {
            Some(a) => a.apply(x),
            None => x.shallow_clone(),
        };
        Ok(self.logits(&x, true)?.cross_entropy_for_logits(y))
    }
}

fn predict(net: &mut Net, images: &Tensor, dev: Device) -> Result<Tensor> {
    crate::represent::pixels::in_batches(images, 1024, |b| {
        let x = b.to_device(dev).to_kind(Kind::Float) / 255.0;
        Ok(tch::no_grad(|| net.logits(&x, false))?.argmax(-1, false).to_device(Device::Cpu))
    })
}

/// Training images scored after each epoch for the fine-tuning curve.
const CURVE_TRAIN: i64 = 2000;

/// Version of this evaluation's arithmetic; bump it when what it computes
/// changes (it enters the evaluation's key, see `Evaluation::version`).
pub const VERSION: u32 = 3;

impl Evaluation for FinetuneParams {
    /// Its own version plus the shared training machinery's (the loop, the
    /// optimisers, the encoders): the sum changes with either bump.
    fn version(&self) -> u32 {
        VERSION + crate::methods::SHARED_VERSION
    }
    fn scope(&self) -> Scope {
        Scope::Model
    }
    fn evaluate(&self, input: &Input, ctx: &EvalContext) -> Result<EvalOutput> {
        self.run(input.model()?, ctx.device, ctx.seed)
    }
    fn figures(&self) -> &'static [super::FigureKind] {
        &[super::FigureKind::Confusion, super::FigureKind::FinetuneCurve]
    }
    fn choices(&self) -> &'static [&'static str] {
        &["trained_params", "final_loss"]
    }
    fn headline(&self) -> Headline {
        Headline::ranked("top1")
    }
    fn applies_to(&self, rep: &RepresentationSpec) -> std::result::Result<(), String> {
        match rep {
            RepresentationSpec::Torchscript(_) => Ok(()),
            _ => super::needs_encoder(rep, false),
        }
    }
}

impl FinetuneParams {
    /// Long on purpose: building the network from the fitted backbone, choosing what trains for the mode,
    /// training and scoring are one protocol, read top to bottom.
    pub fn run(&self, m: &ModelInputs, device: Device, seed: u64) -> Result<EvalOutput> {
        let state = crate::state::NamedTensors::from(m.fitted.state());
        let img = &m.images;
        let s = img.train.0.size();
        let shape = (s[1], s[2], s[3]);
        let vs = nn::VarStore::new(device);
        let mut net = crate::runtime::seeding::with_torch_seed(
            crate::runtime::seeding::derive(seed, "finetune/init"),
            || -> Result<Net> {
                let root = vs.root();
                let backbone = Backbone::build(m.spec, &state, &vs, shape)?;
                let bn = nn::BatchNormConfig { affine: false, ..Default::default() };
                let head_bn = nn::batch_norm1d(&root / "head" / "bn", backbone.out_dim(), bn);
                let head = nn::linear(&root / "head" / "fc", backbone.out_dim(), img.num_classes, Default::default());
                Ok(Net {
                    backbone,
                    head_bn,
                    head,
                    encoder_train_mode: self.mode != FinetuneMode::Frozen,
                    augment: self.augment.clone(),
                })
            },
        )?;
        let blocks = net.backbone.blocks();
        let n_blocks = blocks.len();
        let unfrozen: Vec<String> = match self.mode {
            FinetuneMode::Frozen => Vec::new(),
            FinetuneMode::LastN => blocks[n_blocks.saturating_sub(self.blocks)..].iter().flatten().cloned().collect(),
            FinetuneMode::Full => net.backbone.all(),
        };
        let keep = |name: &str| {
            name.starts_with("head.") || unfrozen.iter().any(|p| name == p || name.starts_with(&format!("{p}.")))
        };
        let (train_x, train_y) = (img.train.0.to_device(device), img.train.1.to_device(device));
        // Fine-tuning curves: after each epoch, top-1 on the validation split and
        // on a fixed sample of the training split (its first CURVE_TRAIN images;
        // the split is already shuffled), so over- or under-fitting shows per epoch.
        let n_curve = img.train.0.size()[0].min(CURVE_TRAIN);
        let (curve_x, curve_y) = (img.train.0.narrow(0, 0, n_curve), img.train.1.narrow(0, 0, n_curve));
        let logs = trainer::train_subset(
            &mut net,
            &vs,
            &keep,
            TrainData { images: &train_x, rows: None, labels: &train_y },
            &self.train,
            crate::runtime::seeding::derive(seed, "finetune/train"),
            &mut |net: &mut Net, log| {
                let val = accuracy(&predict(net, &img.val.0, device)?, &img.val.1);
                let train = accuracy(&predict(net, &curve_x, device)?, &curve_y);
                log.diagnostics.insert("val_top1".into(), val);
                log.diagnostics.insert("train_top1".into(), train);
                Ok(())
            },
        )?;
        let trained = vs.trainable_variables().iter().filter(|t| t.requires_grad()).map(|t| t.numel()).sum::<usize>();
        let test_pred = predict(&mut net, &img.test.0, device)?;
        let val_pred = predict(&mut net, &img.val.0, device)?;
        // The train–test gap (issue 36): the tuned network on its own training images.
        let train_pred = predict(&mut net, &img.train.0, device)?;
        let test_acc = accuracy(&test_pred, &img.test.1);
        let mut details = serde_json::json!({
            "test_correct": super::correct_bits(&test_pred, &img.test.1)?,
            "test_images": img.test.1.size()[0],
            "mode": self.mode,
            "blocks_trained": match self.mode { FinetuneMode::Frozen => 0, FinetuneMode::LastN => self.blocks.min(n_blocks), FinetuneMode::Full => n_blocks },
            "train_log": logs,
        });
        let confusion = confusion_matrix(&test_pred, &img.test.1, img.num_classes)?;
        let mut metrics = vec![
            ("top1".into(), test_acc),
            ("val_top1".into(), accuracy(&val_pred, &img.val.1)),
            ("train_top1".into(), accuracy(&train_pred, &img.train.1)),
            ("trained_params".into(), trained as f64),
            ("final_loss".into(), logs.last().map(|l| l.loss).unwrap_or(f64::NAN)),
        ];
        metrics.extend(super::class_metrics::class_metrics(&confusion));
        details["test_labels"] = super::class_metrics::labels_b64(&img.test.1, img.num_classes)?.into();
        super::figure_data::put(&mut details, &super::figure_data::ConfusionData { confusion })?;
        Ok(EvalOutput { metrics, details })
    }
}
