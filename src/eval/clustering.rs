//! Clustering: k-means on the test embeddings (k = number of classes unless set,
//! several seeded k-means++ restarts, the lowest inertia kept), scored against the
//! labels with NMI (arithmetic normalisation, scikit-learn's default) and ARI.
//! Features are L2-normalised first, the geometry the k-NN protocol uses too.
use super::{EvalContext, EvalOutput, Evaluation, Features, Headline, Input};
use crate::checks::{Checker, Validate};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusteringParams {
    /// Number of clusters (default: the number of classes).
    pub k: Option<usize>,
    pub restarts: usize,
    pub max_iter: usize,
}

impl Default for ClusteringParams {
    fn default() -> Self {
        ClusteringParams { k: None, restarts: 5, max_iter: 100 }
    }
}

impl Validate for ClusteringParams {
    fn validate(&self, path: &str, c: &mut Checker) {
        if let Some(k) = self.k {
            c.positive(&format!("{path}.k"), k);
        }
        c.positive(&format!("{path}.restarts"), self.restarts);
        c.positive(&format!("{path}.max_iter"), self.max_iter);
    }
}

/// Squared distances [N, K] between rows of x and centroids c.
fn sq_dist(x: &Tensor, c: &Tensor) -> Tensor {
    let xx = x.square().sum_dim_intlist([1i64].as_slice(), true, Kind::Float);
    let cc = c.square().sum_dim_intlist([1i64].as_slice(), false, Kind::Float).unsqueeze(0);
    (xx + cc - x.matmul(&c.transpose(0, 1)) * 2.0).clamp_min(0.0)
}

/// One k-means run from a k-means++ start; returns (assignments, inertia).
pub fn kmeans(x: &Tensor, k: i64, max_iter: usize) -> (Tensor, f64) {
    let n = x.size()[0];
    crate::runtime::seeding::check_seeded("k-means++");
    let first = Tensor::randint(n, [1], (Kind::Int64, x.device()));
    let mut centers = x.index_select(0, &first);
    for _ in 1..k {
        let d = sq_dist(x, &centers).min_dim(1, false).0;
        let total = d.sum(Kind::Float).double_value(&[]);
        let next =
            if total > 0.0 { d.multinomial(1, false) } else { Tensor::randint(n, [1], (Kind::Int64, x.device())) };
        centers = Tensor::cat(&[centers, x.index_select(0, &next)], 0);
    }
    let mut assign = sq_dist(x, &centers).argmin(1, false);
    for _ in 0..max_iter {
        let onehot = Tensor::zeros([n, k], (Kind::Float, x.device())).scatter_value(1, &assign.unsqueeze(1), 1.0);
        let counts = onehot.sum_dim_intlist([0i64].as_slice(), false, Kind::Float).unsqueeze(1);
        let sums = onehot.transpose(0, 1).matmul(x);
        // Empty clusters keep their previous centre.
        let empty = counts.eq(0.0);
        centers = (sums / counts.clamp_min(1.0)).where_self(&empty.logical_not(), &centers);
        let new_assign = sq_dist(x, &centers).argmin(1, false);
        let changed = new_assign.ne_tensor(&assign).sum(Kind::Int64).int64_value(&[]);
        assign = new_assign;
        if changed == 0 {
            break;
        }
    }
    let inertia = sq_dist(x, &centers).min_dim(1, false).0.sum(Kind::Double).double_value(&[]);
    (assign, inertia)
}

fn contingency(a: &[i64], b: &[i64]) -> Vec<Vec<f64>> {
    let ka = a.iter().max().map(|m| *m as usize + 1).unwrap_or(0);
    let kb = b.iter().max().map(|m| *m as usize + 1).unwrap_or(0);
    let mut t = vec![vec![0.0; kb]; ka];
    for (&x, &y) in a.iter().zip(b) {
        t[x as usize][y as usize] += 1.0;
    }
    t
}

fn entropy(counts: &[f64], n: f64) -> f64 {
    counts.iter().filter(|&&c| c > 0.0).map(|&c| -(c / n) * (c / n).ln()).sum()
}

/// Normalized mutual information, arithmetic mean of the entropies.
pub fn nmi(truth: &[i64], pred: &[i64]) -> f64 {
    let t = contingency(truth, pred);
    let n = truth.len() as f64;
    let rows: Vec<f64> = t.iter().map(|r| r.iter().sum()).collect();
    let cols: Vec<f64> = (0..t.first().map(|r| r.len()).unwrap_or(0)).map(|j| t.iter().map(|r| r[j]).sum()).collect();
    let mut mi = 0.0;
    for (i, r) in t.iter().enumerate() {
        for (j, &c) in r.iter().enumerate() {
            if c > 0.0 {
                mi += (c / n) * ((c * n) / (rows[i] * cols[j])).ln();
            }
        }
    }
    let (hu, hv) = (entropy(&rows, n), entropy(&cols, n));
    if hu == 0.0 && hv == 0.0 {
        return 1.0;
    }
    mi / ((hu + hv) / 2.0)
}

