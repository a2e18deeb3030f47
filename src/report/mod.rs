//! Everything written to a run directory: results (CSV + Parquet, long form),
//! per-cell details and training logs (JSON), summary statistics over seeds
//! with significance tests, a manifest of provenance, figures, report.md and a
//! self-contained report.html. `rebuild` regenerates all but the stored results,
//! so `repbench report` never trains anything.
pub mod class_gap;
pub mod collapse;
pub mod compare;
pub mod comparisons;
pub mod cost;
pub mod equivalence;
pub mod figure;
pub mod figures;
pub mod heatmaps;
pub mod html;
pub mod hypothesis;
pub mod index;
pub mod manifest;
pub mod maps;
pub mod markdown;
pub mod merge;
pub mod paired;
pub mod per_class;
pub mod plot;
pub mod reliability;
pub mod retrieval;
pub mod robustness;
pub mod seed_plan;
pub mod significance;
pub mod stats;
pub mod summary_table;
pub mod table;
pub mod tasks;
pub mod training_curves;
pub mod worst_group;

use crate::error::{Error, Result};
use crate::files::{read_json, write_atomic};
use crate::runner::{Artifact, ResultRow, TrainLogRecord};
use manifest::Manifest;
use std::path::{Path, PathBuf};

/// What a report is made from (all of it stored in the run directory).
pub struct ReportData {
    pub rows: Vec<ResultRow>,
    pub manifest: Manifest,
    pub artifacts: Vec<Artifact>,
    pub train_logs: Vec<TrainLogRecord>,
    pub summary: Vec<stats::SummaryRow>,
}

impl ReportData {
    pub fn new(
        rows: Vec<ResultRow>,
        manifest: Manifest,
        artifacts: Vec<Artifact>,
        train_logs: Vec<TrainLogRecord>,
    ) -> ReportData {
        let summary = stats::summarize(&rows);
        ReportData { rows, manifest, artifacts, train_logs, summary }
    }

    /// The display name of label `k` (the data's class names, recorded in the
    /// manifest or determined by it, see `Manifest::legacy_class_names`; `class k`
    /// for manifests without them).
    pub fn class_name(&self, k: i64) -> String {
        self.manifest
            .split_counts
            .iter()
            .find_map(|c| c.class_names.get(k as usize))
            .cloned()
            .or_else(|| self.manifest.legacy_class_names().and_then(|n| n.get(k as usize).cloned()))
            .unwrap_or_else(|| format!("class {k}"))
    }

    /// The name of label `k` in the data of the matrix points with `params`
    /// (a suite with `datasets:` or a `label_map` axis names classes per point).
    pub fn class_name_in(&self, params: &str, k: i64) -> String {
        let suffix = format!(" {params}");
        let counts =
            self.manifest.split_counts.iter().find(|c| {
                c.points.iter().any(|p| if params.is_empty() { !p.contains(' ') } else { p.ends_with(&suffix) })
            });
        match counts.and_then(|c| c.class_names.get(k as usize)) {
            Some(n) => n.clone(),
            None => self.class_name(k),
        }
    }

    /// The keyed lookup of this run's results, summaries and details.
    pub fn index(&self) -> index::ResultsIndex<'_> {
        index::ResultsIndex::new(&self.rows, &self.summary, &self.artifacts)
    }

    /// The level of this report's tests: what its seed plan's spending
    /// releases at this look; 0.05 for one look at the whole plan, for seeds
    /// outside the plan (warned about) and for runs without a recorded plan.
    pub fn test_level(&self) -> f64 {
        match &self.manifest.plan {
            Some(p) if p.outside(p.current()).is_empty() => p.level(),
            _ => seed_plan::ALPHA,
        }
    }

    /// (evaluation, headline metric, higher is better) of the evaluations whose headline ranks.
    pub fn ranked_headlines(&self) -> Vec<significance::RankedHeadline> {
        self.manifest
            .evaluations
            .iter()
            .filter(|e| e.ranks)
            .map(|e| significance::RankedHeadline {
                baseline: e.baseline.clone(),
                margin: e.margin,
                level: self.test_level(),
                ..significance::RankedHeadline::new(e.name.clone(), e.headline.clone(), e.higher_is_better)
            })
            .collect()
    }
}

/// Writes results, details, logs, manifest, figures and reports into `dir`;
/// returns the path of report.md. Each file is written atomically.
pub fn write_run(dir: &Path, data: &ReportData) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    table::write_results(dir, &data.rows)?;
    // Compact: per-image scores made details.json the largest file of a run.
    crate::files::write_json_compact(&dir.join("details.json"), &data.artifacts)?;
    crate::files::write_json_compact(&dir.join("train_logs.json"), &data.train_logs)?;
    let bytes = serde_json::to_vec_pretty(&data.manifest).map_err(|e| Error::stage(e.to_string()))?;
    write_atomic(&dir.join("manifest.json"), &bytes)?;
    render(dir, data)
}

/// Summary, significance, figures, report.md and report.html.
pub fn render(dir: &Path, data: &ReportData) -> Result<PathBuf> {
    table::write_summary(dir, &data.summary)?;
    let headlines = data.ranked_headlines();
    let mut families = comparisons::compare_in(dir, &data.rows, &data.summary, &headlines, &data.artifacts)?;
    families.extend(worst_group::families(data));
    let ranks = significance::rank_table(&data.summary, &headlines, &data.manifest.representations);
    let charts = plot::summary_chart(dir, &families, &data.manifest)?;
    let mut figures = Vec::new();
    figures.extend(figures::label_efficiency(dir, data)?);
    figures.extend(figures::depth(dir, data)?);
    figures.extend(figures::severity(dir, data)?);
    figures.extend(figures::finetune_curves(dir, data)?);
    figures.extend(heatmaps::similarity(dir, data)?);
    figures.extend(heatmaps::confusion(dir, data)?);
    figures.extend(reliability::reliability(dir, data)?);
    figures.extend(class_gap::figures(dir, data)?);
    figures.extend(maps::embedding_maps(dir, data)?);
    figures.extend(maps::attention(dir, data)?);
    figures.extend(retrieval::retrieval(dir, data)?);
    figures.extend(cost::pareto(dir, data)?);
    figures.extend(training_curves::training_curves(dir, data)?);
    let table = summary_table::write(dir, data, &families)?;
    let md = markdown::render(data, &families, &ranks, &charts, &figures, &table);
    let path = dir.join("report.md");
    write_atomic(&path, md.as_bytes())?;
    let page = html::render(dir, &md, &data.manifest)?;
    write_atomic(&dir.join("report.html"), page.as_bytes())?;
    Ok(path)
}

/// Reads a finished run directory.
pub fn load(dir: &Path) -> Result<ReportData> {
    let manifest = manifest::read(&dir.join("manifest.json"))?;
    let rows = table::read_results(&dir.join("results.parquet"))?;
    let opt = |name: &str| dir.join(name).exists().then(|| dir.join(name));
    let artifacts = opt("details.json").map(|p| read_json(&p)).transpose()?.unwrap_or_default();
    let train_logs = opt("train_logs.json").map(|p| read_json(&p)).transpose()?.unwrap_or_default();
    Ok(ReportData::new(rows, manifest, artifacts, train_logs))
}

/// Rebuilds the report of a finished run from its stored files.
pub fn rebuild(dir: &Path) -> Result<PathBuf> {
    render(dir, &load(dir)?)
}
