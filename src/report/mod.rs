//! Everything written to a run directory: results (CSV + Parquet, long form),
//! summary statistics over seeds, a manifest of provenance, a bar chart and
//! report.md. `rebuild` regenerates all but the results from stored files, so
//! `repbench report` never trains anything.
pub mod manifest;
pub mod markdown;
pub mod plot;
pub mod stats;
pub mod table;

use crate::cache::store::write_atomic;
use crate::error::Result;
use crate::runner::ResultRow;
use manifest::Manifest;
use std::path::{Path, PathBuf};

/// Writes results, summary, manifest, plots and report into `dir`; returns the
/// path of report.md. Each file is written atomically.
pub fn write_run(dir: &Path, rows: &[ResultRow], manifest: &Manifest) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).map_err(|e| crate::error::Error::io(dir, e))?;
    table::write_results(dir, rows)?;
    let bytes = serde_json::to_vec_pretty(manifest).map_err(|e| crate::error::Error::stage(e.to_string()))?;
    write_atomic(&dir.join("manifest.json"), &bytes)?;
    render(dir, rows, manifest)
}

/// Summary, plots and report.md from rows and manifest.
pub fn render(dir: &Path, rows: &[ResultRow], manifest: &Manifest) -> Result<PathBuf> {
    let summary = stats::summarize(rows);
    table::write_summary(dir, &summary)?;
    let charts = plot::summary_chart(dir, &summary, manifest)?;
    let md = markdown::render(&summary, manifest, &charts);
    let path = dir.join("report.md");
    write_atomic(&path, md.as_bytes())?;
    Ok(path)
}

/// Rebuilds the report of a finished run from its results.parquet and manifest.json.
pub fn rebuild(dir: &Path) -> Result<PathBuf> {
    let manifest = manifest::read(&dir.join("manifest.json"))?;
    let rows = table::read_results(&dir.join("results.parquet"))?;
    render(dir, &rows, &manifest)
}
