//! Linear centred kernel alignment (Kornblith et al., 2019) between two sets of
//! features of the same inputs:
//!
//!   CKA(X, Y) = ‖Ycᵀ Xc‖²_F / (‖Xcᵀ Xc‖_F · ‖Ycᵀ Yc‖_F),  Xc, Yc column-centred.
//!
//! It is 1 for identical representations, invariant to orthogonal transforms and
//! isotropic scaling, and (unlike raw correlation) comparable across widths.
//! With more samples than features the D×D form is the cheap one; with fewer
//! samples the N×N Gram form is — both give the same number.
//!
//! `similarity` is the evaluation that compares every pair of representations of
//! a suite on the same test images (it runs after all of them are embedded).
use super::{EvalContext, EvalOutput, Evaluation, FigureKind, Headline, Input, Scope};
use crate::checks::{Checker, Validate};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SimilarityParams {
    /// Test images used (the first `samples` of the test split; all when larger).
    pub samples: usize,
}

impl Default for SimilarityParams {
    fn default() -> Self {
        SimilarityParams { samples: 5000 }
    }
}

impl Validate for SimilarityParams {
    fn validate(&self, path: &str, c: &mut Checker) {
        c.positive(&format!("{path}.samples"), self.samples);
    }
}

/// Version of this evaluation's arithmetic; bump it when what it computes
/// changes (it enters the evaluation's key, see `Evaluation::version`).
pub const VERSION: u32 = 1;

impl Evaluation for SimilarityParams {
    fn version(&self) -> u32 {
        VERSION
    }
    fn scope(&self) -> Scope {
        Scope::Cross
    }
    /// Linear CKA between every pair of representations on the first `samples`
    /// test images; one metric `cka:<a>:<b>` per ordered pair.
    fn evaluate(&self, input: &Input, ctx: &EvalContext) -> Result<EvalOutput> {
        let reps = input.cross()?;
        let n = reps.iter().map(|(_, x)| x.size()[0]).min().unwrap_or(0).min(self.samples as i64);
        let feats: Vec<Tensor> = reps.iter().map(|(_, x)| x.narrow(0, 0, n).to_device(ctx.device)).collect();
        let m = cka_matrix(&feats)?;
        let names: Vec<&str> = reps.iter().map(|(name, _)| name.as_str()).collect();
        let mut metrics = Vec::new();
        for (i, a) in names.iter().enumerate() {
            for (j, b) in names.iter().enumerate() {
                metrics.push((format!("cka:{a}:{b}"), m[i][j]));
            }
        }
        Ok(EvalOutput { metrics, details: serde_json::json!({ "representations": names, "cka": m, "samples": n }) })
    }
    fn headline(&self) -> Headline {
        Headline::descriptive("cka")
    }
    fn figures(&self) -> &'static [FigureKind] {
        &[FigureKind::CkaMatrix]
    }
}

fn centred(x: &Tensor) -> Tensor {
    let x = x.to_kind(Kind::Float);
    &x - x.mean_dim(0, true, Kind::Float)
}

/// ‖AᵀB‖²_F for column-centred A [N, p], B [N, q], in whichever form is cheaper.
fn hsic(a: &Tensor, b: &Tensor) -> f64 {
    let (n, p, q) = (a.size()[0], a.size()[1], b.size()[1]);
    let v = if n < p.max(q) {
        // Gram form: <A Aᵀ, B Bᵀ>_F.
        (a.matmul(&a.tr()) * b.matmul(&b.tr())).to_kind(Kind::Double).sum(Kind::Double)
    } else {
        a.tr().matmul(b).to_kind(Kind::Double).square().sum(Kind::Double)
    };
    v.double_value(&[])
}

/// Linear CKA between X [N, p] and Y [N, q] (rows are the same inputs).
pub fn linear_cka(x: &Tensor, y: &Tensor) -> Result<f64> {
    let (nx, ny) = (x.size()[0], y.size()[0]);
    if nx != ny {
        return Err(Error::stage(format!("CKA needs the same inputs: {nx} vs {ny} rows")));
    }
    if nx < 2 {
        return Err(Error::stage("CKA needs at least 2 samples"));
    }
    let (a, b) = (centred(x), centred(y));
    let (xy, xx, yy) = tch::no_grad(|| (hsic(&a, &b), hsic(&a, &a), hsic(&b, &b)));
    let denom = (xx * yy).sqrt();
    if denom <= 0.0 || !denom.is_finite() {
        // A constant representation has no variance to align with anything.
        return Ok(0.0);
    }
    Ok((xy / denom).clamp(0.0, 1.0))
}

/// CKA between every pair of `feats` (symmetric, ones on the diagonal).
pub fn cka_matrix(feats: &[Tensor]) -> Result<Vec<Vec<f64>>> {
    let n = feats.len();
    let centred: Vec<Tensor> = feats.iter().map(centred).collect();
    let self_h: Vec<f64> = tch::no_grad(|| centred.iter().map(|a| hsic(a, a)).collect());
    let mut m = vec![vec![1.0; n]; n];
    for i in 0..n {
        for j in (i + 1)..n {
            if feats[i].size()[0] != feats[j].size()[0] {
                return Err(Error::stage("CKA needs the same inputs for every representation"));
            }
            let d = (self_h[i] * self_h[j]).sqrt();
            let v = if d > 0.0 { (tch::no_grad(|| hsic(&centred[i], &centred[j])) / d).clamp(0.0, 1.0) } else { 0.0 };
            m[i][j] = v;
            m[j][i] = v;
        }
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn randn(n: i64, d: i64, seed: u64) -> Tensor {
        crate::runtime::seeding::randn(&[n, d], seed)
    }

    #[test]
    fn identical_is_one_and_invariances_hold() {
        let x = randn(200, 30, 1);
        assert!((linear_cka(&x, &x).unwrap() - 1.0).abs() < 1e-5);
        // Orthogonal transform (Q from a QR decomposition) and isotropic scaling.
        let (q, _) = Tensor::linalg_qr(&randn(30, 30, 2), "reduced");
        let y = x.matmul(&q) * 3.7;
        assert!((linear_cka(&x, &y).unwrap() - 1.0).abs() < 1e-4);
        // Adding a constant (translation) changes nothing either.
        assert!((linear_cka(&x, &(&x + 5.0)).unwrap() - 1.0).abs() < 1e-4);
    }

    #[test]
    fn independent_features_are_far_apart_and_gram_form_agrees() {
        let x = randn(500, 20, 3);
        let y = randn(500, 20, 4);
        let v = linear_cka(&x, &y).unwrap();
        assert!(v < 0.15, "independent noise should have low CKA, got {v}");
        // Fewer samples than features: the Gram form is used; it must agree with
        // the feature-space form computed on the same data.
        let a = randn(40, 100, 5);
        let b = (&a.narrow(1, 0, 50) * 2.0).to_kind(Kind::Float);
        let g = linear_cka(&a, &b).unwrap();
        let (ac, bc) = (centred(&a), centred(&b));
        let direct = ac.tr().matmul(&bc).square().sum(Kind::Double).double_value(&[])
            / (ac.tr().matmul(&ac).square().sum(Kind::Double).double_value(&[])
                * bc.tr().matmul(&bc).square().sum(Kind::Double).double_value(&[]))
            .sqrt();
        assert!((g - direct).abs() < 1e-4, "{g} vs {direct}");
        let m = cka_matrix(&[x.shallow_clone(), y, x]).unwrap();
        assert!((m[0][2] - 1.0).abs() < 1e-5 && (m[0][1] - m[1][0]).abs() < 1e-12);
    }
}
