//! Small networks shared by the methods: projection / prediction MLPs, and the
//! EMA update of a teacher from its student.
use std::collections::HashMap;
use tch::nn::{self, Module, ModuleT};
use tch::{Kind, Tensor};

/// Variables by name (shallow clones share storage with the var store).
pub type Vars = HashMap<String, Tensor>;

/// A frozen copy of `online`'s variables under the same names, built by `build`.
pub fn frozen_copy(online: &nn::VarStore, build: impl FnOnce(&nn::Path)) -> crate::error::Result<nn::VarStore> {
    let mut t = nn::VarStore::new(online.device());
    build(&t.root());
    t.copy(online)?;
    t.freeze();
    Ok(t)
}

/// Linear → BatchNorm → ReLU for every layer but the last, which is Linear only
/// (optionally followed by a BatchNorm without affine, as SimCLR v2 / VICReg do not;
/// we keep the plain form of SimCLR and BYOL).
pub struct Mlp {
    layers: Vec<(nn::Linear, Option<nn::BatchNorm>)>,
}

impl Mlp {
    /// `dims` = [input, hidden..., output].
    pub fn new(p: &nn::Path, dims: &[i64]) -> Mlp {
        let n = dims.len() - 1;
        let layers = (0..n)
            .map(|i| {
                let q = p / format!("{i}");
                let last = i + 1 == n;
                (
                    nn::linear(&q / "fc", dims[i], dims[i + 1], nn::LinearConfig { bias: last, ..Default::default() }),
                    (!last).then(|| nn::batch_norm1d(&q / "bn", dims[i + 1], Default::default())),
                )
            })
            .collect();
        Mlp { layers }
    }

    pub fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        let mut h = x.shallow_clone();
        for (fc, bn) in &self.layers {
            h = fc.forward(&h);
            if let Some(bn) = bn {
                h = bn.forward_t(&h, train).relu();
            }
        }
        h
    }
}

/// An EMA copy of the online networks — BYOL's target, MoCo v3's momentum
/// encoder, DINO's teacher: its own frozen var store, the online variables it
/// follows (matched by name) and its momentum, which goes from `base` to `end`
/// (1 unless `ending_at` says otherwise) on a cosine schedule. Saved in
/// checkpoints and fitted states under `target/`.
pub struct EmaTeacher {
    pub vs: nn::VarStore,
    online: Vars,
    base_momentum: f64,
    end_momentum: f64,
}

