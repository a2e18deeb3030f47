//! manifest.json: what was run, on what, by which build — enough to reproduce
//! or audit every number in the report.
use crate::error::{Error, IoContext, Result};
use crate::eval::{EvaluationSpec, FigureKind};
use crate::runner::Failure;
use crate::runtime::environment::EnvInfo;
use serde::{Deserialize, Serialize};
use std::path::Path;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DatasetRecord {
    pub name: String,
    pub format: String,
    pub root: String,
    pub files: usize,
    pub fingerprint: String,
    pub note: Option<String>,
    /// Photo formats: the decoded image store the run read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub images: Option<ImageStoreRecord>,
}

/// The decoded image store of a photo dataset, as the report states it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImageStoreRecord {
    pub key: String,
    /// C × H × W of every stored image.
    pub shape: [usize; 3],
    pub train: usize,
    pub val: usize,
    pub test: usize,
    pub bytes: u64,
    /// Seconds the decode took (when this run or an earlier one built it).
    pub build_seconds: f64,
    /// Images left out under `on_bad_image: skip`: how many, and the first ones.
    pub skipped: usize,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped_examples: Vec<crate::data::image_store::Skipped>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EvaluationRecord {
    pub name: String,
    pub kind: String,
    /// The metric shown in the summary chart.
    pub headline: String,
    /// Whether a larger headline is better (false for descriptive evaluations
    /// such as CKA or attention entropy, which get no tests or ranks).
    #[serde(default = "yes")]
    pub ranks: bool,
    /// Whether a larger headline is better (arrows and "best" follow it).
    #[serde(default = "yes")]
    pub higher_is_better: bool,
    /// Whether the headline is a share in [0, 1], so differences read in
    /// percentage points (false for ratios such as `attention_foreground`).
    #[serde(default = "yes")]
    pub proportion: bool,
    /// The figures the evaluation declares; manifests written before they were
    /// recorded get those of their kind when read.
    #[serde(default)]
    pub figures: Option<Vec<FigureKind>>,
    /// Metrics that record a choice or a count (no CI, no test); filled from
    /// the kind's declaration when an older manifest lacks them.
    #[serde(default)]
    pub choices: Vec<String>,
    /// The representation the suite compares every other with (`baseline:`);
    /// None: all pairs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<String>,
    /// The suite's equivalence / non-inferiority margin on the headline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub margin: Option<f64>,
}

impl EvaluationRecord {
    pub fn of(name: &str, spec: &EvaluationSpec) -> EvaluationRecord {
        let h = spec.headline();
        EvaluationRecord {
            name: name.to_string(),
            kind: spec.kind().into(),
            headline: h.metric,
            ranks: h.ranked,
            higher_is_better: h.higher_is_better,
            proportion: h.proportion,
            figures: Some(spec.as_dyn().figures().to_vec()),
            choices: spec.as_dyn().choices().iter().map(|c| c.to_string()).collect(),
            baseline: None,
            margin: None,
        }
    }

    /// Whether `metric` records a choice (`l2`, or `l2@0.1` of a per-fraction metric).
    pub fn is_choice(&self, metric: &str) -> bool {
        self.choices.iter().any(|c| metric == c || metric.strip_prefix(c.as_str()).is_some_and(|r| r.starts_with('@')))
    }

    /// Whether the report draws `f` for this evaluation.
    pub fn draws(&self, f: FigureKind) -> bool {
        self.figures.as_ref().is_some_and(|v| v.contains(&f))
    }

