//! Linear centred kernel alignment (Kornblith et al., 2019) between two sets of
//! features of the same inputs, from the Hilbert–Schmidt independence
//! criterion of their linear kernels K = XXᵀ, L = YYᵀ:
//!
//!   CKA(X, Y) = HSIC(K, L) / √(HSIC(K, K) · HSIC(L, L)).
//!
//! The default estimator is the *debiased* one (the unbiased HSIC of Song et
//! al., 2012; CKA's debiased form in Kornblith et al.): the biased estimator
//! ‖Ycᵀ Xc‖²_F / (‖Xcᵀ Xc‖_F ‖Ycᵀ Yc‖_F) gives independent isotropic features
//! of width d a CKA near d / (n + d) (0.44 for d = 784 at n = 1,000), so a
//! number like 0.5 said nothing at the sizes repbench runs; the debiased
//! estimator gives them ≈ 0. With zero-diagonal kernels K̃, L̃ and 1 the ones vector:
//!
//!   HSIC_u ∝ tr(K̃L̃) + (1ᵀK̃1)(1ᵀL̃1) / ((n−1)(n−2)) − 2 (K̃1)ᵀ(L̃1) / (n−2),
//!
//! which for column-centred features equals ‖XᵀY‖²_F − n/(n−2)·rₓᵀr_y +
//! sₓs_y / ((n−1)(n−2)) with rₓ the rows' squared norms and sₓ their sum (the
//! cheap form when there are more samples than features). The debiased value
//! can fall slightly below 0; it is not clipped. `estimator: biased` keeps the
//! old number. The interval is a half-sample subsampling bootstrap over the
//! test images: resampling *with* replacement would pair a duplicated image
//! with itself, an off-diagonal term the unbiased estimator counts as two
//! images and which inflates CKA by about d/n — so each resample draws half
//! the images without replacement, and the spread of √m(θ*ₘ − θ̂) is scaled to n.
//!
//! `similarity` is the evaluation that compares every pair of representations of
//! a suite on the same test images (it runs after all of them are embedded).
use super::{EvalContext, EvalOutput, Evaluation, FigureKind, Headline, Input, Scope};
use crate::checks::{Checker, Validate};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

/// Which HSIC estimator CKA uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CkaEstimator {
    /// Unbiased HSIC: ≈ 0 for independent features at any n and width.
    #[default]
    Debiased,
    /// The plug-in estimator of Kornblith et al.'s first definition.
    Biased,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SimilarityParams {
    /// Test images used (the first `samples` of the test split; all when larger).
    pub samples: usize,
    pub estimator: CkaEstimator,
    /// Half-sample resamples behind each pair's 95 % interval (0: none;
    /// debiased estimator only).
    pub bootstrap: usize,
}

impl Default for SimilarityParams {
    fn default() -> Self {
        SimilarityParams { samples: 5000, estimator: CkaEstimator::Debiased, bootstrap: 200 }
    }
}

impl Validate for SimilarityParams {
    fn validate(&self, path: &str, c: &mut Checker) {
        c.positive(&format!("{path}.samples"), self.samples);
        if self.samples < 4 {
            c.push(&format!("{path}.samples"), "the debiased estimator needs at least 4 images");
        }
    }
}

/// Version of this evaluation's arithmetic; bump it when what it computes
/// changes (it enters the evaluation's key, see `Evaluation::version`).
pub const VERSION: u32 = 2;

