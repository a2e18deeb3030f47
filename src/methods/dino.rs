//! DINO (Caron et al. 2021): self-distillation with no labels. A student and an
//! EMA teacher share the architecture (encoder + projection head ending in a
//! weight-normalised layer); the teacher's output is centred (momentum 0.9) and
//! sharpened (temperature warmed up 0.04 → 0.07), the student's uses 0.1; the
//! student sees 2 global and N local crops, the teacher only the globals.
//! Teacher momentum 0.996 → 1 on a cosine schedule. Head 2048/256/65536 scaled to
//! 512/128/4096 for small images; local crops 96/224 of the side → 4/7.
use super::heads::EmaTeacher;
use super::{Method, losses, BuildInfo, BuildResult, Learner, Normalizer};
use crate::augment::AugmentParams;
use crate::error::Result;
use crate::nn::{Encoder, EncoderSpec};
use crate::train::trainer::{Objective, StepInfo, TrainParams};
use crate::spec::validate::{Checker, Validate};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use tch::nn::{self, Module, ModuleT};
use tch::{Kind, Tensor};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DinoParams {
    pub encoder: EncoderSpec,
    pub train: TrainParams,
    /// Colour part of the pipeline (crop scales come from the fields below).
    pub augment: AugmentParams,
    pub global_crop_scale: [f64; 2],
    pub local_crops: usize,
    pub local_crop_scale: [f64; 2],
    /// Side of the local crops in pixels (default 4/7 of the image side, a multiple of 4).
    pub local_crop_size: Option<usize>,
    pub out_dim: usize,
    pub hidden_dim: usize,
    pub bottleneck_dim: usize,
    pub student_temp: f64,
    pub teacher_temp: f64,
    pub warmup_teacher_temp: f64,
    /// Share of training over which the teacher temperature warms up (DINO: 30 of 100 epochs).
    pub warmup_teacher_temp_fraction: f64,
    pub center_momentum: f64,
    pub base_momentum: f64,
    /// Epochs at the start during which the last head layer gets no gradient
    /// (DINO's `freeze_last_layer`, which it reports stabilises early training).
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
}

impl Default for DinoParams {
    fn default() -> Self {
        DinoParams {
            encoder: EncoderSpec::Vit(Default::default()),
            train: Default::default(),
            augment: AugmentParams { blur_p: 0.5, solarize_p: 0.1, ..Default::default() },
            global_crop_scale: [0.4, 1.0],
            local_crops: 4,
            local_crop_scale: [0.05, 0.4],
            local_crop_size: None,
            out_dim: 4096,
            hidden_dim: 512,
            bottleneck_dim: 128,
            student_temp: 0.1,
            teacher_temp: 0.07,
            warmup_teacher_temp: 0.04,
            warmup_teacher_temp_fraction: 0.3,
            center_momentum: 0.9,
            base_momentum: 0.996,
            freeze_last_layer_epochs: 1,
            norm_last_layer: true,
            bn_in_head: false,
        }
    }
}

/// MLP (GELU) → L2 normalisation → weight-normalised linear layer, w = g · v / ‖v‖
/// per output row, g starting at 1 and fixed there unless `learn_norm` (DINO's
/// `norm_last_layer=False`).
pub struct DinoHead {
    l1: nn::Linear,
    l2: nn::Linear,
    l3: nn::Linear,
    bn: Option<[nn::BatchNorm; 2]>,
    last_v: Tensor,
    /// Row norms [out, 1]; `None` when fixed to 1.
    last_g: Option<Tensor>,
}

impl DinoHead {
    pub fn new(p: &nn::Path, d_in: i64, hidden: i64, bottleneck: i64, out: i64, learn_norm: bool, bn: bool) -> DinoHead {
        let lin = |n: &str, i, o| crate::nn::vit::linear(p / n, i, o);
        DinoHead {
            l1: lin("mlp0", d_in, hidden),
            l2: lin("mlp1", hidden, hidden),
            l3: lin("mlp2", hidden, bottleneck),
            bn: bn.then(|| [0, 1].map(|i| nn::batch_norm1d(p / format!("bn{i}"), hidden, Default::default()))),
            last_v: p.var("last_layer_v", &[out, bottleneck], nn::Init::Randn { mean: 0.0, stdev: 0.02 }),
            last_g: learn_norm.then(|| p.var("last_layer_g", &[out, 1], nn::Init::Const(1.0))),
        }
    }
    /// Always in training mode (batch statistics), for the student and the teacher alike, as in DINO.
    pub fn forward(&self, x: &Tensor) -> Tensor {
        let bn = |h: Tensor, i: usize| match &self.bn {
            Some(b) => b[i].forward_t(&h, true),
            None => h,
        };
        let h = bn(self.l1.forward(x), 0).gelu("none");
        let h = self.l3.forward(&bn(self.l2.forward(&h), 1).gelu("none"));
        let h = &h / h.norm_scalaropt_dim(2, [1], true).clamp_min(1e-12);
        let w = &self.last_v / self.last_v.norm_scalaropt_dim(2, [1], true).clamp_min(1e-12);
        let w = match &self.last_g {
            Some(g) => w * g,
            None => w,
        };
        h.matmul(&w.transpose(0, 1))
    }
    /// The last layer's parameters (what `freeze_last_layer` holds still).
    fn last_layer(&self) -> impl Iterator<Item = &Tensor> {
        std::iter::once(&self.last_v).chain(self.last_g.as_ref())
    }
}

