//! Evaluations of frozen features. Features are extracted once per
//! representation and every evaluation reads them (the DINO way), so changing an
//! evaluation's settings never re-fits or re-embeds.
use crate::checks::{Checker, Validate};
use crate::error::{Error, Result};
use crate::represent::{Fitted, RepresentationSpec};
use serde::{Deserialize, Serialize};
use tch::{Device, Tensor};

/// What an evaluation reads; the runner loads it and caches the result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The frozen features of one representation.
    Features,
    /// The features plus the fitted model and the split images.
    Model,
    /// The test features of every representation of a matrix point.
    Cross,
}

/// An evaluation's input, as its scope asks.
pub enum Input<'a> {
    Features(&'a Features),
    Model(&'a Features, &'a ModelInputs<'a>),
    /// (representation name, test features), in suite order.
    Cross(&'a [(String, Tensor)]),
}

impl<'a> Input<'a> {
    pub fn features(&self) -> Result<&'a Features> {
        match self {
            Input::Features(f) | Input::Model(f, _) => Ok(f),
            Input::Cross(_) => Err(Error::stage("this evaluation reads one representation's features")),
        }
    }
    pub fn model(&self) -> Result<&'a ModelInputs<'a>> {
        match self {
            Input::Model(_, m) => Ok(m),
            _ => Err(Error::stage("this evaluation needs the fitted model")),
        }
    }
    pub fn cross(&self) -> Result<&'a [(String, Tensor)]> {
        match self {
            Input::Cross(c) => Ok(c),
            _ => Err(Error::stage("this evaluation compares representations")),
        }
    }
}

/// The headline metric of an evaluation and what it means.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Headline {
    pub metric: String,
    /// Larger is better (accuracy, NMI, AUROC); false for losses and errors.
    pub higher_is_better: bool,
    /// Whether representations are ranked and tested on it; descriptive
    /// evaluations (CKA, embedding maps, attention statistics) are not.
    pub ranked: bool,
    /// Whether the metric is a share in [0, 1] (accuracy, NMI, AUROC), so a
    /// difference reads in percentage points; false for ratios such as
    /// `attention_foreground`, whose differences are shown as they are.
    pub proportion: bool,
}

impl Headline {
    /// A metric where larger is better, ranked across representations.
    pub fn ranked(metric: impl Into<String>) -> Headline {
        Headline { metric: metric.into(), higher_is_better: true, ranked: true, proportion: true }
    }
    /// A ranked metric that is not a share (a ratio; larger is better).
    pub fn ranked_ratio(metric: impl Into<String>) -> Headline {
        Headline { metric: metric.into(), higher_is_better: true, ranked: true, proportion: false }
    }
    /// A metric that describes, ranks nothing and gets no tests.
    pub fn descriptive(metric: impl Into<String>) -> Headline {
        Headline { metric: metric.into(), higher_is_better: true, ranked: false, proportion: false }
    }
}

/// The figures the report can draw for an evaluation, as it declares them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FigureKind {
    /// Metric vs labelled fraction (`metric@fraction`).
    LabelCurve,
    /// Probe accuracy vs block (`top1_blockN`).
    DepthCurve,
    /// CKA between an encoder's blocks (`layer_cka` in the details).
    BlockCka,
    /// CKA between representations (`cka:<other>` metrics), as heatmap and table.
    CkaMatrix,
    /// A 2-D map of the test points (`x`, `y`, `labels` in the details).
    EmbeddingMap,
    /// CLS attention per head (`maps` in the details).
    AttentionGrid,
    /// Row-normalised confusion matrix of the test predictions (`confusion` in the details).
    Confusion,
    /// Reliability diagram of the test predictions' confidence (`reliability` bins in the details).
    Reliability,
    /// Fine-tuning curves: train and validation top-1 per epoch (`train_log` in the details).
    FinetuneCurve,
    /// Accuracy versus corruption severity per corruption family (`<family>@<severity>`).
    SeverityCurve,
    /// Each representation's nearest training images for fixed test queries (`RetrievalData`).
    Retrieval,
}

/// What every evaluation does: read its input, return metrics and details, and
/// declare its headline, its figures and the version of its arithmetic.
pub trait Evaluation: Validate {
    /// The version of the evaluation's arithmetic; it enters the evaluation's
    /// key. Bump it when a change alters what it computes for the same settings.
    fn version(&self) -> u32;
    fn scope(&self) -> Scope {
        Scope::Features
    }
    fn evaluate(&self, input: &Input, ctx: &EvalContext) -> Result<EvalOutput>;
    fn headline(&self) -> Headline;
    fn figures(&self) -> &'static [FigureKind] {
        &[]
    }
    /// Metrics that record a choice or a count rather than estimate a quantity
    /// (the selected L2, the selected block, the trained parameters): the
    /// report shows their spread but no confidence interval and no test.
    fn choices(&self) -> &'static [&'static str] {
        &[]
    }
    /// Whether the evaluation applies to a representation; the reason when not
    /// (decided from the suite alone, so inapplicable cells are never planned).
    fn applies_to(&self, _rep: &RepresentationSpec) -> std::result::Result<(), String> {
        Ok(())
    }
}

/// Why a model-based evaluation does not apply to `rep`, if it does not: it
/// needs a learned encoder (and, with `vit_only`, a ViT).
pub fn needs_encoder(rep: &RepresentationSpec, vit_only: bool) -> std::result::Result<(), String> {
    match rep.method() {
        None if vit_only => Err(format!("{} has no attention maps", rep.kind())),
        None => Err(format!("{} is not a learned encoder", rep.kind())),
        Some(m) if vit_only && m.encoder().arch() != "vit" => {
            Err(format!("a {} encoder has no attention maps", m.encoder().arch()))
        }
        Some(_) => Ok(()),
    }
}

