//! The self-supervised losses as pure functions of network outputs, so they can be
//! checked against reference values (tests/reference/losses.py computes them with
//! the PyTorch reference formulations, written in numpy).
use tch::{Kind, Tensor};

/// SimCLR's NT-Xent: for 2B projections, each view's positive is the other view of
/// the same image; the negatives are the other 2B − 2. Cosine similarities / τ.
pub fn nt_xent(z1: &Tensor, z2: &Tensor, temperature: f64) -> Tensor {
    let b = z1.size()[0];
    let z = Tensor::cat(&[z1, z2], 0);
    let z = &z / z.norm_scalaropt_dim(2, [1], true).clamp_min(1e-12);
    let sim = z.matmul(&z.transpose(0, 1)) / temperature;
    let eye = Tensor::eye(2 * b, (Kind::Bool, z.device()));
    let sim = sim.masked_fill(&eye, f64::NEG_INFINITY);
    let idx = Tensor::arange(2 * b, (Kind::Int64, z.device()));
    let targets = (idx + b).remainder(2 * b);
    sim.cross_entropy_for_logits(&targets)
}

/// BYOL's normalized MSE, 2 − 2·cos(p, z), with z a stop-gradient target; mean over the batch.
pub fn byol(p: &Tensor, z: &Tensor) -> Tensor {
    let cos = Tensor::cosine_similarity(p, &z.detach(), 1, 1e-8);
    let l: Tensor = cos * -2.0 + 2.0;
    l.mean(Kind::Float)
}

/// VICReg terms (invariance, variance, covariance) for two batches of embeddings.
pub fn vicreg_terms(x: &Tensor, y: &Tensor) -> (Tensor, Tensor, Tensor) {
    let (n, d) = (x.size()[0] as f64, x.size()[1]);
    let inv = x.mse_loss(y, tch::Reduction::Mean);
    let x = x - x.mean_dim(0, true, Kind::Float);
    let y = y - y.mean_dim(0, true, Kind::Float);
    let std = |t: &Tensor| (t.var_dim(0, true, false) + 1e-4).sqrt();
    let hinge = |t: &Tensor| -> Tensor { (std(t).neg() + 1.0).relu().mean(Kind::Float) / 2.0 };
    let var = hinge(&x) + hinge(&y);
    let off = |t: &Tensor| {
        let cov = t.transpose(0, 1).matmul(t) / (n - 1.0);
        let diag = cov.diagonal(0, 0, 1);
        (cov.square().sum(Kind::Float) - diag.square().sum(Kind::Float)) / d as f64
    };
    let cov = off(&x) + off(&y);
    (inv, var, cov)
}

/// VICReg loss λ·inv + μ·var + ν·cov.
pub fn vicreg(x: &Tensor, y: &Tensor, lambda: f64, mu: f64, nu: f64) -> Tensor {
    let (i, v, c) = vicreg_terms(x, y);
    i * lambda + v * mu + c * nu
}

/// DINO's loss: cross-entropy between the teacher's centred, sharpened softmax on
/// each global crop and the student's softmax on every other crop.
/// `student`: one [B, K] per crop (globals first); `teacher`: one per global crop.
pub fn dino(student: &[Tensor], teacher: &[Tensor], center: &Tensor, student_temp: f64, teacher_temp: f64) -> Tensor {
    let q: Vec<Tensor> =
        teacher.iter().map(|t| ((t - center) / teacher_temp).softmax(-1, Kind::Float).detach()).collect();
    let logp: Vec<Tensor> = student.iter().map(|s| (s / student_temp).log_softmax(-1, Kind::Float)).collect();
    let mut total = Tensor::zeros([], (Kind::Float, center.device()));
    let mut terms = 0;
    for (iq, qv) in q.iter().enumerate() {
        for (iv, lp) in logp.iter().enumerate() {
            if iv == iq {
                continue;
            }
            total = &total + (-(qv * lp).sum_dim_intlist([-1i64].as_slice(), false, Kind::Float)).mean(Kind::Float);
            terms += 1;
        }
    }
    total / terms.max(1) as f64
}

