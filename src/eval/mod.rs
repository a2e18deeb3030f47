//! Evaluations of frozen features. Features are extracted once per
//! representation and every evaluation reads them (the DINO way), so changing an
//! evaluation's settings never re-fits or re-embeds.
pub mod anomaly;
pub mod attention;
pub mod cka;
pub mod clustering;
pub mod depth_probe;
pub mod embedding_map;
pub mod finetune;
pub mod knn;
pub mod label_efficiency;
pub mod linear_probe;
pub mod tsne;

use crate::error::{Error, Result};
use crate::represent::{Fitted, RepresentationSpec};
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
    EmbeddingMap(embedding_map::EmbeddingMapParams),
    Finetune(finetune::FinetuneParams),
    DepthProbe(depth_probe::DepthProbeParams),
    AttentionMaps(attention::AttentionMapsParams),
    /// Linear CKA between every pair of representations (one cell per matrix
    /// point, run after all representations are embedded).
    Similarity(cka::SimilarityParams),
}

/// Images and labels of the three splits (u8 N×C×H×W and i64 N, on the CPU), for
/// evaluations that run the model itself.
pub struct SplitImages {
    pub train: (Tensor, Tensor),
    pub val: (Tensor, Tensor),
    pub test: (Tensor, Tensor),
    pub num_classes: i64,
}

/// What model-based evaluations (fine-tuning, probes by depth, attention maps)
/// read besides the frozen features.
pub struct ModelInputs<'a> {
    pub fitted: &'a dyn Fitted,
    pub spec: &'a RepresentationSpec,
    pub images: &'a SplitImages,
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
            EvaluationSpec::EmbeddingMap(_) => "embedding_map",
            EvaluationSpec::Finetune(_) => "finetune",
            EvaluationSpec::DepthProbe(_) => "depth_probe",
            EvaluationSpec::AttentionMaps(_) => "attention_maps",
            EvaluationSpec::Similarity(_) => "similarity",
        }
    }

    /// Whether the evaluation runs the fitted model on images (not only features).
    pub fn needs_model(&self) -> bool {
        matches!(self, EvaluationSpec::Finetune(_) | EvaluationSpec::DepthProbe(_) | EvaluationSpec::AttentionMaps(_))
    }

    /// Whether the evaluation applies to a representation; the reason when not
    /// (decided from the suite alone, so inapplicable cells are never planned).
    pub fn applies_to(&self, rep: &RepresentationSpec) -> std::result::Result<(), String> {
        let backbone = crate::represent::learned::backbone(rep);
        match self {
            EvaluationSpec::Finetune(_) | EvaluationSpec::DepthProbe(_) if backbone.is_none() => Err(format!("{} is not a learned encoder", rep.kind())),
            EvaluationSpec::AttentionMaps(_) => match backbone {
                Some((enc, _)) if enc.arch() == "vit" => Ok(()),
                Some((enc, _)) => Err(format!("a {} encoder has no attention maps", enc.arch())),
                None => Err(format!("{} has no attention maps", rep.kind())),
            },
            _ => Ok(()),
        }
    }

    /// Whether the evaluation compares representations (one cell per matrix point).
    pub fn is_cross(&self) -> bool {
        matches!(self, EvaluationSpec::Similarity(_))
    }

    /// Whether a larger headline value is better (false for descriptive metrics
    /// that rank nothing, like CKA or attention entropy).
    pub fn ranks(&self) -> bool {
        !matches!(self, EvaluationSpec::Similarity(_) | EvaluationSpec::AttentionMaps(_))
    }

    /// The metric shown in the summary chart.
    pub fn headline_metric(&self) -> String {
        match self {
            EvaluationSpec::LinearProbe(_) => "top1".into(),
            EvaluationSpec::Knn(p) => format!("top1_k{}", p.k.first().copied().unwrap_or(20)),
            EvaluationSpec::LabelEfficiency(p) => p.headline(),
            EvaluationSpec::Clustering(_) => "nmi".into(),
            EvaluationSpec::Anomaly(_) => "auroc".into(),
            EvaluationSpec::EmbeddingMap(_) => "map_knn5".into(),
            EvaluationSpec::Finetune(_) => "top1".into(),
            EvaluationSpec::DepthProbe(_) => "best_block_top1".into(),
            EvaluationSpec::AttentionMaps(_) => "attention_entropy".into(),
            EvaluationSpec::Similarity(_) => "cka".into(),
        }
    }

    /// Runs a per-representation evaluation; `model` must be given when
    /// `needs_model()` is true.
    pub fn evaluate(&self, f: &Features, ctx: &EvalContext, model: Option<&ModelInputs>) -> Result<EvalOutput> {
        let need = || model.ok_or_else(|| Error::stage(format!("{} needs the fitted model", self.kind())));
        let on_device = || f.to_device(ctx.device);
        match self {
            EvaluationSpec::LinearProbe(p) => p.evaluate(&on_device(), ctx),
            EvaluationSpec::Knn(p) => p.evaluate(&on_device()),
            EvaluationSpec::LabelEfficiency(p) => p.evaluate(&on_device(), ctx),
            EvaluationSpec::Clustering(p) => p.evaluate(&on_device(), ctx.seed),
            EvaluationSpec::Anomaly(p) => p.evaluate(&on_device()),
            EvaluationSpec::EmbeddingMap(p) => p.evaluate(f, ctx.seed),
            EvaluationSpec::Finetune(p) => p.evaluate(need()?, ctx.device, ctx.seed),
            EvaluationSpec::DepthProbe(p) => p.evaluate(need()?, ctx),
            EvaluationSpec::AttentionMaps(p) => p.evaluate(need()?, ctx.device),
            EvaluationSpec::Similarity(_) => Err(Error::stage("similarity compares representations; the runner calls cka::cka_matrix")),
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
            EvaluationSpec::EmbeddingMap(p) => p.validate(path, c),
            EvaluationSpec::Finetune(p) => p.validate(path, c),
            EvaluationSpec::DepthProbe(p) => p.validate(path, c),
            EvaluationSpec::AttentionMaps(p) => p.validate(path, c),
            EvaluationSpec::Similarity(p) => p.validate(path, c),
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
