//! DINO's hyper-parameters, their defaults (the official recipe where it does
//! not depend on image size) and their checks; the training loop is in `mod.rs`.
use crate::augment::AugmentParams;
use crate::checks::{Checker, Validate};
use crate::nn::EncoderSpec;
use crate::train::optim::{OptimizerKind, OptimizerParams};
use crate::train::trainer::{ClipMode, TrainParams};
use serde::{Deserialize, Deserializer, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DinoParams {
    pub encoder: EncoderSpec,
    /// Laid over DINO's own training defaults (`train_defaults`), key by key.
    #[serde(deserialize_with = "dino_train")]
    pub train: TrainParams,
    /// Crop-independent part of the pipeline (colour jitter, grayscale). Crop
    /// scales come from the fields below, blur and solarization from `view_blur`
    /// and `view_solarize`: `augment.blur_p` / `solarize_p` must stay 0.
    pub augment: AugmentParams,
    pub global_crop_scale: [f64; 2],
    pub local_crops: usize,
    pub local_crop_scale: [f64; 2],
    /// Side of the local crops in pixels (default 4/7 of the image side, a multiple of 4).
    pub local_crop_size: Option<usize>,
    /// Blur probability of [first global view, second global view, local views]
    /// (DINO: 1.0, 0.1, 0.5 — the two global views are augmented asymmetrically).
    pub view_blur: [f64; 3],
    /// Solarization probability of the same three (DINO: 0, 0.2, 0).
    pub view_solarize: [f64; 3],
    pub out_dim: usize,
    pub hidden_dim: usize,
    pub bottleneck_dim: usize,
    pub student_temp: f64,
    pub teacher_temp: f64,
    pub warmup_teacher_temp: f64,
    /// Share of training over which the teacher temperature warms up from
    /// `warmup_teacher_temp` (DINO: 30 of 100 epochs; with both temperatures
    /// 0.04, the default, there is no warm-up).
    pub warmup_teacher_temp_fraction: f64,
    pub center_momentum: f64,
    /// EMA momentum at the first step; it goes to `final_momentum` on a cosine over the run.
    pub base_momentum: f64,
    /// EMA momentum at the last step (DINO: 1, the teacher stops moving at the
    /// end; lightly's CIFAR-10 benchmark: 0.99 = `base_momentum`, constant).
    /// Left out of the key's JSON at its default 1, so the keys of fits made
    /// before the field existed (which all ran with 1) stay valid.
    #[serde(skip_serializing_if = "is_one")]
    pub final_momentum: f64,
    /// Epochs at the start during which the last head layer is held still
    /// (DINO's `freeze_last_layer`: no gradient, so no update, no weight decay
    /// and no optimiser-state change). One epoch of DINO's 100; in a 10-epoch run it is 10 %.
    pub freeze_last_layer_epochs: usize,
    /// Fix the norm of each last-layer row to 1 (DINO's `norm_last_layer`, default
    /// true). With false the row norms are learned: logits are then no longer bounded
    /// by 1/temperature, which the DINO authors use for ViT-S ("better performance
    /// but can make the training unstable").
    pub norm_last_layer: bool,
    /// Batch norm after the head's hidden layers (DINO's `use_bn_in_head`, default
    /// false). It takes the shared component out of the features before the
    /// bottleneck, so image-to-image differences reach the logits from the first step.
    pub bn_in_head: bool,
    /// Stochastic depth of the student ViT (DINO: 0.1); the teacher has none.
    /// ConvNets and ResNets have no drop-path, as in DINO.
    pub drop_path: f64,
    /// Which network the representation is: `teacher` (DINO's choice) or `student`.
    pub embed_with: EmbedWith,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EmbedWith {
    #[default]
    Teacher,
    Student,
}

/// DINO's training recipe (main_dino.py defaults), the base a suite's `train:` is laid over.
pub fn train_defaults() -> TrainParams {
    TrainParams {
        optimizer: OptimizerParams { kind: OptimizerKind::Adamw, lr: 5e-4, weight_decay: 0.04, ..Default::default() },
        min_lr: 1e-6,
        grad_clip: Some(3.0),
        grad_clip_mode: ClipMode::PerParameter,
        weight_decay_end: Some(0.4),
        lr_reference_batch: Some(256),
        // main_dino.py's `--warmup_epochs 10`: 10 % of its 100-epoch runs, a third
        // of a 30-epoch one (docs/spec.md, schedules that depend on the run length).
        warmup_epochs: 10.0,
        ..Default::default()
    }
}

fn is_one(v: &f64) -> bool {
    *v == 1.0
}

fn dino_train<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<TrainParams, D::Error> {
    crate::train::defaults::train_over(d, &train_defaults())
}

impl Default for DinoParams {
    fn default() -> Self {
        DinoParams {
            encoder: EncoderSpec::Vit(Default::default()),
            train: train_defaults(),
            augment: AugmentParams { saturation: 0.2, ..Default::default() },
            global_crop_scale: [0.4, 1.0],
            local_crops: 4,
            local_crop_scale: [0.05, 0.4],
            local_crop_size: None,
            view_blur: [1.0, 0.1, 0.5],
            view_solarize: [0.0, 0.2, 0.0],
            out_dim: 4096,
            hidden_dim: 2048,
            bottleneck_dim: 256,
            student_temp: 0.1,
            teacher_temp: 0.04,
            warmup_teacher_temp: 0.04,
            warmup_teacher_temp_fraction: 0.3,
            center_momentum: 0.9,
            base_momentum: 0.996,
            final_momentum: 1.0,
            freeze_last_layer_epochs: 1,
            norm_last_layer: true,
            bn_in_head: false,
            drop_path: 0.1,
            embed_with: EmbedWith::Teacher,
        }
    }
}

impl DinoParams {
    /// Every field's own check, by field path (`Method::check` calls it).
    pub(super) fn check_params(&self, path: &str, c: &mut Checker) {
        self.augment.validate(&format!("{path}.augment"), c);
        for (n, v) in [("blur_p", self.augment.blur_p), ("solarize_p", self.augment.solarize_p)] {
            if v != 0.0 {
                let what = if n == "blur_p" { "view_blur" } else { "view_solarize" };
                c.push(&format!("{path}.augment.{n}"), format!("DINO draws this per view: set `{what}` (first global, second global, local views) instead (got {v})"));
            }
        }
        for (n, vs) in [("view_blur", self.view_blur), ("view_solarize", self.view_solarize)] {
            if !vs.iter().all(|v| (0.0..=1.0).contains(v)) {
                c.push(&format!("{path}.{n}"), format!("are probabilities, in [0, 1] (got {vs:?})"));
            }
        }
        if !(0.0..1.0).contains(&self.drop_path) {
            c.push(&format!("{path}.drop_path"), format!("must be in [0, 1) (got {})", self.drop_path));
        }
        for (n, v) in [("hidden_dim", self.hidden_dim), ("bottleneck_dim", self.bottleneck_dim)] {
            c.positive(&format!("{path}.{n}"), v);
        }
        if self.out_dim < 2 {
            let msg = format!(
                "must be at least 2: the teacher and student distributions are over out_dim prototypes (got {})",
                self.out_dim
            );
            c.push(&format!("{path}.out_dim"), msg);
        }
        for (n, v) in [
            ("student_temp", self.student_temp),
            ("teacher_temp", self.teacher_temp),
            ("warmup_teacher_temp", self.warmup_teacher_temp),
        ] {
            c.positive_f(&format!("{path}.{n}"), v);
        }
        crate::methods::check_momentum(path, "base_momentum", self.base_momentum, c);
        crate::methods::check_momentum(path, "final_momentum", self.final_momentum, c);
        if self.final_momentum < self.base_momentum {
            let msg = format!(
                "must be at least base_momentum ({}): the teacher would follow the student faster as training ends (got {})",
                self.base_momentum, self.final_momentum
            );
            c.push(&format!("{path}.final_momentum"), msg);
        }
        crate::methods::check_momentum(path, "center_momentum", self.center_momentum, c);
    }
}
