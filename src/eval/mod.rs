//! Evaluations of frozen features. Features are extracted once per
//! representation and every evaluation reads them (the DINO way), so changing an
//! evaluation's settings never re-fits or re-embeds.
pub mod anomaly;
pub mod clustering;
pub mod knn;
pub mod label_efficiency;
pub mod linear_probe;

use crate::error::Result;
use crate::spec::validate::{Checker, Validate};
use serde::{Deserialize, Serialize};
use tch::{Device, Tensor};

/// An evaluation as written in a suite, selected by `kind:`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EvaluationSpec {
    LinearProbe(linear_probe::LinearProbeParams),
    Knn(knn::KnnParams),
    LabelEfficiency(label_efficiency::LabelEfficiencyParams),
    Clustering(clustering::ClusteringParams),
    Anomaly(anomaly::AnomalyParams),
}

/// Frozen features of the three splits (f32 N×D) with their labels (i64 N).
pub struct Features {
    pub train_x: Tensor,
    pub train_y: Tensor,
    pub val_x: Tensor,
    pub val_y: Tensor,
    pub test_x: Tensor,
    pub test_y: Tensor,
    pub num_classes: i64,
}

impl Features {
    pub fn to_device(&self, d: Device) -> Features {
        Features {
            train_x: self.train_x.to_device(d),
            train_y: self.train_y.to_device(d),
            val_x: self.val_x.to_device(d),
            val_y: self.val_y.to_device(d),
            test_x: self.test_x.to_device(d),
            test_y: self.test_y.to_device(d),
            num_classes: self.num_classes,
        }
    }
}

/// Metrics by name (e.g. `top1`, `top1_k20`) plus free-form details for the report.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EvalOutput {
    pub metrics: Vec<(String, f64)>,
    #[serde(default)]
    pub details: serde_json::Value,
}

#[derive(Debug, Clone, Copy)]
pub struct EvalContext {
    pub device: Device,
    pub seed: u64,
}

impl EvaluationSpec {
    pub fn kind(&self) -> &'static str {
        match self {
            EvaluationSpec::LinearProbe(_) => "linear_probe",
            EvaluationSpec::Knn(_) => "knn",
            EvaluationSpec::LabelEfficiency(_) => "label_efficiency",
            EvaluationSpec::Clustering(_) => "clustering",
            EvaluationSpec::Anomaly(_) => "anomaly",
        }
    }

    /// The metric shown in the summary chart.
    pub fn headline_metric(&self) -> String {
        match self {
            EvaluationSpec::LinearProbe(_) => "top1".into(),
            EvaluationSpec::Knn(p) => format!("top1_k{}", p.k.first().copied().unwrap_or(20)),
            EvaluationSpec::LabelEfficiency(p) => p.headline(),
            EvaluationSpec::Clustering(_) => "nmi".into(),
            EvaluationSpec::Anomaly(_) => "auroc".into(),
        }
    }

    pub fn evaluate(&self, f: &Features, ctx: &EvalContext) -> Result<EvalOutput> {
        let f = f.to_device(ctx.device);
        match self {
            EvaluationSpec::LinearProbe(p) => p.evaluate(&f, ctx),
            EvaluationSpec::Knn(p) => p.evaluate(&f),
            EvaluationSpec::LabelEfficiency(p) => p.evaluate(&f, ctx),
            EvaluationSpec::Clustering(p) => p.evaluate(&f, ctx.seed),
            EvaluationSpec::Anomaly(p) => p.evaluate(&f),
        }
    }
}

impl Validate for EvaluationSpec {
    fn validate(&self, path: &str, c: &mut Checker) {
        match self {
            EvaluationSpec::LinearProbe(p) => p.validate(path, c),
            EvaluationSpec::Knn(p) => p.validate(path, c),
            EvaluationSpec::LabelEfficiency(p) => p.validate(path, c),
            EvaluationSpec::Clustering(p) => p.validate(path, c),
            EvaluationSpec::Anomaly(p) => p.validate(path, c),
        }
    }
}

/// Top-1 accuracy of predictions against labels.
pub fn accuracy(pred: &Tensor, y: &Tensor) -> f64 {
    if y.numel() == 0 {
        return f64::NAN;
    }
    pred.eq_tensor(y).to_kind(tch::Kind::Double).mean(tch::Kind::Double).double_value(&[])
}
