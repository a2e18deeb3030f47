//! One lookup for a report's numbers. Results, their summaries and the cells'
//! details are long tables; every table, figure and test of a report asks the
//! same questions of them ("the seeds of this representation's metric in this
//! evaluation", "the cell of seed 2"). They are answered here through keys that
//! name their fields, instead of a four-way string filter written at each use.
use super::stats::SummaryRow;
use crate::runner::{Artifact, ResultRow};
use std::collections::HashMap;

/// One series of numbers: a metric of a representation in an evaluation's
/// params group (one value per seed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SeriesKey<'a> {
    pub evaluation: &'a str,
    /// The matrix params (`""` for an evaluation without a matrix).
    pub params: &'a str,
    pub metric: &'a str,
    pub representation: &'a str,
}

impl<'a> SeriesKey<'a> {
    pub fn of_summary(s: &'a SummaryRow) -> SeriesKey<'a> {
        SeriesKey { evaluation: &s.evaluation, params: &s.params, metric: &s.metric, representation: &s.representation }
    }

    fn of_row(r: &'a ResultRow) -> SeriesKey<'a> {
        SeriesKey { evaluation: &r.evaluation, params: &r.params, metric: &r.metric, representation: &r.representation }
    }

    /// The same series of another representation (the other side of a comparison).
    pub fn with_representation(self, representation: &'a str) -> SeriesKey<'a> {
        SeriesKey { representation, ..self }
    }

    /// The same series' stored cell at `seed`.
    pub fn cell(self, seed: u64) -> CellKey<'a> {
        CellKey { evaluation: self.evaluation, params: self.params, representation: self.representation, seed }
    }
}

/// One evaluation cell: a representation, an evaluation's params group, a seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CellKey<'a> {
    pub evaluation: &'a str,
    pub params: &'a str,
    pub representation: &'a str,
    pub seed: u64,
}

impl<'a> CellKey<'a> {
    fn of_artifact(a: &'a Artifact) -> CellKey<'a> {
        CellKey { evaluation: &a.evaluation, params: &a.params, representation: &a.representation, seed: a.seed }
    }
}

/// Results, summaries and details of one run, keyed. Built in one pass over
/// each table (borrowing their strings), so building it per use is cheap.
pub struct ResultsIndex<'a> {
    /// Series → its position in `series` (a copyable value, so a lookup's
    /// borrow of the map ends at once; see `lookup`).
    values: HashMap<SeriesKey<'a>, usize>,
    series: Vec<Vec<(u64, f64)>>,
    summary: HashMap<SeriesKey<'a>, &'a SummaryRow>,
    summaries: HashMap<&'a str, Vec<&'a SummaryRow>>,
    artifacts: HashMap<CellKey<'a>, &'a Artifact>,
    artifacts_in: HashMap<&'a str, Vec<&'a Artifact>>,
}

impl<'a> ResultsIndex<'a> {
    pub fn new(rows: &'a [ResultRow], summary: &'a [SummaryRow], artifacts: &'a [Artifact]) -> ResultsIndex<'a> {
        let mut index = ResultsIndex {
            values: HashMap::new(),
            series: Vec::new(),
            summary: HashMap::new(),
            summaries: HashMap::new(),
            artifacts: HashMap::new(),
            artifacts_in: HashMap::new(),
        };
        for r in rows {
            let next = index.series.len();
            let at = *index.values.entry(SeriesKey::of_row(r)).or_insert(next);
            if at == next {
                index.series.push(Vec::new());
            }
            index.series[at].push((r.seed, r.value));
        }
        for s in summary {
            index.summary.entry(SeriesKey::of_summary(s)).or_insert(s);
            index.summaries.entry(s.evaluation.as_str()).or_default().push(s);
        }
        for a in artifacts {
            index.artifacts.entry(CellKey::of_artifact(a)).or_insert(a);
            index.artifacts_in.entry(a.evaluation.as_str()).or_default().push(a);
        }
        index
    }

    /// (seed, value) of a series, in the order the results hold them.
    pub fn values(&self, key: &SeriesKey) -> &[(u64, f64)] {
        lookup(&self.values, key).map_or(&[], |&i| self.series[i].as_slice())
    }

    /// The summary over seeds of a series.
    pub fn summary(&self, key: &SeriesKey) -> Option<&'a SummaryRow> {
        lookup(&self.summary, key).copied()
    }