pub struct Dino {
    norm: Normalizer,
    encoder: Box<dyn Encoder>,
    head: DinoHead,
    teacher: EmaTeacher,
    t_encoder: Box<dyn Encoder>,
    t_head: DinoHead,
    center: Tensor,
    batch_center: Option<Tensor>,
    local_size: i64,
    /// Sums over the epoch's steps of the teacher's normalised entropy and of
    /// KL(teacher ‖ student): DINO's collapse diagnostics (paper, Fig. 7) —
    /// entropy → 1 is collapse to uniform, → 0 with KL → 0 is collapse to one dimension.
    diag: (Tensor, Tensor, i64),
    p: DinoParams,
}

/// Version of this method's arithmetic; bump it when what it computes changes
/// (it enters the fit key, see `Method::version`).
pub const VERSION: u32 = 1;

impl Method for DinoParams {
    super::method_basics!(VERSION);
    fn backbone_prefix(&self) -> &'static str {
        "target/encoder"
    }
    fn check(&self, path: &str, c: &mut Checker) {
        self.augment.validate(&format!("{path}.augment"), c);
        for (n, v) in [("hidden_dim", self.hidden_dim), ("bottleneck_dim", self.bottleneck_dim)] {
            c.positive(&format!("{path}.{n}"), v);
        }
        if self.out_dim < 2 {
            let msg = format!("must be at least 2: the teacher and student distributions are over out_dim prototypes (got {})", self.out_dim);
            c.push(&format!("{path}.out_dim"), msg);
        }
        for (n, v) in [("student_temp", self.student_temp), ("teacher_temp", self.teacher_temp), ("warmup_teacher_temp", self.warmup_teacher_temp)] {
            c.positive_f(&format!("{path}.{n}"), v);
        }
        super::check_momentum(path, "base_momentum", self.base_momentum, c);
        super::check_momentum(path, "center_momentum", self.center_momentum, c);
    }
    fn build(&self, vs: &nn::VarStore, info: BuildInfo) -> BuildResult {
        let p = self;
        let root = vs.root();
        let encoder = p.encoder.build(&(&root / "encoder"), info.shape)?;
        let head = DinoHead::new(&(&root / "head"), encoder.out_dim(), p.hidden_dim as i64, p.bottleneck_dim as i64, p.out_dim as i64, !p.norm_last_layer, p.bn_in_head);
        let norm = Normalizer::new(&(&root / "norm"), info.shape.0);
        let (teacher, (t_encoder, t_head)) = EmaTeacher::new(vs, p.base_momentum, |t| {
            let e = p.encoder.build(&(t / "encoder"), info.shape)?;
            let h = DinoHead::new(&(t / "head"), e.out_dim(), p.hidden_dim as i64, p.bottleneck_dim as i64, p.out_dim as i64, !p.norm_last_layer, p.bn_in_head);
            Ok((e, h))
        })?;
        let side = info.shape.1.min(info.shape.2);
        let local_size = p.local_crop_size.map(|s| s as i64).unwrap_or_else(|| ((side * 4 / 7) / 4 * 4).max(4));
        Ok(Box::new(Dino {
            norm,
            encoder,
            head,
            teacher,
            t_encoder,
            t_head,
            center: Tensor::zeros([1, p.out_dim as i64], (Kind::Float, vs.device())),
            batch_center: None,
            local_size,
            diag: (Tensor::zeros([], (Kind::Float, vs.device())), Tensor::zeros([], (Kind::Float, vs.device())), 0),
            p: p.clone(),
        }))
    }
}

