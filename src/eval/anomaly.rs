//! Anomaly detection: classes held out of fitting (`dataset.holdout_classes`)
//! are unseen by both the representation and the training bank; each test
//! image is scored by its mean distance to the k nearest training embeddings
//! (L2-normalised). One held-out class at a time plays the anomaly against the
//! test images of the seen classes (the other held-out classes left out), and
//! the headline is the mean AUROC over the held-out classes — one class alone
//! says more about that class than about the representation. The per-class
//! AUROCs are in the details. Holding out every class in turn is a matrix over
//! `dataset.holdout_classes` (one fit per class, as the protocol needs).
use super::{EvalContext, EvalOutput, Evaluation, Features, Headline, Input};
use crate::checks::{Checker, Validate};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AnomalyParams {
    /// Only this held-out class plays the anomaly (default: each held-out
    /// class in turn, averaged).
    pub class: Option<usize>,
    /// Neighbours averaged in the score.
    pub k: usize,
}

impl Default for AnomalyParams {
    fn default() -> Self {
        AnomalyParams { class: None, k: 5 }
    }
}

impl Validate for AnomalyParams {
    fn validate(&self, path: &str, c: &mut Checker) {
        c.positive(&format!("{path}.k"), self.k);
    }
}

/// Area under the ROC curve of `scores` for the positives in `is_pos`
/// (Mann–Whitney U with average ranks for ties).
pub fn auroc(scores: &[f64], is_pos: &[bool]) -> f64 {
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&a, &b| scores[a].partial_cmp(&scores[b]).unwrap_or(std::cmp::Ordering::Equal));
    let mut ranks = vec![0.0; scores.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && scores[idx[j + 1]] == scores[idx[i]] {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0 + 1.0;
        for &t in &idx[i..=j] {
            ranks[t] = avg;
        }
        i = j + 1;
    }
    let np = is_pos.iter().filter(|&&p| p).count() as f64;
    let nn = is_pos.len() as f64 - np;
    if np == 0.0 || nn == 0.0 {
        return f64::NAN;
    }
    let rank_sum: f64 = ranks.iter().zip(is_pos).filter(|(_, &p)| p).map(|(r, _)| r).sum();
    (rank_sum - np * (np + 1.0) / 2.0) / (np * nn)
}

/// Version of this evaluation's arithmetic; bump it when what it computes
/// changes (it enters the evaluation's key, see `Evaluation::version`).
pub const VERSION: u32 = 2;

impl Evaluation for AnomalyParams {
    fn version(&self) -> u32 {
        VERSION
    }
    fn evaluate(&self, input: &Input, ctx: &EvalContext) -> Result<EvalOutput> {
        self.run(&input.features()?.to_device(ctx.device))
    }
    fn headline(&self) -> Headline {
        Headline::ranked("auroc")
    }
}

impl AnomalyParams {
    pub fn run(&self, f: &Features) -> Result<EvalOutput> {
        let bank = Tensor::cat(&[&f.train_x, &f.val_x], 0);
        let bank_y: Vec<i64> = Vec::try_from(Tensor::cat(&[&f.train_y, &f.val_y], 0).to_device(tch::Device::Cpu))?;
        let labels: Vec<i64> = Vec::try_from(f.test_y.to_device(tch::Device::Cpu))?;
        let seen: std::collections::BTreeSet<i64> = bank_y.iter().copied().collect();
        let classes: Vec<i64> = match self.class {
            Some(c) => {
                let leaked = bank_y.iter().filter(|&&y| y == c as i64).count();
                if leaked > 0 {
                    return Err(Error::stage(format!(
                        "anomaly: class {c} has {leaked} training samples; list it in dataset.holdout_classes"
                    )));
                }
                vec![c as i64]
            }
            None => {
                let unseen: std::collections::BTreeSet<i64> =
                    labels.iter().copied().filter(|y| !seen.contains(y)).collect();
                unseen.into_iter().collect()
            }
        };
        if classes.is_empty() {
            return Err(Error::stage(
                "anomaly: no test class is held out of training; list the anomaly classes in dataset.holdout_classes",
            ));
        }
        let k = self.k as i64;
        if k > bank.size()[0] {
            return Err(Error::stage(format!("anomaly: k = {k} exceeds the {} training samples", bank.size()[0])));
        }
        let scores = knn_scores(&bank, &f.test_x, k)?;
        let mut per_class = Vec::new();
        for &c in &classes {
            // The anomalies of class c against the seen classes' test images.
            let (s, pos): (Vec<f64>, Vec<bool>) = scores
                .iter()
                .zip(&labels)
                .filter(|(_, y)| **y == c || seen.contains(y))
                .map(|(s, y)| (*s, *y == c))
                .unzip();
            let anomalies = pos.iter().filter(|&&p| p).count();
            if anomalies == 0 {
                return Err(Error::stage(format!("anomaly: class {c} has no test images to score")));
            }
            per_class.push(serde_json::json!({ "class": c, "auroc": auroc(&s, &pos), "anomalies": anomalies }));
        }
        let mean = per_class.iter().filter_map(|p| p["auroc"].as_f64()).sum::<f64>() / per_class.len() as f64;
        Ok(EvalOutput {
            metrics: vec![("auroc".into(), mean)],
            details: serde_json::json!({ "classes": classes, "per_class": per_class, "k": self.k }),
        })
    }
}