    /// The summaries of an evaluation, in the order of the summary table.
    pub fn summaries(&self, evaluation: &str) -> &[&'a SummaryRow] {
        self.summaries.get(evaluation).map(Vec::as_slice).unwrap_or_default()
    }

    /// The summaries of one metric of an evaluation.
    pub fn metric(&self, evaluation: &str, metric: &str) -> impl Iterator<Item = &'a SummaryRow> + '_ {
        let metric = metric.to_string();
        self.summaries(evaluation).iter().copied().filter(move |s| s.metric == metric)
    }

    /// The params groups of one metric of an evaluation (first-seen order),
    /// each with its representations that have a finite mean: the members of
    /// one ranking or family of comparisons.
    pub fn groups(&self, evaluation: &str, metric: &str) -> Vec<(&'a str, Vec<&'a SummaryRow>)> {
        let in_metric: Vec<&'a SummaryRow> = self.metric(evaluation, metric).collect();
        super::stats::params_groups(in_metric.iter().copied())
            .into_iter()
            .map(|params| {
                (params, in_metric.iter().copied().filter(|s| s.params == params && s.mean.is_finite()).collect())
            })
            .collect()
    }

    /// A cell's stored details.
    pub fn artifact(&self, key: &CellKey) -> Option<&'a Artifact> {
        lookup(&self.artifacts, key).copied()
    }

    /// The stored cells of an evaluation, in the order of details.json.
    pub fn artifacts(&self, evaluation: &str) -> &[&'a Artifact] {
        self.artifacts_in.get(evaluation).map(Vec::as_slice).unwrap_or_default()
    }
}

/// `map.get(key)` where the key may borrow shorter-lived strings than the
/// map's keys: both are taken at a common lifetime (the keys are covariant),
/// which a direct `get` on the field does not infer.
fn lookup<'m, K: Eq + std::hash::Hash, V>(map: &'m HashMap<K, V>, key: &K) -> Option<&'m V> {
    map.get(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(rep: &str, metric: &str, seed: u64, value: f64) -> ResultRow {
        ResultRow {
            suite: "s".into(),
            representation: rep.into(),
            kind: "raw".into(),
            evaluation: "linear".into(),
            eval_kind: "linear_probe".into(),
            metric: metric.into(),
            value,
            seed,
            params: String::new(),
            cell_key: String::new(),
            cached: false,
            fit_seconds: 0.0,
            embed_seconds: 0.0,
            eval_seconds: 0.0,
        }
    }

    #[test]
    fn lookups_find_what_the_filters_found() {
        let rows =
            vec![row("a", "top1", 0, 0.8), row("b", "top1", 0, 0.7), row("a", "top1", 1, 0.9), row("a", "nll", 0, 1.0)];
        let summary = super::super::stats::summarize(&rows);
        let index = ResultsIndex::new(&rows, &summary, &[]);
        let key = SeriesKey { evaluation: "linear", params: "", metric: "top1", representation: "a" };
        assert_eq!(index.values(&key), &[(0, 0.8), (1, 0.9)]);
        assert_eq!(index.summary(&key).map(|s| s.n), Some(2));
        assert_eq!(index.values(&key.with_representation("b")), &[(0, 0.7)]);
        assert!(index.values(&key.with_representation("c")).is_empty());
        assert_eq!(index.summaries("linear").len(), 3);
        assert_eq!(index.metric("linear", "top1").map(|s| s.representation.as_str()).collect::<Vec<_>>(), ["a", "b"]);
        assert!(index.summaries("knn").is_empty() && index.artifact(&key.cell(0)).is_none());
    }
}