impl EmaTeacher {
    /// Builds the teacher's networks with `build` (same names as the online
    /// ones), copies the online weights into them and freezes them; returns
    /// the teacher and what `build` returned.
    pub fn new<T>(
        online: &nn::VarStore,
        base_momentum: f64,
        build: impl FnOnce(&nn::Path) -> crate::error::Result<T>,
    ) -> crate::error::Result<(EmaTeacher, T)> {
        let mut built = None;
        let vs = frozen_copy(online, |t| built = Some(build(t)))?;
        let nets = built.ok_or_else(|| crate::error::Error::stage("EMA teacher: networks not built"))??;
        Ok((EmaTeacher { vs, online: online.variables(), base_momentum, end_momentum: 1.0 }, nets))
    }
    /// The momentum reached at the end of training (default 1). `end == base`
    /// keeps it constant, as lightly's CIFAR-10 benchmarks do (0.99).
    pub fn ending_at(mut self, end: f64) -> EmaTeacher {
        self.end_momentum = end;
        self
    }
    /// One EMA step at `progress` ∈ [0, 1] of training.
    pub fn update(&self, progress: f64) {
        ema_update(
            &self.vs.variables(),
            &self.online,
            cosine_momentum(self.base_momentum, self.end_momentum, progress),
        );
    }
    /// The teacher's variables, named `target/<name>`.
    pub fn state(&self) -> Vec<(String, Tensor)> {
        self.vs.variables().into_iter().map(|(k, v)| (format!("target/{k}"), v)).collect()
    }
    pub fn load(&self, get: &dyn Fn(&str) -> Option<Tensor>) -> crate::error::Result<()> {
        crate::train::checkpoint::load_vars(&self.vs, "target", get)
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
    pub fn new(
        p: &nn::Path,
        d_in: i64,
        hidden: i64,
        bottleneck: i64,
        out: i64,
        learn_norm: bool,
        bn: bool,
    ) -> DinoHead {
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
    pub fn last_layer(&self) -> impl Iterator<Item = &Tensor> {
        std::iter::once(&self.last_v).chain(self.last_g.as_ref())
    }
}

/// Batch normalisation without affine parameters, in training mode: each
/// feature standardized over the batch (biased variance, ε = 1e-5), as
/// PyTorch's `BatchNorm1d(affine=False)` computes it while training. The
/// projector outputs of SimSiam and MoCo v3 and Barlow Twins' cross-correlation
/// use it; nothing embeds through it, so no running statistics are kept.
pub fn batch_standardize(z: &Tensor) -> Tensor {
    let mean = z.mean_dim(0, true, Kind::Float);
    let var = z.var_dim(0, false, true);
    (z - mean) / (var + 1e-5).sqrt()
}

/// teacher ← m·teacher + (1 − m)·student, for every variable of the teacher
/// (parameters and batch-norm statistics), matched by name.
pub fn ema_update(teacher: &Vars, student: &Vars, m: f64) {
    tch::no_grad(|| {
        for (name, t) in teacher {
            let mut t = t.shallow_clone();
            if let Some(s) = student.get(name) {
                if t.is_floating_point() {
                    let _ = t.g_mul_scalar_(m);
                    let _ = t.g_add_(&(s * (1.0 - m)));
                } else {
                    t.copy_(s);
                }
            }
        }
    });
}

/// Cosine momentum schedule of BYOL / DINO: from `base` at the start to 1 at the end.
pub fn cosine_momentum(base: f64, end: f64, progress: f64) -> f64 {
    end - (end - base) * ((std::f64::consts::PI * progress).cos() + 1.0) / 2.0
}

/// Two fixed [6, 4] batches for the methods' loss tests; the same values are in
/// tests/reference/ssl_losses_torch.py, which computes the reference losses.
#[cfg(test)]
pub fn reference_inputs() -> (Tensor, Tensor) {
    let a: [f32; 24] = [
        0.9, -0.2, 0.4, 1.1, 0.3, 0.8, -0.5, 0.2, -0.7, 0.1, 0.6, -0.4, 1.2, 0.5, 0.0, -0.9, -0.3, -1.0, 0.7, 0.6, 0.5,
        0.2, -0.8, 0.3,
    ];
    let b: [f32; 24] = [
        1.0, -0.1, 0.3, 0.9, 0.2, 0.9, -0.4, 0.4, -0.6, 0.3, 0.5, -0.5, 1.0, 0.4, 0.2, -0.7, -0.2, -0.8, 0.9, 0.4, 0.6,
        0.0, -0.9, 0.1,
    ];
    (Tensor::from_slice(&a).view([6, 4]), Tensor::from_slice(&b).view([6, 4]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ema_moves_teacher_towards_student() {
        let s = nn::VarStore::new(tch::Device::Cpu);
        let _ = s.root().var("w", &[2], nn::Init::Const(1.0));
        let mut t = nn::VarStore::new(tch::Device::Cpu);
        let _ = t.root().var("w", &[2], nn::Init::Const(0.0));
        t.freeze();
        ema_update(&t.variables(), &s.variables(), 0.9);
        let w = t.variables()["w"].double_value(&[0]);
        assert!((w - 0.1).abs() < 1e-6, "{w}");
        ema_update(&t.variables(), &s.variables(), 0.9);
        let w = t.variables()["w"].double_value(&[0]);
        assert!((w - 0.19).abs() < 1e-6, "{w}");
    }

    #[test]
    fn momentum_schedule_endpoints() {
        assert!((cosine_momentum(0.996, 1.0, 0.0) - 0.996).abs() < 1e-12);
        assert!((cosine_momentum(0.996, 1.0, 1.0) - 1.0).abs() < 1e-12);
        assert!((cosine_momentum(0.99, 1.0, 0.5) - 0.995).abs() < 1e-12);
        // A constant schedule (lightly's CIFAR-10 DINO and BYOL: 0.99 throughout).
        for p in [0.0, 0.3, 1.0] {
            assert!((cosine_momentum(0.99, 0.99, p) - 0.99).abs() < 1e-12);
        }
        assert!((cosine_momentum(0.99, 0.995, 0.5) - 0.9925).abs() < 1e-12);
    }
}