/// Mean entropy (nats) of the teacher's centred, sharpened distributions, over
/// views and images — what the DINO loss's targets look like.
pub fn mean_entropy(teacher: &[Tensor], center: &Tensor, teacher_temp: f64) -> Tensor {
    let hs: Vec<Tensor> = teacher
        .iter()
        .map(|t| {
            let logq = ((t - center) / teacher_temp).log_softmax(-1, Kind::Float);
            (-(logq.exp() * &logq).sum_dim_intlist([-1i64].as_slice(), false, Kind::Float)).mean(Kind::Float)
        })
        .collect();
    Tensor::stack(&hs, 0).mean(Kind::Float)
}

#[cfg(test)]
mod tests {
    //! Reference values from tests/reference/losses.py (numpy transcriptions of the
    //! PyTorch reference implementations), on the inputs defined there.
    use super::*;

    fn t(v: &[f32], r: i64, c: i64) -> Tensor {
        Tensor::from_slice(v).view([r, c])
    }
    fn z1() -> Tensor {
        t(&[1.0, 0.0, 0.5, 0.2, 1.0, -0.3, -0.4, 0.1, 0.9], 3, 3)
    }
    fn z2() -> Tensor {
        t(&[0.9, 0.1, 0.4, 0.3, 0.8, -0.2, -0.5, 0.2, 1.0], 3, 3)
    }
    fn close(a: &Tensor, b: f64) {
        let a = a.double_value(&[]);
        assert!((a - b).abs() < 1e-5, "{a} vs {b}");
    }

    #[test]
    fn nt_xent_matches_reference() {
        close(&nt_xent(&z1(), &z2(), 0.5), 0.450_994_39);
        close(&nt_xent(&z1(), &z2(), 0.1), 0.000_683_50);
    }

    #[test]
    fn byol_matches_reference() {
        close(&byol(&z1(), &z2()), 0.015_825_31);
        // Identical directions give 0.
        close(&byol(&z1(), &(z1() * 3.0)), 0.0);
    }

    #[test]
    fn vicreg_matches_reference() {
        let (i, v, c) = vicreg_terms(&z1(), &z2());
        close(&i, 0.013_333_33);
        close(&v, 0.409_059_13);
        close(&c, 0.133_362_96);
        close(&vicreg(&z1(), &z2(), 25.0, 25.0, 1.0), 10.693_175);
    }

    #[test]
    fn dino_matches_reference() {
        let center = Tensor::from_slice(&[0.1f32, -0.1, 0.0]);
        let s = [z1(), z2(), z1() * 0.5];
        let tt = [z2(), z1()];
        close(&dino(&s, &tt, &center, 0.1, 0.04), 0.022_580_14);
    }

    #[test]
    fn teacher_entropy_hand_cases() {
        // Uniform teacher: ln K. Logits [0, ln 3] at temperature 1: q = [1/4, 3/4].
        let k = 7;
        let flat = Tensor::zeros([4, k], (Kind::Float, tch::Device::Cpu));
        close(
            &mean_entropy(&[flat.shallow_clone(), flat], &Tensor::zeros([1, k], (Kind::Float, tch::Device::Cpu)), 0.04),
            (k as f64).ln(),
        );
        let two = t(&[0.0, 3f32.ln(), 0.0, 3f32.ln()], 2, 2);
        let h = -(0.25f64 * 0.25f64.ln() + 0.75 * 0.75f64.ln());
        close(&mean_entropy(&[two], &Tensor::zeros([1, 2], (Kind::Float, tch::Device::Cpu)), 1.0), h);
        // A centre equal to the logits makes any teacher uniform: the collapse centring can cause.
        let z = z1();
        close(&mean_entropy(&[z.shallow_clone()], &z, 0.04), 3f64.ln());
    }
}
