//! The suite file: what to compare, on what data, evaluated how, over which seeds.
//!
//! Parsing is strict: unknown keys are errors (with the nearest valid key), and
//! every value is range-checked with its field path before anything runs. See
//! docs/spec.md for the format.
pub mod load;
pub mod matrix;
pub mod validate;

use crate::data::named::Format;
use crate::eval::EvaluationSpec;
use crate::represent::RepresentationSpec;
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Which device to run on (defined with the code that resolves it).
pub use crate::runtime::device::DeviceChoice;

fn default_val_fraction() -> f64 {
    0.1
}

/// `dataset:` — a named dataset or a path with its format, and how to subset it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetSpec {
    /// A named dataset (`fashion-mnist`), or the display name of a `path` dataset.
    #[serde(default)]
    pub name: Option<String>,
    /// A folder in the layout of `format`; relative to the suite file.
    #[serde(default)]
    pub path: Option<PathBuf>,
    #[serde(default)]
    pub format: Option<Format>,
    /// Stratified subset of the official train part (before the validation split).
    #[serde(default)]
    pub train_size: Option<usize>,
    /// Stratified subset of the official test part.
    #[serde(default)]
    pub test_size: Option<usize>,
    /// Fraction of the train split held out for validation (model selection only).
    #[serde(default = "default_val_fraction")]
    pub val_fraction: f64,
    /// Seed for the subsets and the validation split; defaults to the cell's seed so
    /// that seed statistics include the variation from the data draw.
    #[serde(default)]
    pub split_seed: Option<u64>,
    /// Classes removed from the train and validation splits (they stay in test):
    /// what an `anomaly` evaluation treats as the anomaly.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub holdout_classes: Vec<usize>,
    /// Keep only these classes, relabelled 0..k−1 in the order listed (class
    /// subsets for transfer experiments). `holdout_classes` then refers to the
    /// new labels.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub classes: Vec<usize>,
    /// Display names of the data's labels, in label order (before `classes`
    /// picks a subset), for tables and figures. Named and folder datasets bring
    /// their own; IDX and CIFAR data without a names file show `class k`.
    /// The count is checked against the data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class_names: Option<Vec<String>>,
    /// A coarser task: each new class (named by its key, labelled 0..k−1 in the
    /// order written) is the union of the listed labels of the data, which must
    /// list every class exactly once (`{tops: [0, 2, 4, 6], bottoms: [1, 3], ...}`).
    /// Not with `classes`; `holdout_classes` then refers to the new labels.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub label_map: IndexMap<String, Vec<usize>>,
    /// Photo formats: resize and crop every image to one size on decoding
    /// (torchvision's `Resize(resize)` + `CenterCrop(size)`), and the channels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<crate::data::prep::ImagePrep>,
    /// Photo formats: an undecodable image stops the run (`error`) or is
    /// left out and counted in the manifest and the report (`skip`).
    #[serde(default, skip_serializing_if = "is_default")]
    pub on_bad_image: crate::data::image_store::OnBadImage,
    /// CSV and parquet: the column names (`path`, `label`, `split`, `image`).
    #[serde(default, skip_serializing_if = "is_default")]
    pub columns: crate::data::parquet::Columns,
    /// webdataset: shard patterns per part (`train: "train-{000000..000099}.tar"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shards: Option<IndexMap<String, String>>,
    /// CSV without a `split` column: this fraction of each class is the test part.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_fraction: Option<f64>,
    /// Worst-group accuracy over these keys: `label` and extra columns of a
    /// CSV manifest (`[site]`, or `[label, site]` for class × site groups).
    /// Read by the report from the stored per-image results: no key moves.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
}

impl Default for DatasetSpec {
    /// No data named: what a suite with `datasets:` holds in `dataset:` until
    /// the matrix sets each one (validation refuses it anywhere else).
    fn default() -> Self {
        DatasetSpec {
            name: None,
            path: None,
            format: None,
            train_size: None,
            test_size: None,
            val_fraction: default_val_fraction(),
            split_seed: None,
            holdout_classes: Vec::new(),
            classes: Vec::new(),
            class_names: None,
            label_map: IndexMap::new(),
            image: None,
            on_bad_image: Default::default(),
            columns: Default::default(),
            shards: None,
            test_fraction: None,
            groups: Vec::new(),
        }
    }
}