impl Dino {
    /// Teacher temperature: linear warm-up, then constant.
    pub fn teacher_temp(&self, s: &StepInfo) -> f64 {
        let warm = self.p.warmup_teacher_temp_fraction * s.total_steps as f64;
        if (s.step as f64) < warm {
            self.p.warmup_teacher_temp + (self.p.teacher_temp - self.p.warmup_teacher_temp) * s.step as f64 / warm
        } else {
            self.p.teacher_temp
        }
    }
}

impl Objective for Dino {
    fn loss(&mut self, x: &Tensor, _y: &Tensor, s: &StepInfo) -> Tensor {
        let (h, w) = (x.size()[2], x.size()[3]);
        let a = &self.p.augment;
        let globals = Tensor::cat(&[a.view(x, (h, w), self.p.global_crop_scale), a.view(x, (h, w), self.p.global_crop_scale)], 0);
        let student = |v: &Tensor| self.head.forward(&self.encoder.forward(&self.norm.apply(v), true));
        let mut s_out: Vec<Tensor> = student(&globals).chunk(2, 0);
        if self.p.local_crops > 0 {
            let locals: Vec<Tensor> = (0..self.p.local_crops).map(|_| a.view(x, (self.local_size, self.local_size), self.p.local_crop_scale)).collect();
            s_out.extend(student(&Tensor::cat(&locals, 0)).chunk(self.p.local_crops as i64, 0));
        }
        let t_out = tch::no_grad(|| self.t_head.forward(&self.t_encoder.forward(&self.norm.apply(&globals), true)));
        self.batch_center = Some(t_out.mean_dim(0, true, Kind::Float));
        let t_out: Vec<Tensor> = t_out.chunk(2, 0);
        let temp = self.teacher_temp(s);
        let loss = losses::dino(&s_out, &t_out, &self.center, self.p.student_temp, temp);
        tch::no_grad(|| {
            // Every pair's cross-entropy is H(teacher) + KL(teacher ‖ student), and each
            // teacher view appears in the same number of pairs, so the mean KL is the
            // loss minus the teacher views' mean entropy.
            let h = losses::mean_entropy(&t_out, &self.center, temp);
            let _ = self.diag.0.g_add_(&(&h / (self.p.out_dim as f64).ln()));
            let _ = self.diag.1.g_add_(&(loss.detach() - h));
            self.diag.2 += 1;
        });
        loss
    }
    fn epoch_diagnostics(&mut self) -> BTreeMap<String, f64> {
        let n = self.diag.2.max(1) as f64;
        let out = BTreeMap::from([("teacher_entropy".to_string(), self.diag.0.double_value(&[]) / n), ("teacher_student_kl".to_string(), self.diag.1.double_value(&[]) / n)]);
        let _ = self.diag.0.zero_();
        let _ = self.diag.1.zero_();
        self.diag.2 = 0;
        out
    }
    fn before_step(&mut self, s: &StepInfo) {
        if s.epoch < self.p.freeze_last_layer_epochs {
            for t in self.head.last_layer() {
                let mut g = t.grad();
                if g.defined() {
                    let _ = g.zero_();
                }
            }
        }
    }
    fn after_step(&mut self, s: &StepInfo) {
        if let Some(bc) = self.batch_center.take() {
            let m = self.p.center_momentum;
            let new = &self.center * m + bc * (1.0 - m);
            self.center.copy_(&new);
        }
        self.teacher.update(s.progress());
    }
    fn extra_state(&self) -> Vec<(String, Tensor)> {
        let mut v = self.teacher.state();
        v.push(("dino/center".into(), self.center.shallow_clone()));
        v
    }
    fn load_extra_state(&mut self, get: &dyn Fn(&str) -> Option<Tensor>) -> Result<()> {
        self.teacher.load(get)?;
        let c = get("dino/center").ok_or_else(|| crate::error::Error::stage("checkpoint lacks dino/center"))?;
        tch::no_grad(|| self.center.copy_(&c));
        Ok(())
    }
}

impl Learner for Dino {
    /// DINO evaluates the teacher's backbone, which is the better of the two.
    fn embed(&self, x: &Tensor) -> Tensor {
        self.t_encoder.forward(&self.norm.apply(x), false)
    }
    fn embed_blocks(&self, x: &Tensor) -> Vec<Tensor> {
        self.t_encoder.blocks(&self.norm.apply(x), false)
    }
    fn normalizer(&mut self) -> &mut Normalizer {
        &mut self.norm
    }
    fn cls_attention(&self, x: &Tensor) -> Option<Tensor> {
        self.t_encoder.as_vit().map(|v| v.last_cls_attention(&self.norm.apply(x)))
    }
}