/// Refuses imported embeddings (`why` says what the evaluation would need):
/// rows of a file have no pixels to corrupt, time or show.
pub fn needs_pixels(rep: &RepresentationSpec, why: &str) -> std::result::Result<(), String> {
    match rep {
        RepresentationSpec::Embeddings(_) => Err(why.into()),
        _ => Ok(()),
    }
}

/// Defines `EvaluationSpec` (strict serde parsing by `kind:`) and its modules
/// from the registry below, with one dispatch arm per variant.
macro_rules! define_evaluations {
    ($($module:ident: $params:ident => $variant:ident,)*) => {
        $(pub mod $module;)*

        /// An evaluation as written in a suite, selected by `kind:`.
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(tag = "kind", rename_all = "snake_case")]
        pub enum EvaluationSpec {
            $($variant($module::$params),)*
        }

        impl EvaluationSpec {
            /// The suite's `kind:` (the file that implements it).
            pub fn kind(&self) -> &'static str {
                match self {
                    $(EvaluationSpec::$variant(_) => stringify!($module),)*
                }
            }
            /// The evaluation's implementation.
            pub fn as_dyn(&self) -> &dyn Evaluation {
                match self {
                    $(EvaluationSpec::$variant(p) => p,)*
                }
            }
            /// Every kind with its default settings (for tests and old manifests).
            pub fn all_defaults() -> Vec<EvaluationSpec> {
                vec![$(EvaluationSpec::$variant(Default::default()),)*]
            }
        }
    };
}

// The registry: one line per evaluation (`file: ParamsType => Variant,`); the
// file name is the suite's `kind:`.
pub mod backbone;
pub mod class_metrics;
pub mod figure_data;
pub mod lbfgs;

define_evaluations! {
    linear_probe: LinearProbeParams => LinearProbe,
    knn: KnnParams => Knn,
    label_efficiency: LabelEfficiencyParams => LabelEfficiency,
    clustering: ClusteringParams => Clustering,
    anomaly: AnomalyParams => Anomaly,
    embedding_map: EmbeddingMapParams => EmbeddingMap,
    finetune: FinetuneParams => Finetune,
    depth_probe: DepthProbeParams => DepthProbe,
    attention_maps: AttentionMapsParams => AttentionMaps,
    similarity: SimilarityParams => Similarity,
    robustness: RobustnessParams => Robustness,
    cost: CostParams => Cost,
    retrieval: RetrievalParams => Retrieval,
}

/// Helpers whose files are not evaluations themselves.
pub mod tsne;

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
    /// Shared by every representation evaluated on the same data, seed and
    /// evaluation (`runner::stages::eval_seed`): two representations that
    /// embed alike get the same numbers, and paired tests pair on the same draws.
    pub seed: u64,
}

impl EvaluationSpec {
    pub fn scope(&self) -> Scope {
        self.as_dyn().scope()
    }
    pub fn headline(&self) -> Headline {
        self.as_dyn().headline()
    }
    pub fn version(&self) -> u32 {
        self.as_dyn().version()
    }
    pub fn applies_to(&self, rep: &RepresentationSpec) -> std::result::Result<(), String> {
        self.as_dyn().applies_to(rep)
    }
    pub fn evaluate(&self, input: &Input, ctx: &EvalContext) -> Result<EvalOutput> {
        self.as_dyn().evaluate(input, ctx)
    }
}

impl Validate for EvaluationSpec {
    fn validate(&self, path: &str, c: &mut Checker) {
        self.as_dyn().validate(path, c)
    }
}

/// Top-1 accuracy of predictions against labels.
/// Which test examples the headline prediction got right, as a base64 bitset
/// (bit i of byte i/8, least significant first): 1.3 KB per 10,000 images. The
/// report pairs two representations' bits on the same test images (McNemar's
/// exact test, a paired bootstrap of the accuracy difference).
///
/// Errors when the predictions cannot be read back as one row per image (not 1-D),
/// rather than storing an empty bitset that would read as "nothing correct".
pub fn correct_bits(pred: &Tensor, y: &Tensor) -> Result<String> {
    use base64::Engine;
    let ok: Vec<i64> = Vec::try_from(pred.eq_tensor(y).to_kind(tch::Kind::Int64).to_device(tch::Device::Cpu))?;
    let mut bytes = vec![0u8; ok.len().div_ceil(8)];
    for (i, &b) in ok.iter().enumerate() {
        if b != 0 {
            bytes[i / 8] |= 1 << (i % 8);
        }
    }
    Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
}

pub fn accuracy(pred: &Tensor, y: &Tensor) -> f64 {
    if y.numel() == 0 {
        return f64::NAN;
    }
    pred.eq_tensor(y).to_kind(tch::Kind::Double).mean(tch::Kind::Double).double_value(&[])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The registry's module name is the suite's `kind:` for every evaluation.
    #[test]
    fn kind_names_match_the_serde_tags() {
        for spec in EvaluationSpec::all_defaults() {
            let v = serde_json::to_value(&spec).unwrap();
            assert_eq!(v["kind"], spec.kind(), "{spec:?}");
            let back: EvaluationSpec = serde_json::from_value(v).unwrap();
            assert_eq!(back, spec);
        }
    }
}
