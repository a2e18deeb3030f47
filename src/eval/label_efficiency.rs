//! Label efficiency: the linear probe or the k-NN trained on a stratified, seeded
//! fraction of the labelled training split (e.g. 1 %, 10 %, 100 %), evaluated on
//! the whole test split. One metric per fraction: `top1@0.01` (linear) or
//! `top1_k20@0.01` (k-NN). At fraction f the linear probe sees f of the
//! training labels **and f of the validation labels** (stratified, seeded), and
//! picks its L2 strength with those: choosing it on the full validation split
//! would spend far more labels than the fraction claims (600 validation images
//! against 54 training ones at 1 % of 6,000). So at small fractions the choice
//! is noisy — that is the cost of few labels, shown, not hidden; each
//! fraction's training and validation counts are in the details. The k-NN bank
//! is the fraction of train ∪ val.
use super::knn::KnnParams;
use super::linear_probe::LinearProbeParams;
use super::{EvalContext, EvalOutput, Evaluation, Features, FigureKind, Headline, Input};
use crate::checks::{Checker, Validate};
use crate::data::split::stratified;
use crate::error::Result;
use serde::{Deserialize, Serialize};
use tch::Tensor;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Probe {
    LinearProbe,
    Knn,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LabelEfficiencyParams {
    pub fractions: Vec<f64>,
    pub probe: Probe,
    /// Settings of the linear probe (when `probe: linear_probe`).
    pub linear: LinearProbeParams,
    /// Settings of the k-NN (when `probe: knn`).
    pub knn: KnnParams,
}

impl Default for LabelEfficiencyParams {
    fn default() -> Self {
        LabelEfficiencyParams {
            fractions: vec![0.01, 0.1, 1.0],
            probe: Probe::LinearProbe,
            linear: Default::default(),
            knn: Default::default(),
        }
    }
}

impl Validate for LabelEfficiencyParams {
    fn validate(&self, path: &str, c: &mut Checker) {
        c.non_empty(&format!("{path}.fractions"), &self.fractions);
        for (i, &f) in self.fractions.iter().enumerate() {
            c.fraction(&format!("{path}.fractions[{i}]"), f);
        }
        self.linear.validate(&format!("{path}.linear"), c);
        self.knn.validate(&format!("{path}.knn"), c);
    }
}

fn subset(x: &Tensor, y: &Tensor, fraction: f64, seed: u64) -> Result<(Tensor, Tensor)> {
    let labels: Vec<i64> = Vec::try_from(y.to_device(tch::Device::Cpu))?;
    let n = ((labels.len() as f64) * fraction).round().max(1.0) as usize;
    let pool: Vec<usize> = (0..labels.len()).collect();
    let mut rng = crate::runtime::seeding::rng(seed, &format!("label_fraction/{fraction}"));
    let (take, _) = stratified(&labels, &pool, n, &mut rng);
    let idx = Tensor::from_slice(&take.iter().map(|&i| i as i64).collect::<Vec<_>>()).to_device(x.device());
    Ok((x.index_select(0, &idx), y.index_select(0, &idx)))
}

/// Version of this evaluation's arithmetic; bump it when what it computes
/// changes (it enters the evaluation's key, see `Evaluation::version`).
pub const VERSION: u32 = 4;

impl Evaluation for LabelEfficiencyParams {
    /// Its own version plus those of the probes it runs: versions only grow, so
    /// the sum changes whenever any of them is bumped.
    fn version(&self) -> u32 {
        VERSION + super::linear_probe::VERSION + super::knn::VERSION
    }
    fn evaluate(&self, input: &Input, ctx: &EvalContext) -> Result<EvalOutput> {
        self.run(&input.features()?.to_device(ctx.device), ctx)
    }
    fn headline(&self) -> Headline {
        let f = self.fractions.first().copied().unwrap_or(1.0);
        Headline::ranked(match self.probe {
            Probe::LinearProbe => format!("top1@{f}"),
            Probe::Knn => format!("top1_k{}@{f}", self.knn.k.first().copied().unwrap_or(20)),
        })
    }
    fn figures(&self) -> &'static [FigureKind] {
        &[FigureKind::LabelCurve]
    }
}

impl LabelEfficiencyParams {
    pub fn headline(&self) -> String {
        let f = self.fractions.first().copied().unwrap_or(1.0);
        match self.probe {
            Probe::LinearProbe => format!("top1@{f}"),
            Probe::Knn => format!("top1_k{}@{f}", self.knn.k.first().copied().unwrap_or(20)),
        }
    }

