//! DINO (Caron et al. 2021): self-distillation with no labels. A student and an
//! EMA teacher share the architecture (encoder + projection head ending in a
//! weight-normalised layer, `heads::DinoHead`); the teacher's output is centred
//! (momentum 0.9) and sharpened (temperature 0.04), the student's uses 0.1; the
//! student sees 2 global and N local crops, the teacher only the globals.
//!
//! Defaults are the official recipe (facebookresearch/dino, main_dino.py) where
//! it does not depend on image size: head 2048/256, teacher temperature 0.04
//! constant, momentum 0.996 → 1 (cosine), last layer frozen for the first epoch
//! by dropping its gradient, drop-path 0.1 in the student, asymmetric blur and
//! solarization of the two global views, and for training (`train_defaults`)
//! AdamW at 5e-4 per 256 images, weight decay 0.04 → 0.4 on a cosine, gradients
//! clipped per parameter at 3. Scaled for small images: 4 local crops of 4/7 of
//! the side (official 8 of 96/224), 4096 prototypes (official 65536).
use super::heads::{DinoHead, EmaTeacher};
use super::{losses, BuildInfo, BuildResult, Learner, Method, Normalizer};
use crate::augment::AugmentParams;
use crate::checks::Checker;
use crate::error::Result;
use crate::nn::Encoder;
use crate::train::trainer::{Objective, StepInfo};
use std::collections::BTreeMap;
use tch::{Kind, Tensor};

mod params;
pub use params::{train_defaults, DinoParams, EmbedWith};

/// Version of this method's arithmetic; bump it when what it computes changes
/// (it enters the fit key, see `Method::version`).
pub const VERSION: u32 = 2;

impl Method for DinoParams {
    super::method_basics!(VERSION);
    fn backbone_prefix(&self) -> &'static str {
        match self.embed_with {
            EmbedWith::Teacher => "target/encoder",
            EmbedWith::Student => "vs/encoder",
        }
    }
    fn check(&self, path: &str, c: &mut Checker) {
        self.check_params(path, c);
    }
    fn build(&self, vs: &tch::nn::VarStore, info: BuildInfo) -> BuildResult {
        let p = self;
        let root = vs.root();
        let head = |path: &tch::nn::Path, d_in| {
            DinoHead::new(
                path,
                d_in,
                p.hidden_dim as i64,
                p.bottleneck_dim as i64,
                p.out_dim as i64,
                !p.norm_last_layer,
                p.bn_in_head,
            )
        };
        let encoder = p.encoder.build_with_drop_path(&(&root / "encoder"), info.shape, p.drop_path)?;
        let s_head = head(&(&root / "head"), encoder.out_dim());
        let norm = Normalizer::new(&(&root / "norm"), info.shape.0);
        let (teacher, (t_encoder, t_head)) = EmaTeacher::new(vs, p.base_momentum, |t| {
            let e = p.encoder.build(&(t / "encoder"), info.shape)?;
            let h = head(&(t / "head"), e.out_dim());
            Ok((e, h))
        })?;
        let teacher = teacher.ending_at(p.final_momentum);
        let side = info.shape.1.min(info.shape.2);
        let local_size = p.local_crop_size.map(|s| s as i64).unwrap_or_else(|| ((side * 4 / 7) / 4 * 4).max(4));
        let zero = || Tensor::zeros([], (Kind::Float, vs.device()));
        Ok(Box::new(Dino {
            norm,
            encoder,
            head: s_head,
            teacher,
            t_encoder,
            t_head,
            center: Tensor::zeros([1, p.out_dim as i64], (Kind::Float, vs.device())),
            batch_center: None,
            local_size,
            diag: Diagnostics { entropy: zero(), kl: zero(), spread: zero(), steps: 0 },
            p: p.clone(),
        }))
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
    diag: Diagnostics,
    p: DinoParams,
}

/// Sums over the epoch's steps of DINO's collapse diagnostics (paper, Fig. 7),
/// kept on the device and read once per epoch: the teacher's entropy / ln K
/// (→ 1 is collapse to uniform), KL(teacher ‖ student) (→ 0 with entropy → 0 is
/// collapse to one prototype), and the spread of the centred, sharpened teacher
/// logits (the standard deviation over the K prototypes, mean over images): it
/// falls towards 0 before the entropy reaches 1, so a run heading for the
/// uniform plateau shows it early.
struct Diagnostics {
    entropy: Tensor,
    kl: Tensor,
    spread: Tensor,
    steps: i64,
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

