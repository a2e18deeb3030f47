//! Weighted k-NN on frozen features, the DINO `eval_knn.py` protocol:
//! L2-normalised features, cosine similarity, the top-k training neighbours vote
//! for their class with weight exp(sim / T), T = 0.07.
//!
//! The weights are computed as exp((sim − sim_max) / T), the same vote up to a
//! factor per query, so no temperature overflows float32: with exp(sim / T)
//! directly, T below ~0.011 gave inf weights and a silently wrong accuracy
//! (issue 13). As T → 0 the vote tends to the nearest neighbour's class.
use super::{accuracy, EvalContext, EvalOutput, Evaluation, Features, Headline, Input};
use crate::checks::{Checker, Validate};
use crate::error::Result;
use crate::knn_vote::predict_normalized;
use serde::{Deserialize, Serialize};
use tch::Tensor;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KnnParams {
    /// Neighbour counts; one metric `top1_k{k}` each.
    pub k: Vec<usize>,
    /// Temperature of the vote weights.
    pub temperature: f64,
}

impl Default for KnnParams {
    fn default() -> Self {
        KnnParams { k: vec![20], temperature: 0.07 }
    }
}

impl Validate for KnnParams {
    fn validate(&self, path: &str, c: &mut Checker) {
        c.non_empty(&format!("{path}.k"), &self.k);
        for (i, &k) in self.k.iter().enumerate() {
            c.positive(&format!("{path}.k[{i}]"), k);
        }
        c.positive_f(&format!("{path}.temperature"), self.temperature);
    }
}

/// Version of this evaluation's arithmetic; bump it when what it computes
/// changes (it enters the evaluation's key, see `Evaluation::version`).
pub const VERSION: u32 = 3;

impl Evaluation for KnnParams {
    fn version(&self) -> u32 {
        VERSION
    }
    fn evaluate(&self, input: &Input, ctx: &EvalContext) -> Result<EvalOutput> {
        self.run(&input.features()?.to_device(ctx.device))
    }
    fn headline(&self) -> Headline {
        Headline::ranked(format!("top1_k{}", self.k.first().copied().unwrap_or(20)))
    }
}

impl KnnParams {
    /// The neighbour bank is train ∪ val: k-NN selects nothing on the validation
    /// split, so holding it out would only weaken the bank (DINO uses the whole
    /// training set).
    pub fn run(&self, f: &Features) -> Result<EvalOutput> {
        // Normalised straight into one bank (the same values as normalising
        // the concatenation): at a million images the features are the memory.
        let bank_x = crate::knn_vote::normalized_bank(&[&f.train_x, &f.val_x]);
        let bank_y = Tensor::cat(&[&f.train_y, &f.val_y], 0);
        let query = crate::knn_vote::normalize(&f.test_x);
        let preds = predict_normalized(&bank_x, &bank_y, &query, &self.k, self.temperature, f.num_classes)?;
        let mut metrics: Vec<(String, f64)> =
            self.k.iter().zip(&preds).map(|(k, p)| (format!("top1_k{k}"), accuracy(p, &f.test_y))).collect();
        let correct = preds.first().map(|p| super::correct_bits(p, &f.test_y)).transpose()?;
        let mut details = serde_json::json!({"temperature": self.temperature, "bank": bank_x.size()[0], "test_correct": correct, "test_images": f.test_y.size()[0]});
        // Per class for the headline k (the first).
        if let Some(p) = preds.first() {
            let confusion = super::linear_probe::confusion_matrix(p, &f.test_y, f.num_classes)?;
            metrics.extend(super::class_metrics::class_metrics(&confusion));
            details["test_labels"] = super::class_metrics::labels_b64(&f.test_y, f.num_classes)?.into();
            super::figure_data::put(&mut details, &super::figure_data::ConfusionData { confusion })?;
        }
        Ok(EvalOutput { metrics, details })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::knn_vote::predict;
    use tch::Kind;

    #[test]
    fn weighted_vote_prefers_close_neighbours() {
        // Query along x. Two class-1 points at 45° (sim 0.707) outvote one class-0
        // point at 0° (sim 1) with k = 3 only if their weights sum higher:
        // exp(1/T) vs 2·exp(0.707/T). With T = 0.07: e^14.3 vs 2·e^10.1 → class 0.
        // With T = 1: e^1 = 2.72 vs 2·e^0.707 = 4.06 → class 1.
        let train = Tensor::from_slice(&[1.0f32, 0.0, 1.0, 1.0, 1.0, 1.001]).view([3, 2]);
        let y = Tensor::from_slice(&[0i64, 1, 1]);
        let q = Tensor::from_slice(&[2.0f32, 0.0]).view([1, 2]);
        let p = predict(&train, &y, &q, &[1, 3], 0.07, 2).unwrap();
        assert_eq!(p[0].int64_value(&[0]), 0);
        assert_eq!(p[1].int64_value(&[0]), 0);
        let p = predict(&train, &y, &q, &[3], 1.0, 2).unwrap();
        assert_eq!(p[0].int64_value(&[0]), 1);
    }

    /// At T = 0.005, exp(sim / T) overflows float32; the vote must still equal
    /// a float64 computation of the same weighted vote.
    #[test]
    fn tiny_temperature_matches_a_float64_vote() {
        let (n, q, d, classes, k, t) = (200i64, 60i64, 8i64, 5i64, 20i64, 0.005);
        let train = crate::runtime::seeding::randn(&[n, d], 1);
        let query = crate::runtime::seeding::randn(&[q, d], 2);
        let y = Tensor::arange(n, (Kind::Int64, tch::Device::Cpu)).remainder(classes);
        let got = predict(&train, &y, &query, &[k as usize], t, classes).unwrap().remove(0);
        // Reference: float64 similarities and exp(sim / T) without any shift.
        let unit = |x: &Tensor| {
            let x = x.to_kind(Kind::Double);
            &x / x.norm_scalaropt_dim(2, [1], true)
        };
        let sim = unit(&query).matmul(&unit(&train).transpose(0, 1));
        let (vals, idx) = sim.topk(k, 1, true, true);
        let labels = y.index_select(0, &idx.flatten(0, -1)).view([q, k]);
        let w = (vals / t).exp();
        assert!(w.isfinite().all().int64_value(&[]) == 1, "the float64 reference itself overflowed");
        let votes = Tensor::zeros([q, classes], (Kind::Double, tch::Device::Cpu)).scatter_add(1, &labels, &w);
        let want = votes.argmax(1, false);
        assert!(got.equal(&want), "k-NN at T = {t} differs from the float64 vote");
    }

    #[test]
    fn k_larger_than_train_is_an_error() {
        let train = Tensor::ones([2, 2], (Kind::Float, tch::Device::Cpu));
        let y = Tensor::from_slice(&[0i64, 1]);
        assert!(predict(&train, &y, &train, &[3], 0.07, 2).is_err());
    }
}