    /// Fills what an older manifest lacks from the kind's declaration (its
    /// figures; descriptive kinds stop ranking).
    fn fill_legacy(&mut self) {
        let spec = serde_json::from_value::<EvaluationSpec>(serde_json::json!({ "kind": self.kind })).ok();
        // A kind that became descriptive stops ranking in reports rebuilt from older runs.
        if let Some(s) = &spec {
            self.ranks &= s.headline().ranked;
            // Manifests written before `proportion` read it as true: a kind
            // whose headline is a ratio is never read as a share.
            self.proportion &= s.headline().proportion;
            if self.choices.is_empty() {
                self.choices = s.as_dyn().choices().iter().map(|c| c.to_string()).collect();
            }
        }
        let declared = spec.as_ref().map(|s| s.as_dyn().figures().to_vec()).unwrap_or_default();
        let figures = self.figures.get_or_insert_with(Vec::new);
        // Figure kinds declared since the manifest was written (the confusion
        // matrix became one in issue 33; it was drawn from its details before).
        for f in declared {
            if !figures.contains(&f) {
                figures.push(f);
            }
        }
    }
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub suite: String,
    pub description: Option<String>,
    pub spec_path: String,
    pub spec_sha256: String,
    pub spec_text: String,
    /// Seeds given with `repbench run --seeds` in place of the suite's matrix seeds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seeds_override: Option<Vec<u64>>,
    pub command: Vec<String>,
    pub started_unix: u64,
    pub device: String,
    pub cache_dir: String,
    pub environment: EnvInfo,
    pub datasets: Vec<DatasetRecord>,
    /// Representation names in suite order (for stable colours and rows).
    pub representations: Vec<String>,
    pub evaluations: Vec<EvaluationRecord>,
    pub cells: usize,
    pub computed_cells: usize,
    pub cached_cells: usize,
    pub total_seconds: f64,
    pub failures: Vec<Failure>,
    /// Evaluations that do not apply to a representation.
    #[serde(default)]
    pub skipped: Vec<Failure>,
    /// Ctrl-C stopped the run; the report covers what finished.
    #[serde(default)]
    pub interrupted: bool,
    /// Files the imported representations read, with their content hash (the
    /// cache keys hold the hash, not the path).
    #[serde(default)]
    pub imported_files: Vec<ImportedFile>,
    /// Images of each class per split, for each distinct data split of the run.
    #[serde(default)]
    pub split_counts: Vec<SplitCounts>,
    /// The runs `repbench merge` pooled into this one (empty for a plain run).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub merged_from: Vec<MergedSource>,
    /// The suite's seed plan and every look at it, this one last (absent in
    /// runs made before plans were recorded: one look at 0.05).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<super::seed_plan::SeedPlan>,
}

/// One run of a merge: where it came from, which seeds it holds and how it ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MergedSource {
    pub dir: String,
    pub suite: String,
    pub spec_path: String,
    pub spec_sha256: String,
    pub seeds: Vec<u64>,
    pub git_commit: String,
    pub git_dirty: bool,
    pub machine: String,
    pub device: String,
    pub started_unix: u64,
    pub total_seconds: f64,
    pub computed_cells: usize,
    pub cached_cells: usize,
}

/// How many images of each class a split used (the evaluation data of a matrix point).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitCounts {
    /// Which points use it (`seed=0`, `seed=0 lr=0.1`, …).
    pub points: Vec<String>,
    pub dataset: String,
    pub classes: usize,
    /// Display names of the labels (empty in manifests written before names were kept).
    #[serde(default)]
    pub class_names: Vec<String>,
    pub train: Vec<usize>,
    pub val: Vec<usize>,
    pub test: Vec<usize>,
    /// The test images' groups (`dataset.groups`), in the test split's order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<crate::data::groups::TestGroups>,
    /// Why the groups the suite asks for could not be computed (the report warns).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups_error: Option<String>,
}

impl SplitCounts {
    /// Whether the matrix point of `seed` and `params` used this split
    /// (`points` holds their labels, `seed=0 dataset=coarse`).
    pub fn has_point(&self, seed: u64, params: &str) -> bool {
        let label = if params.is_empty() { format!("seed={seed}") } else { format!("seed={seed} {params}") };
        self.points.contains(&label)
    }
}

/// A file an imported representation reads (resolved by the plan, recorded here).
pub use crate::runner::plan::ImportedFile;

pub fn read(path: &Path) -> Result<Manifest> {
    let text = std::fs::read_to_string(path).at(path)?;
    let mut m: Manifest =
        serde_json::from_str(&text).map_err(|e| Error::data(path, format!("not a repbench manifest: {e}")))?;
    m.evaluations.iter_mut().for_each(EvaluationRecord::fill_legacy);
    if let Some(names) = m.legacy_class_names() {
        for c in m.split_counts.iter_mut().filter(|c| c.class_names.is_empty() && c.classes == names.len()) {
            c.class_names = names.clone();
        }
    }
    Ok(m)
}

impl Manifest {
    /// Class names for a manifest written before they were recorded, where the
    /// record itself determines them: one dataset, the named Fashion-MNIST read
    /// from its Debian package, and a suite that selects no class subset (so the
    /// labels are the package's 0–9). `None` when the manifest has names of its
    /// own or anything about the data is less certain; figures then say `class k`.
    pub fn legacy_class_names(&self) -> Option<Vec<String>> {
        use crate::data::named::{FASHION_MNIST_CLASSES, FASHION_MNIST_DEBIAN};
        if self.split_counts.iter().any(|c| !c.class_names.is_empty()) {
            return None;
        }
        let [d] = self.datasets.as_slice() else { return None };
        let named = d.name == "fashion-mnist" && d.root == FASHION_MNIST_DEBIAN && d.format == "idx";
        if !named || self.spec_text.contains("classes:") {
            return None;
        }
        Some(FASHION_MNIST_CLASSES.iter().map(|s| s.to_string()).collect())
    }
}