    /// The augmentation of view `i` (0, 1: the global views; 2: the local ones).
    fn view_augment(&self, i: usize) -> AugmentParams {
        AugmentParams { blur_p: self.p.view_blur[i], solarize_p: self.p.view_solarize[i], ..self.p.augment.clone() }
    }

    fn embedder(&self) -> &dyn Encoder {
        match self.p.embed_with {
            EmbedWith::Teacher => self.t_encoder.as_ref(),
            EmbedWith::Student => self.encoder.as_ref(),
        }
    }
}

impl Objective for Dino {
    fn loss(&mut self, x: &Tensor, _y: &Tensor, s: &StepInfo) -> crate::error::Result<Tensor> {
        let (h, w) = (x.size()[2], x.size()[3]);
        let scale = self.p.global_crop_scale;
        let globals =
            Tensor::cat(&[self.view_augment(0).view(x, (h, w), scale), self.view_augment(1).view(x, (h, w), scale)], 0);
        let student = |v: &Tensor| self.head.forward(&self.encoder.forward(&self.norm.apply(v), true));
        let mut s_out: Vec<Tensor> = student(&globals).chunk(2, 0);
        if self.p.local_crops > 0 {
            let a = self.view_augment(2);
            let locals: Vec<Tensor> = (0..self.p.local_crops)
                .map(|_| a.view(x, (self.local_size, self.local_size), self.p.local_crop_scale))
                .collect();
            s_out.extend(student(&Tensor::cat(&locals, 0)).chunk(self.p.local_crops as i64, 0));
        }
        let t_all = tch::no_grad(|| self.t_head.forward(&self.t_encoder.forward(&self.norm.apply(&globals), true)));
        self.batch_center = Some(t_all.mean_dim(0, true, Kind::Float));
        let t_out: Vec<Tensor> = t_all.chunk(2, 0);
        let temp = self.teacher_temp(s);
        let loss = losses::dino(&s_out, &t_out, &self.center, self.p.student_temp, temp);
        tch::no_grad(|| {
            // Every pair's cross-entropy is H(teacher) + KL(teacher ‖ student), and each
            // teacher view appears in the same number of pairs, so the mean KL is the
            // loss minus the teacher views' mean entropy.
            let h = losses::mean_entropy(&t_out, &self.center, temp);
            let spread = ((&t_all - &self.center) / temp).std_dim(1, false, false).mean(Kind::Float);
            let d = &mut self.diag;
            let _ = d.entropy.g_add_(&(&h / (self.p.out_dim as f64).ln()));
            let _ = d.kl.g_add_(&(loss.detach() - h));
            let _ = d.spread.g_add_(&spread);
            d.steps += 1;
        });
        Ok(loss)
    }
    fn epoch_diagnostics(&mut self) -> BTreeMap<String, f64> {
        let d = &mut self.diag;
        let n = d.steps.max(1) as f64;
        let out = BTreeMap::from([
            ("teacher_entropy".to_string(), d.entropy.double_value(&[]) / n),
            ("teacher_student_kl".to_string(), d.kl.double_value(&[]) / n),
            ("teacher_logit_spread".to_string(), d.spread.double_value(&[]) / n),
        ]);
        for t in [&mut d.entropy, &mut d.kl, &mut d.spread] {
            let _ = t.zero_();
        }
        d.steps = 0;
        out
    }
    fn frozen_params(&self, s: &StepInfo) -> Vec<Tensor> {
        if s.epoch < self.p.freeze_last_layer_epochs {
            self.head.last_layer().map(Tensor::shallow_clone).collect()
        } else {
            Vec::new()
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
    /// The teacher's backbone by default (DINO's choice), or the student's.
    fn embed(&self, x: &Tensor) -> Tensor {
        self.embedder().forward(&self.norm.apply(x), false)
    }
    fn embed_blocks(&self, x: &Tensor) -> Vec<Tensor> {
        self.embedder().blocks(&self.norm.apply(x), false)
    }
    fn normalizer(&mut self) -> &mut Normalizer {
        &mut self.norm
    }
    fn cls_attention(&self, x: &Tensor) -> Option<Tensor> {
        self.embedder().as_vit().map(|v| v.last_cls_attention(&self.norm.apply(x)))
    }
}