impl Evaluation for SimilarityParams {
    fn version(&self) -> u32 {
        VERSION
    }
    fn scope(&self) -> Scope {
        Scope::Cross
    }
    /// CKA between every pair of representations on the first `samples` test
    /// images; one metric `cka:<a>:<b>` per ordered pair, the intervals in the details.
    fn evaluate(&self, input: &Input, ctx: &EvalContext) -> Result<EvalOutput> {
        let reps = input.cross()?;
        let n = reps.iter().map(|(_, x)| x.size()[0]).min().unwrap_or(0).min(self.samples as i64);
        let feats: Vec<Tensor> = reps.iter().map(|(_, x)| x.narrow(0, 0, n).to_device(ctx.device)).collect();
        let m = cka_matrix_with(&feats, self.estimator)?;
        // Intervals for the debiased estimator only (the plug-in's bias
        // changes with the sample size, so half-samples would not estimate its spread).
        let ci = if self.bootstrap > 0 && n >= 8 && self.estimator == CkaEstimator::Debiased {
            Some(subsample_intervals(&feats, &m, self.bootstrap, ctx.seed)?)
        } else {
            None
        };
        let names: Vec<&str> = reps.iter().map(|(name, _)| name.as_str()).collect();
        let mut metrics = Vec::new();
        for (i, a) in names.iter().enumerate() {
            for (j, b) in names.iter().enumerate() {
                metrics.push((format!("cka:{a}:{b}"), m[i][j]));
            }
        }
        let details = serde_json::json!({
            "representations": names,
            "cka": m,
            "cka_ci95": ci,
            "samples": n,
            "estimator": self.estimator,
            "bootstrap": self.bootstrap,
        });
        Ok(EvalOutput { metrics, details })
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

fn sum64(t: &Tensor) -> f64 {
    t.to_kind(Kind::Double).sum(Kind::Double).double_value(&[])
}

/// What the HSIC estimators need of one column-centred feature matrix: the
/// rows' squared norms and their sum.
struct Side {
    x: Tensor,
    rows: Tensor,
    total: f64,
}

impl Side {
    fn of(x: &Tensor) -> Side {
        let x = centred(x);
        let rows = x.square().sum_dim_intlist(1, false, Kind::Double);
        let total = rows.sum(Kind::Double).double_value(&[]);
        Side { x, rows, total }
    }
}

/// ‖AᵀB‖²_F = tr(KL) for centred A [N, p], B [N, q], in whichever form is cheaper.
fn trace_kl(a: &Tensor, b: &Tensor) -> f64 {
    let (n, p, q) = (a.size()[0], a.size()[1], b.size()[1]);
    if n < p.max(q) {
        sum64(&(a.matmul(&a.tr()) * b.matmul(&b.tr())))
    } else {
        sum64(&a.tr().matmul(b).square())
    }
}

/// HSIC of two centred sides (up to a factor that cancels in CKA).
fn hsic(a: &Side, b: &Side, estimator: CkaEstimator) -> f64 {
    let t = trace_kl(&a.x, &b.x);
    match estimator {
        CkaEstimator::Biased => t,
        CkaEstimator::Debiased => {
            let n = a.x.size()[0] as f64;
            let rr = sum64(&(&a.rows * &b.rows));
            t - n / (n - 2.0) * rr + a.total * b.total / ((n - 1.0) * (n - 2.0))
        }
    }
}

/// CKA from the three HSICs; a constant representation (no variance) gets 0.
fn ratio(xy: f64, xx: f64, yy: f64, estimator: CkaEstimator) -> f64 {
    let denom = (xx * yy).sqrt();
    if denom <= 0.0 || !denom.is_finite() {
        return 0.0;
    }
    match estimator {
        CkaEstimator::Biased => (xy / denom).clamp(0.0, 1.0),
        CkaEstimator::Debiased => xy / denom,
    }
}

fn check_rows(x: &Tensor, y: &Tensor, estimator: CkaEstimator) -> Result<()> {
    let (nx, ny) = (x.size()[0], y.size()[0]);
    if nx != ny {
        return Err(Error::stage(format!("CKA needs the same inputs: {nx} vs {ny} rows")));
    }
    let least = if estimator == CkaEstimator::Debiased { 4 } else { 2 };
    if nx < least {
        return Err(Error::stage(format!("CKA ({estimator:?}) needs at least {least} samples, got {nx}")));
    }
    Ok(())
}

/// CKA between X [N, p] and Y [N, q] (rows are the same inputs).
pub fn cka(x: &Tensor, y: &Tensor, estimator: CkaEstimator) -> Result<f64> {
    check_rows(x, y, estimator)?;
    let (a, b) = (Side::of(x), Side::of(y));
    let (xy, xx, yy) = tch::no_grad(|| (hsic(&a, &b, estimator), hsic(&a, &a, estimator), hsic(&b, &b, estimator)));
    Ok(ratio(xy, xx, yy, estimator))
}

/// Debiased CKA between X and Y.
pub fn linear_cka(x: &Tensor, y: &Tensor) -> Result<f64> {
    cka(x, y, CkaEstimator::Debiased)
}

/// Debiased CKA between every pair of `feats` (symmetric, ones on the diagonal).
pub fn cka_matrix(feats: &[Tensor]) -> Result<Vec<Vec<f64>>> {
    cka_matrix_with(feats, CkaEstimator::Debiased)
}

/// CKA between every pair of `feats` (symmetric, ones on the diagonal).
pub fn cka_matrix_with(feats: &[Tensor], estimator: CkaEstimator) -> Result<Vec<Vec<f64>>> {
    let k = feats.len();
    for f in feats {
        check_rows(&feats[0], f, estimator)?;
    }
    let sides: Vec<Side> = tch::no_grad(|| feats.iter().map(Side::of).collect());
    let self_h: Vec<f64> = tch::no_grad(|| sides.iter().map(|a| hsic(a, a, estimator)).collect());
    let mut m = vec![vec![1.0; k]; k];
    for i in 0..k {
        for j in (i + 1)..k {
            let v = ratio(tch::no_grad(|| hsic(&sides[i], &sides[j], estimator)), self_h[i], self_h[j], estimator);
            m[i][j] = v;
            m[j][i] = v;
        }
    }
    Ok(m)
}

/// One representation's Gram matrix reduced to what a half-sample needs.
struct GramSide {
    /// K̃ restricted to the half-sample (zero diagonal).
    k: Tensor,
    /// K̃1 over the half-sample.
    row: Tensor,
    total: f64,
}

impl GramSide {
    fn of(gram: &Tensor, idx: &Tensor) -> GramSide {
        let k = gram.index_select(0, idx).index_select(1, idx);
        let k = &k - k.diagonal(0, 0, 1).diag_embed(0, 0, 1);
        let row = k.sum_dim_intlist(1, false, Kind::Double);
        let total = row.sum(Kind::Double).double_value(&[]);
        GramSide { k, row, total }
    }

    /// The unbiased HSIC (Song et al.'s Gram form, without its 1/(n(n−3)) factor).
    fn hsic(&self, other: &GramSide) -> f64 {
        let n = self.k.size()[0] as f64;
        let t = sum64(&(&self.k * &other.k));
        let kl1 = sum64(&(&self.row * &other.row));
        t + self.total * other.total / ((n - 1.0) * (n - 2.0)) - 2.0 / (n - 2.0) * kl1
    }
}

/// Per pair (i, j) of representations, a 95 % interval (None on the diagonal).
type PairIntervals = Vec<Vec<Option<(f64, f64)>>>;

/// 95 % half-sample subsampling intervals of every pair's debiased CKA (`[lo, hi]`,
/// None on the diagonal): `resamples` draws of ⌊n/2⌋ images without
/// replacement, seeded; the quantiles of θ*ₘ − θ̂ scaled by √(m/n).
fn subsample_intervals(feats: &[Tensor], point: &[Vec<f64>], resamples: usize, seed: u64) -> Result<PairIntervals> {
    use rand::seq::SliceRandom;
    let k = feats.len();
    let n = feats[0].size()[0] as usize;
    let m = n / 2;
    let grams: Vec<Tensor> = tch::no_grad(|| {
        feats
            .iter()
            .map(|x| {
                let x = centred(&x.to_device(tch::Device::Cpu));
                x.matmul(&x.tr())
            })
            .collect()
    });
    let mut rng = crate::runtime::seeding::rng(seed, "cka/half_samples");
    let mut draws: Vec<Vec<Vec<f64>>> = vec![vec![Vec::with_capacity(resamples); k]; k];
    let mut order: Vec<i64> = (0..n as i64).collect();
    for _ in 0..resamples {
        order.shuffle(&mut rng);
        let idx = Tensor::from_slice(&order[..m]);
        let sides: Vec<GramSide> = tch::no_grad(|| grams.iter().map(|g| GramSide::of(g, &idx)).collect());
        let self_h: Vec<f64> = sides.iter().map(|s| s.hsic(s)).collect();
        for i in 0..k {
            for j in (i + 1)..k {
                let v = ratio(sides[i].hsic(&sides[j]), self_h[i], self_h[j], CkaEstimator::Debiased);
                draws[i][j].push(v);
            }
        }
    }
    let scale = (m as f64 / n as f64).sqrt();
    let mut out = vec![vec![None; k]; k];
    for i in 0..k {
        for j in (i + 1)..k {
            let d = &mut draws[i][j];
            d.sort_by(f64::total_cmp);
            let q = |p: f64| d[((p * (d.len() - 1) as f64).round() as usize).min(d.len() - 1)];
            let theta = point[i][j];
            let ci = (theta - scale * (q(0.975) - theta), theta - scale * (q(0.025) - theta));
            out[i][j] = Some(ci);
            out[j][i] = Some(ci);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn randn(n: i64, d: i64, seed: u64) -> Tensor {
        crate::runtime::seeding::randn(&[n, d], seed)
    }

    /// The arrays of tests/reference/cka.py, built by the same formula.
    fn reference_arrays(n: usize, p: usize, q: usize) -> (Tensor, Tensor) {
        let mut x = vec![0.0f64; n * p];
        let mut y = vec![0.0f64; n * q];
        for i in 0..n {
            let fi = i as f64;
            for j in 0..p {
                x[i * p + j] = (0.37 * fi * (j as f64 + 1.0) + 0.1).sin() + 0.05 * fi / n as f64;
            }
            for j in 0..q {
                y[i * q + j] = (0.23 * fi * (j as f64 + 2.0)).cos() + x[i * p].tanh() * (j % 3) as f64;
            }
        }
        let t = |v: Vec<f64>, d: usize| Tensor::from_slice(&v).view([n as i64, d as i64]).to_kind(Kind::Float);
        (t(x, p), t(y, q))
    }

    #[test]
    fn debiased_and_biased_match_the_numpy_reference() {
        // tests/reference/cka.py (NumPy, Song et al.'s Gram form): (n, p, q) → (debiased, biased).
        let cases = [
            ((40, 6, 9), 0.3611774768696078, 0.42315518785817163),
            ((25, 50, 30), 0.24152007621273536, 0.4082790574869134),
        ];
        for ((n, p, q), debiased, biased) in cases {
            let (x, y) = reference_arrays(n, p, q);
            let d = cka(&x, &y, CkaEstimator::Debiased).unwrap();
            let b = cka(&x, &y, CkaEstimator::Biased).unwrap();
            assert!((d - debiased).abs() < 1e-5, "({n}, {p}, {q}) debiased {d} vs {debiased}");
            assert!((b - biased).abs() < 1e-5, "({n}, {p}, {q}) biased {b} vs {biased}");
            // The half-sample intervals' Gram form gives the same point on all rows.
            let idx = Tensor::arange(n as i64, (Kind::Int64, tch::Device::Cpu));
            let g = |t: &Tensor| {
                let c = centred(t);
                GramSide::of(&c.matmul(&c.tr()), &idx)
            };
            let (gx, gy) = (g(&x), g(&y));
            let via_gram = ratio(gx.hsic(&gy), gx.hsic(&gx), gy.hsic(&gy), CkaEstimator::Debiased);
            assert!((via_gram - debiased).abs() < 1e-5, "{via_gram} vs {debiased}");
        }
    }

    #[test]
    fn independent_wide_features_are_near_zero_only_debiased() {
        // The sizes of the committed CKA runs: n = 1,000 images, 784 features.
        let x = randn(1000, 784, 11);
        let y = randn(1000, 784, 12);
        let d = cka(&x, &y, CkaEstimator::Debiased).unwrap();
        let b = cka(&x, &y, CkaEstimator::Biased).unwrap();
        assert!(d.abs() < 0.01, "debiased CKA of independent features: {d}");
        assert!(b > 0.4, "the biased estimator's floor at this width: {b}");
        // The interval of independent features covers 0; that of a feature set
        // and its own noisy copy lies well above it.
        let noisy = &x + randn(1000, 784, 13) * 0.5;
        let feats = [x.narrow(0, 0, 400), y.narrow(0, 0, 400), noisy.narrow(0, 0, 400)];
        let m = cka_matrix(&feats).unwrap();
        let ci = subsample_intervals(&feats, &m, 100, 7).unwrap();
        let (lo, hi) = ci[0][1].unwrap();
        assert!(lo < 0.0 && 0.0 < hi, "[{lo}, {hi}] around {}", m[0][1]);
        let (lo, hi) = ci[0][2].unwrap();
        assert!(lo > 0.5 && lo <= m[0][2] && m[0][2] <= hi, "[{lo}, {hi}] around {}", m[0][2]);
        assert_eq!(ci[0][2], ci[2][0]);
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
        assert!(v.abs() < 0.05, "independent noise should have CKA near 0, got {v}");
        // Fewer samples than features: the Gram form is used; it must agree with
        // the feature-space form computed on the same data.
        let a = randn(40, 100, 5);
        let b = (&a.narrow(1, 0, 50) * 2.0).to_kind(Kind::Float);
        let g = cka(&a, &b, CkaEstimator::Biased).unwrap();
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