impl DatasetSpec {
    /// The dataset on disk (`data::named::resolve`); relative paths are taken
    /// from `spec_dir`, the suite file's folder.
    pub fn source(&self, spec_dir: &std::path::Path) -> crate::error::Result<crate::data::named::Source> {
        let options = crate::data::named::PhotoOptions {
            image: self.image.clone(),
            on_bad_image: self.on_bad_image,
            columns: self.columns.clone(),
            shards: self.shards.clone(),
            test_fraction: self.test_fraction,
            class_names: self.class_names.clone(),
        };
        crate::data::named::resolve(self.name.as_deref(), self.path.as_deref(), self.format, options, spec_dir)
    }
}

fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

/// A whole suite file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Suite {
    /// Name of the suite; the default run directory is `reports/<suite>`.
    pub suite: String,
    #[serde(default)]
    pub description: Option<String>,
    /// The seed of a cell; usually varied through `matrix: {seed: [...]}`.
    #[serde(default)]
    pub seed: u64,
    #[serde(default)]
    pub device: DeviceChoice,
    /// libtorch's deterministic algorithms and deterministic cuDNN (for CUDA;
    /// CPU runs are deterministic already). Not part of cache keys.
    #[serde(default)]
    pub deterministic: bool,
    /// libtorch intra-op threads (default: all cores).
    #[serde(default)]
    pub threads: Option<usize>,
    /// The data; with `datasets:` it is left out and each matrix point gets one.
    #[serde(default)]
    pub dataset: DatasetSpec,
    /// Many tasks in one suite: name → dataset. Each becomes a matrix axis
    /// (`dataset=<name>` in the params), fitted per dataset — or once on
    /// `pretrain:` and evaluated on all — and the report ranks
    /// representations per dataset and aggregates over them.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub datasets: IndexMap<String, DatasetSpec>,
    /// Transfer: when set, every representation is fitted on this data (its train
    /// split) and evaluated on `dataset`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pretrain: Option<DatasetSpec>,
    /// Representations by name, in report order.
    pub representations: IndexMap<String, RepresentationSpec>,
    /// Evaluations by name, each run on every representation.
    pub evaluations: IndexMap<String, EvaluationSpec>,
    /// Dotted path → list of values; the cells are their cartesian product.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub matrix: IndexMap<String, Vec<serde_yaml::Value>>,
    /// The representation every other is compared with (paired, Holm over
    /// k − 1). Without one, all pairs are compared (Holm over k(k − 1)/2).
    /// Declared before the data are seen: that is what makes the design valid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<String>,
    /// Equivalence margin on each headline (absolute, in the metric's units):
    /// every comparison also gets TOST within ±margin and non-inferiority at −margin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub margin: Option<f64>,
    /// Per-evaluation overrides of `baseline` and `margin`, by evaluation name.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub comparisons: IndexMap<String, ComparisonSpec>,
}

/// `comparisons: {<evaluation>: {baseline, margin}}`: one evaluation's design.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComparisonSpec {
    #[serde(default)]
    pub baseline: Option<String>,
    #[serde(default)]
    pub margin: Option<f64>,
}

impl Suite {
    /// The seeds of the matrix's `seed` axis, else the one top-level `seed`.
    pub fn seed_list(&self) -> Vec<u64> {
        match self.matrix.get("seed") {
            Some(values) => values.iter().filter_map(|v| v.as_u64()).collect(),
            None => vec![self.seed],
        }
    }

    /// The baseline and margin an evaluation's comparisons use: its override,
    /// else the suite's.
    pub fn comparison_design(&self, evaluation: &str) -> (Option<String>, Option<f64>) {
        let o = self.comparisons.get(evaluation);
        (o.and_then(|c| c.baseline.clone()).or_else(|| self.baseline.clone()), o.and_then(|c| c.margin).or(self.margin))
    }

    /// The settings `runtime::setup` applies to the process.
    pub fn run_settings(&self) -> crate::runtime::RunSettings {
        crate::runtime::RunSettings { threads: self.threads, deterministic: self.deterministic, device: self.device }
    }
}