/// Adjusted Rand index.
pub fn ari(truth: &[i64], pred: &[i64]) -> f64 {
    let t = contingency(truth, pred);
    let c2 = |x: f64| x * (x - 1.0) / 2.0;
    let n = truth.len() as f64;
    let sum_ij: f64 = t.iter().flatten().map(|&c| c2(c)).sum();
    let rows: f64 = t.iter().map(|r| c2(r.iter().sum())).sum();
    let cols: f64 = (0..t.first().map(|r| r.len()).unwrap_or(0)).map(|j| c2(t.iter().map(|r| r[j]).sum())).sum();
    let expected = rows * cols / c2(n);
    let max = (rows + cols) / 2.0;
    if max == expected {
        return 1.0;
    }
    (sum_ij - expected) / (max - expected)
}

/// Version of this evaluation's arithmetic; bump it when what it computes
/// changes (it enters the evaluation's key, see `Evaluation::version`).
pub const VERSION: u32 = 2;

impl Evaluation for ClusteringParams {
    fn version(&self) -> u32 {
        VERSION
    }
    fn evaluate(&self, input: &Input, ctx: &EvalContext) -> Result<EvalOutput> {
        self.run(&input.features()?.to_device(ctx.device), ctx.seed)
    }
    fn headline(&self) -> Headline {
        Headline::ranked("nmi")
    }
}

impl ClusteringParams {
    pub fn run(&self, f: &Features, seed: u64) -> Result<EvalOutput> {
        let k = self.k.map(|k| k as i64).unwrap_or(f.num_classes);
        let n = f.test_x.size()[0];
        if k > n {
            return Err(Error::stage(format!("clustering: k = {k} but the test split has {n} samples")));
        }
        let x = &f.test_x / f.test_x.norm_scalaropt_dim(2, [1], true).clamp_min(1e-12);
        let mut best: Option<(Tensor, f64)> = None;
        for r in 0..self.restarts {
            let (a, inertia) = crate::runtime::seeding::with_torch_seed(
                crate::runtime::seeding::derive(seed, &format!("kmeans/{r}")),
                || kmeans(&x, k, self.max_iter),
            );
            if best.as_ref().is_none_or(|b| inertia < b.1) {
                best = Some((a, inertia));
            }
        }
        let (assign, inertia) = best.ok_or_else(|| Error::stage("clustering: no restart ran"))?;
        let pred: Vec<i64> = Vec::try_from(assign.to_device(tch::Device::Cpu))?;
        let truth: Vec<i64> = Vec::try_from(f.test_y.to_device(tch::Device::Cpu))?;
        Ok(EvalOutput {
            metrics: vec![("nmi".into(), nmi(&truth, &pred)), ("ari".into(), ari(&truth, &pred))],
            details: serde_json::json!({ "k": k, "inertia": inertia }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values from scikit-learn 1.9 (`normalized_mutual_info_score`, `adjusted_rand_score`).
    #[test]
    fn scores_match_scikit_learn() {
        assert!((ari(&[0, 0, 1, 1], &[0, 0, 1, 2]) - 0.571_428_571_4).abs() < 1e-9);
        assert!((nmi(&[0, 0, 1, 1], &[0, 0, 1, 2]) - 0.8).abs() < 1e-9);
        let (t, p) = ([0, 0, 0, 1, 1, 1, 2, 2], [1, 1, 0, 0, 2, 2, 2, 2]);
        assert!((ari(&t, &p) - 0.181_818_181_8).abs() < 1e-9);
        assert!((nmi(&t, &p) - 0.530_025_754_9).abs() < 1e-9);
        assert!((ari(&[0, 1, 2], &[2, 0, 1]) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn kmeans_finds_separated_blobs() {
        let c = Tensor::from_slice(&[5.0f32, 0., 0., 5., -5., -5.]).view([3, 2]);
        let y = Tensor::arange(300, (Kind::Int64, tch::Device::Cpu)).remainder(3);
        let x = c.index_select(0, &y) + crate::runtime::seeding::randn(&[300, 2], 0) * 0.3;
        let f = Features {
            train_x: x.shallow_clone(),
            train_y: y.shallow_clone(),
            val_x: x.narrow(0, 0, 1),
            val_y: y.narrow(0, 0, 1),
            test_x: x,
            test_y: y,
            num_classes: 3,
        };
        let out = ClusteringParams::default().run(&f, 1).unwrap();
        assert!(out.metrics[0].1 > 0.95 && out.metrics[1].1 > 0.95, "{out:?}");
    }
}
