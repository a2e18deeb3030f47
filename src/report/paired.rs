//! `repbench compare RUN --pair A B --evaluation E`: two representations
//! compared on the same test examples, per seed — for the comparisons a report
//! does not make (it compares each representation with its evaluation's
//! leader), e.g. a method against its untrained floor, or one representation
//! before and after a change (B read from another run with the same split).
//! The tests and the bootstrap seed are the report's own
//! (`significance::per_example_difference`), so a pair the report also
//! compares gets the report's interval to the last digit.
use super::hypothesis::Difference;
use super::index::{CellKey, ResultsIndex};
use super::significance::{is_headline_of_stored, per_example_difference};
use super::ReportData;
use crate::error::{Error, Result};
use crate::runner::Artifact;
use std::fmt;

/// What to compare: `a` in the first run against `b` in the second (which may
/// be the same run), in one evaluation and params group.
#[derive(Debug, Clone, Default)]
pub struct PairRequest {
    pub evaluation: String,
    pub params: String,
    pub a: String,
    pub b: String,
    /// The seeds to compare; empty: every seed both have.
    pub seeds: Vec<u64>,
}

/// One metric at one seed: a − b over the test examples.
#[derive(Debug, Clone, PartialEq)]
pub struct PairedLine {
    pub seed: u64,
    pub metric: String,
    pub a: String,
    pub b: String,
    pub difference: Difference,
}

impl fmt::Display for PairedLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = &self.difference;
        write!(f, "seed {} {}: {} − {} = {:+.4}", self.seed, self.metric, self.a, self.b, d.diff)?;
        if let Some((lo, hi)) = d.ci {
            write!(f, ", 95 % CI [{lo:+.4}, {hi:+.4}]")?;
        }
        match d.p {
            // Below f64's smallest normal: what the t and binomial tails underflow to.
            Some(p) if p < f64::MIN_POSITIVE => write!(f, ", p < 1e-300")?,
            Some(p) => write!(f, ", p = {p:.2e}")?,
            None => {}
        }
        write!(f, " ({})", d.test)?;
        if let Some(n) = &d.note {
            write!(f, "; {n}")?;
        }
        Ok(())
    }
}

/// The per-example comparisons of `req.a` (in `run_a`) and `req.b` (in
/// `run_b`), one line per seed and metric stored per example: each per-image
/// score, and the accuracy whose predictions the cell stored.
pub fn compare_pair(run_a: &ReportData, run_b: &ReportData, req: &PairRequest) -> Result<Vec<PairedLine>> {
    let (ia, ib) = (run_a.index(), run_b.index());
    let cells_a = named_cells(ia.artifacts(&req.evaluation), &req.a, &req.params, &req.evaluation, run_a)?;
    let cells_b = named_cells(ib.artifacts(&req.evaluation), &req.b, &req.params, &req.evaluation, run_b)?;
    let seeds: Vec<u64> = if req.seeds.is_empty() {
        cells_a.iter().map(|c| c.seed).filter(|s| cells_b.iter().any(|c| c.seed == *s)).collect()
    } else {
        req.seeds.clone()
    };
    if seeds.is_empty() {
        return Err(Error::usage(format!("{} and {} share no seed in `{}`", req.a, req.b, req.evaluation)));
    }
    let headline = run_a.manifest.evaluations.iter().find(|e| e.name == req.evaluation).map(|e| e.headline.as_str());
    let mut out = Vec::new();
    for seed in seeds {
        fn cell<'i>(
            run: &str,
            index: &ResultsIndex<'i>,
            req: &PairRequest,
            rep: &str,
            seed: u64,
        ) -> Result<&'i Artifact> {
            index
                .artifact(&CellKey { evaluation: &req.evaluation, params: &req.params, representation: rep, seed })
                .ok_or_else(|| Error::usage(format!("{run}: no cell of {rep} in `{}` at seed {seed}", req.evaluation)))
        }
        let (ca, cb) = (cell("run A", &ia, req, &req.a, seed)?, cell("run B", &ib, req, &req.b, seed)?);
        let bootstrap = crate::runtime::seeding::derive(
            seed,
            &format!("bootstrap/{}/{}/{}/{}", req.evaluation, req.params, req.a, req.b),
        );
        for metric in stored_metrics(ca, ia.artifacts(&req.evaluation), headline) {
            // Listed metrics are stored per example: per-image scores are read
            // first, and a predictions metric passed `is_headline_of_stored`.
            let Some(difference) = per_example_difference(ca, cb, &metric, true, bootstrap) else {
                return Err(Error::usage(format!(
                    "`{}` seed {seed}: {} and {} do not pair on `{metric}` (stored for one side only, or for different numbers of test examples)",
                    req.evaluation, req.a, req.b
                )));
            };
            out.push(PairedLine { seed, metric, a: req.a.clone(), b: req.b.clone(), difference });
        }
    }
    if out.is_empty() {
        return Err(Error::usage(format!(
            "`{}` stores nothing per test example (no predictions, no per-image scores): nothing to pair",
            req.evaluation
        )));
    }
    Ok(out)
}

/// The cells of one representation in an evaluation, or an error that lists
/// what the run holds.
fn named_cells<'a>(
    cells: &[&'a Artifact],
    rep: &str,
    params: &str,
    evaluation: &str,
    run: &ReportData,
) -> Result<Vec<&'a Artifact>> {
    if cells.is_empty() {
        let names: Vec<&str> = run.manifest.evaluations.iter().map(|e| e.name.as_str()).collect();
        return Err(Error::usage(format!(
            "no stored cells of evaluation `{evaluation}`; the run has: {}",
            names.join(", ")
        )));
    }
    let mine: Vec<&Artifact> =
        cells.iter().copied().filter(|c| c.representation == rep && c.params == params).collect();
    if mine.is_empty() {
        let mut names: Vec<&str> = Vec::new();
        for c in cells {
            if !names.contains(&c.representation.as_str()) {
                names.push(&c.representation);
            }
        }
        return Err(Error::usage(format!(
            "no cell of `{rep}` in `{evaluation}`{}; it has: {}",
            if params.is_empty() { String::new() } else { format!(" [{params}]") },
            names.join(", ")
        )));
    }
    Ok(mine)
}

/// The metrics a cell stored per example: its per-image scores, then the
/// accuracy its stored predictions score.
fn stored_metrics(cell: &Artifact, evaluation_cells: &[&Artifact], headline: Option<&str>) -> Vec<String> {
    let mut out: Vec<String> = cell
        .details
        .get("per_image")
        .and_then(|p| p.as_object())
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    if cell.details.get("test_correct").is_some_and(|c| !c.is_null()) {
        let metric = cell.details.get("test_correct_metric").and_then(|m| m.as_str()).or(headline);
        if let Some(m) = metric.filter(|m| is_headline_of_stored(evaluation_cells, m)) {
            out.push(m.to_string());
        }
    }
    out
}