    pub fn run(&self, f: &Features, ctx: &EvalContext) -> Result<EvalOutput> {
        let mut metrics = Vec::new();
        let mut sizes = Vec::new();
        let mut val_sizes = Vec::new();
        // Per-example predictions of the headline (the first fraction), for the paired test.
        let mut correct: Option<serde_json::Value> = None;
        for (j, &frac) in self.fractions.iter().enumerate() {
            match self.probe {
                Probe::LinearProbe => {
                    let (tx, ty) = subset(&f.train_x, &f.train_y, frac, ctx.seed)?;
                    let (vx, vy) = subset(&f.val_x, &f.val_y, frac, crate::runtime::seeding::derive(ctx.seed, "val"))?;
                    sizes.push(tx.size()[0]);
                    val_sizes.push(vx.size()[0]);
                    let sub = Features {
                        train_x: tx,
                        train_y: ty,
                        val_x: vx,
                        val_y: vy,
                        test_x: f.test_x.shallow_clone(),
                        test_y: f.test_y.shallow_clone(),
                        num_classes: f.num_classes,
                    };
                    let out = self.linear.run(&sub, ctx)?;
                    let top1 = out.metrics.iter().find(|(m, _)| m == "top1").map(|m| m.1).unwrap_or(f64::NAN);
                    if j == 0 {
                        correct = out.details.get("test_correct").cloned();
                    }
                    metrics.push((format!("top1@{frac}"), top1));
                }
                Probe::Knn => {
                    let bank_x = Tensor::cat(&[&f.train_x, &f.val_x], 0);
                    let bank_y = Tensor::cat(&[&f.train_y, &f.val_y], 0);
                    let (bx, by) = subset(&bank_x, &bank_y, frac, ctx.seed)?;
                    sizes.push(bx.size()[0]);
                    let preds = crate::knn_vote::predict(
                        &bx,
                        &by,
                        &f.test_x,
                        &self.knn.k,
                        self.knn.temperature,
                        f.num_classes,
                    )?;
                    if j == 0 {
                        correct = preds
                            .first()
                            .map(|p| super::correct_bits(p, &f.test_y))
                            .transpose()?
                            .map(serde_json::Value::from);
                    }
                    for (k, p) in self.knn.k.iter().zip(&preds) {
                        metrics.push((format!("top1_k{k}@{frac}"), super::accuracy(p, &f.test_y)));
                    }
                }
            }
        }
        let details = serde_json::json!({
            "fractions": self.fractions,
            "labelled": sizes,
            "validation_labelled": val_sizes,
            "test_correct": correct,
            "test_images": f.test_y.size()[0],
            "test_correct_metric": self.headline(),
        });
        Ok(EvalOutput { metrics, details })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn more_labels_help_and_subsets_are_stratified() {
        let c = Tensor::from_slice(&[2.0f32, 0., 0., 2.]).view([2, 2]);
        let y = Tensor::arange(1000, (tch::Kind::Int64, tch::Device::Cpu)).remainder(2);
        let x = c.index_select(0, &y) + crate::runtime::seeding::randn(&[1000, 2], 0);
        let (sx, sy) = subset(&x, &y, 0.01, 3).unwrap();
        assert_eq!(sx.size()[0], 10);
        assert_eq!(sy.sum(tch::Kind::Int64).int64_value(&[]), 5, "5 of each class");
        let f = Features {
            train_x: x.narrow(0, 0, 600),
            train_y: y.narrow(0, 0, 600),
            val_x: x.narrow(0, 600, 200),
            val_y: y.narrow(0, 600, 200),
            test_x: x.narrow(0, 800, 200),
            test_y: y.narrow(0, 800, 200),
            num_classes: 2,
        };
        let p = LabelEfficiencyParams {
            fractions: vec![0.01, 1.0],
            probe: Probe::Knn,
            knn: KnnParams { k: vec![3], ..Default::default() },
            ..Default::default()
        };
        let out = p.run(&f, &EvalContext { device: tch::Device::Cpu, seed: 0 }).unwrap();
        assert_eq!(out.metrics.len(), 2);
        assert_eq!(out.metrics[0].0, "top1_k3@0.01");
        assert!(out.metrics[1].1 > 0.8, "{out:?}");
    }
}