/// Each test point's score: the mean L2 distance (on unit-normalised features)
/// to its k nearest points of the bank. The bank is the training data only, so
/// a test point is never its own neighbour and the scores of the test points do
/// not depend on each other.
pub fn knn_scores(bank: &Tensor, test: &Tensor, k: i64) -> Result<Vec<f64>> {
    let norm = |x: &Tensor| x / x.norm_scalaropt_dim(2, [1], true).clamp_min(1e-12);
    let (bank, test) = (norm(bank), norm(test));
    let n = test.size()[0];
    let chunk = (64_000_000 / bank.size()[0].max(1)).clamp(1, 4096);
    let mut parts = Vec::new();
    let mut s = 0;
    while s < n {
        let len = chunk.min(n - s);
        let sim = test.narrow(0, s, len).matmul(&bank.transpose(0, 1));
        let (top, _) = sim.topk(k, 1, true, true);
        // For unit vectors, squared L2 distance = 2 − 2·cos.
        let d2: Tensor = top * -2.0 + 2.0;
        parts.push(d2.clamp_min(0.0).sqrt().mean_dim(1, false, Kind::Float));
        s += len;
    }
    Ok(Vec::try_from(Tensor::cat(&parts, 0).to_kind(Kind::Double).to_device(tch::Device::Cpu))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auroc_matches_hand_computed_cases() {
        assert_eq!(auroc(&[0.1, 0.2, 0.8, 0.9], &[false, false, true, true]), 1.0);
        assert_eq!(auroc(&[0.9, 0.8, 0.2, 0.1], &[false, false, true, true]), 0.0);
        // One positive between two negatives: U = 1 of 2 pairs.
        assert_eq!(auroc(&[0.1, 0.5, 0.9], &[false, true, false]), 0.5);
        // Ties count half.
        assert_eq!(auroc(&[0.5, 0.5], &[false, true]), 0.5);
    }

    #[test]
    fn the_bank_excludes_the_test_points() {
        let bank = crate::runtime::seeding::randn(&[50, 4], 1);
        let test = crate::runtime::seeding::randn(&[20, 4], 2);
        // k = 1: were the test points in the bank, each would be its own neighbour (score 0).
        let s = knn_scores(&bank, &test, 1).unwrap();
        assert!(s.iter().all(|&v| v > 1e-3), "{s:?}");
        // A test point's score does not depend on the other test points.
        let twice = Tensor::cat(&[&test, &test.narrow(0, 0, 5)], 0);
        let s2 = knn_scores(&bank, &twice, 3).unwrap();
        let s3 = knn_scores(&bank, &test, 3).unwrap();
        assert_eq!(&s2[..20], &s3[..]);
        assert_eq!(&s2[20..], &s3[..5]);
        // A training point scored as a test point is at distance 0 from itself.
        assert!(knn_scores(&bank, &bank.narrow(0, 0, 1), 1).unwrap()[0] < 1e-3);
    }

    /// 100 points per 2-D centre (class = centre index, noise 0.3, drawn
    /// under `seed`); classes from `held_out` on are kept out of training.
    fn clusters(centres: &[f32], held_out: i64, seed: u64) -> Features {
        let k = centres.len() as i64 / 2;
        let c = Tensor::from_slice(centres).view([k, 2]);
        let y = Tensor::arange(100 * k, (Kind::Int64, tch::Device::Cpu)).remainder(k);
        let x = c.index_select(0, &y) + crate::runtime::seeding::randn(&[100 * k, 2], seed) * 0.3;
        let normal = y.lt(held_out).nonzero().squeeze_dim(1);
        Features {
            train_x: x.index_select(0, &normal),
            train_y: y.index_select(0, &normal),
            val_x: x.narrow(0, 0, 0),
            val_y: y.narrow(0, 0, 0),
            test_x: x.shallow_clone(),
            test_y: y.shallow_clone(),
            num_classes: k,
        }
    }

    #[test]
    fn held_out_cluster_is_detected_and_leaks_are_refused() {
        let f = clusters(&[3.0, 0., 0., 3., -3., -3.], 2, 0);
        let out = AnomalyParams { class: Some(2), k: 5 }.run(&f).unwrap();
        assert!(out.metrics[0].1 > 0.95, "{out:?}");
        assert!(AnomalyParams { class: Some(0), k: 5 }.run(&f).is_err());
        // Without `class`, every class absent from training is scored in turn.
        let all = AnomalyParams { class: None, k: 5 }.run(&f).unwrap();
        assert_eq!(all.metrics, out.metrics);
        assert_eq!(all.details["classes"], serde_json::json!([2]));
    }

    #[test]
    fn the_headline_averages_each_held_out_class_against_the_seen_ones() {
        // Four clusters; classes 2 and 3 held out. Class 2 sits far away (easy),
        // class 3 on top of class 0 (hard): the mean is the average of the two,
        // each scored against classes 0 and 1 only.
        let f = clusters(&[3.0, 0., 0., 3., -3., -3., 3.0, 0.0], 2, 1);
        let out = AnomalyParams { class: None, k: 5 }.run(&f).unwrap();
        let per: Vec<f64> =
            out.details["per_class"].as_array().unwrap().iter().map(|p| p["auroc"].as_f64().unwrap()).collect();
        assert_eq!(out.details["classes"], serde_json::json!([2, 3]));
        assert!(per[0] > 0.95 && per[1] < 0.8, "{per:?}");
        assert!((out.metrics[0].1 - (per[0] + per[1]) / 2.0).abs() < 1e-12);
        let one = AnomalyParams { class: Some(2), k: 5 }.run(&f).unwrap();
        assert!((one.metrics[0].1 - per[0]).abs() < 1e-12);
    }
}
