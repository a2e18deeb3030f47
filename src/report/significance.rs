//! The pieces every comparison of two series uses (report::comparisons
//! designs the families): the ranked headlines, and with one seed the
//! per-example test on the shared test images — McNemar's exact test for
//! stored correctness, a paired t over the images for a stored per-image
//! score, each with a paired bootstrap CI. Such an interval is over test images
//! for the trained networks at hand, not over training runs. And a rank table
//! over the evaluations every ranked representation has.
use super::hypothesis::{decode_bits, per_example, per_example_values, Difference};
use super::index::{ResultsIndex, SeriesKey};
use super::stats::SummaryRow;
use crate::runner::Artifact;
use serde::{Deserialize, Serialize};

/// A ranked headline: (evaluation, metric, higher is better) and how its
/// comparisons are designed (a baseline, an equivalence margin).
#[derive(Debug, Clone, PartialEq)]
pub struct RankedHeadline {
    pub evaluation: String,
    /// The evaluation's headline metric.
    pub metric: String,
    pub higher_is_better: bool,
    /// The representation every other is compared with; None: all pairs.
    pub baseline: Option<String>,
    /// Equivalence / non-inferiority margin on the headline (absolute).
    pub margin: Option<f64>,
    /// The family-wise level of the tests (below 0.05 at an interim look of a seed plan).
    pub level: f64,
}

impl RankedHeadline {
    pub fn new(evaluation: impl Into<String>, metric: impl Into<String>, higher_is_better: bool) -> RankedHeadline {
        RankedHeadline {
            evaluation: evaluation.into(),
            metric: metric.into(),
            higher_is_better,
            baseline: None,
            margin: None,
            level: super::seed_plan::ALPHA,
        }
    }
}

/// Per-example correctness of a cell, if its evaluation stored it.
pub fn correct_of(a: &Artifact) -> Option<Vec<bool>> {
    let n = a.details.get("test_images")?.as_u64()? as usize;
    decode_bits(a.details.get("test_correct")?.as_str()?, n)
}

/// Whether the stored correctness belongs to `metric`: evaluations name the
/// metric their stored predictions score (`test_correct_metric`); before they
/// did, it was the headline of the linear probe, k-NN and fine-tuning (top1,
/// the first k's top1).
pub fn is_headline_of_stored(cells: &[&Artifact], metric: &str) -> bool {
    cells.iter().filter(|a| a.details.get("test_correct").is_some_and(|c| !c.is_null())).any(|a| {
        match a.details.get("test_correct_metric").and_then(|m| m.as_str()) {
            Some(m) => m == metric,
            None => metric == "top1" || (metric.starts_with("top1_k") && !metric.contains('@')),
        }
    })
}

/// Per-example scores of `metric` a cell stored (`details.per_image.<metric>`,
/// `null` where an image was not scored), if any.
pub fn scores_of(a: &Artifact, metric: &str) -> Option<Vec<Option<f64>>> {
    let v = a.details.get("per_image")?.get(metric)?.as_array()?;
    Some(v.iter().map(|x| x.as_f64()).collect())
}

/// A per-example comparison of two stored cells scored on the same test
/// images: for a stored score per image, a paired t over the images and a
/// paired bootstrap CI; for stored correctness (when `correct_scores_metric`:
/// the metric is the stored prediction's accuracy), McNemar's exact test and
/// a paired bootstrap CI. None when neither is stored or they do not pair.
pub fn per_example_difference(
    a: &Artifact,
    b: &Artifact,
    metric: &str,
    correct_scores_metric: bool,
    seed: u64,
) -> Option<Difference> {
    if let (Some(va), Some(vb)) = (scores_of(a, metric), scores_of(b, metric)) {
        return per_example_values(&va, &vb, BOOTSTRAP_RESAMPLES, seed);
    }
    if !correct_scores_metric {
        return None;
    }
    per_example(&correct_of(a)?, &correct_of(b)?, BOOTSTRAP_RESAMPLES, seed)
}

/// Resamples of every paired bootstrap interval over test images.
pub const BOOTSTRAP_RESAMPLES: usize = 1000;

/// With one seed there is nothing to pair over seeds, but the two
/// representations were scored on the same test images: the per-example
/// comparison of their stored cells (`per_example_difference`).
pub(crate) fn one_seed(
    index: &ResultsIndex,
    mine: (&SeriesKey, &[(u64, f64)]),
    best: (&SeriesKey, &[(u64, f64)]),
) -> Option<Difference> {
    let ((ka, a), (kb, b)) = (mine, best);
    let ([(sa, _)], [(sb, _)]) = (a, b) else { return None };
    if sa != sb {
        return None;
    }
    let seed = crate::runtime::seeding::derive(
        *sa,
        &format!("bootstrap/{}/{}/{}/{}", ka.evaluation, ka.params, ka.representation, kb.representation),
    );
    let (ca, cb) = (index.artifact(&ka.cell(*sa))?, index.artifact(&kb.cell(*sb))?);
    let stored = is_headline_of_stored(index.artifacts(ka.evaluation), ka.metric);
    per_example_difference(ca, cb, ka.metric, stored, seed)
}

/// Ranks (1 = best; ties share the average rank) of each representation per
/// ranked column, and the mean rank over the columns every ranked
/// representation has (a mean over different columns would compare
/// representations on different evaluations). Columns are `evaluation` or
/// `evaluation [params]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RankTable {
    pub columns: Vec<String>,
    /// Whether each column enters the mean rank (every representation has it).
    pub common: Vec<bool>,
    /// (representation, rank per column (None when absent), mean rank over the common columns), best first.
    pub rows: Vec<(String, Vec<Option<f64>>, f64)>,
}

pub fn rank_table(summary: &[SummaryRow], headlines: &[RankedHeadline], representations: &[String]) -> RankTable {
    let index = ResultsIndex::new(&[], summary, &[]);
    let mut columns = Vec::new();
    let mut ranks: Vec<Vec<Option<f64>>> = vec![Vec::new(); representations.len()];
    for RankedHeadline { evaluation: eval, metric, higher_is_better: higher, .. } in headlines {
        for (params, members) in index.groups(eval, metric) {
            if members.len() < 2 {
                continue;
            }
            columns.push(if params.is_empty() { eval.clone() } else { format!("{eval} [{params}]") });
            let sign = if *higher { 1.0 } else { -1.0 };
            for (i, rep) in representations.iter().enumerate() {
                let r = members.iter().find(|m| &m.representation == rep).map(|m| {
                    let better = members.iter().filter(|o| sign * o.mean > sign * m.mean).count() as f64;
                    let ties = members.iter().filter(|o| o.mean == m.mean).count() as f64;
                    better + (ties + 1.0) / 2.0
                });
                ranks[i].push(r);
            }
        }
    }
    let present: Vec<usize> = (0..representations.len()).filter(|&i| ranks[i].iter().any(Option::is_some)).collect();
    let common: Vec<bool> = (0..columns.len()).map(|c| present.iter().all(|&i| ranks[i][c].is_some())).collect();
    let mut rows: Vec<(String, Vec<Option<f64>>, f64)> = present
        .iter()
        .map(|&i| {
            let r = ranks[i].clone();
            let used: Vec<f64> = r.iter().zip(&common).filter(|(_, c)| **c).filter_map(|(v, _)| *v).collect();
            let mean = if used.is_empty() { f64::NAN } else { used.iter().sum::<f64>() / used.len() as f64 };
            (representations[i].clone(), r, mean)
        })
        .collect();
    rows.sort_by(|a, b| a.2.total_cmp(&b.2));
    RankTable { columns, common, rows }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A one-seed summary row of metric `m`.
    fn row(rep: &str, evaluation: &str, mean: f64) -> SummaryRow {
        SummaryRow {
            representation: rep.into(),
            kind: String::new(),
            params: String::new(),
            evaluation: evaluation.into(),
            eval_kind: String::new(),
            metric: "m".into(),
            mean,
            std: 0.0,
            n: 1,
            ci95_low: mean,
            ci95_high: mean,
            cell_keys: String::new(),
        }
    }

    #[test]
    fn one_seed_scores_per_image_are_compared_on_the_shared_images() {
        // Two ViTs, one seed, `attention_foreground` stored per image: the
        // comparison with the best is paired over images, not "no test: 1 seed".
        let result = |rep: &str, v: f64| crate::runner::ResultRow {
            suite: "s".into(),
            representation: rep.into(),
            kind: String::new(),
            evaluation: "attention".into(),
            eval_kind: "attention_maps".into(),
            metric: "attention_foreground".into(),
            value: v,
            seed: 0,
            params: String::new(),
            cell_key: String::new(),
            cached: false,
            fit_seconds: 0.0,
            embed_seconds: 0.0,
            eval_seconds: 0.0,
        };
        let artifact = |rep: &str, per_image: serde_json::Value| Artifact {
            representation: rep.into(),
            evaluation: "attention".into(),
            eval_kind: "attention_maps".into(),
            seed: 0,
            params: String::new(),
            cell_key: String::new(),
            details: serde_json::json!({ "per_image": { "attention_foreground": per_image } }),
        };
        let rows = vec![result("dino", 1.5), result("sup", 1.2)];
        let mut summary = super::super::stats::summarize(&rows);
        summary.iter_mut().for_each(|s| s.metric = "attention_foreground".into());
        let artifacts = vec![
            artifact("dino", serde_json::json!([1.4, 1.6, null, 1.5])),
            artifact("sup", serde_json::json!([1.1, 1.2, 1.3, 1.3])),
        ];
        let h: Vec<RankedHeadline> = vec![RankedHeadline::new("attention", "attention_foreground", true)];
        let families = crate::report::comparisons::compare(&rows, &summary, &h, &artifacts);
        let sup = families[0].row_of("sup").unwrap();
        assert_eq!(sup.against, "dino");
        // Paired on images 0, 1, 3: differences −0.3, −0.4, −0.2, mean −0.3.
        assert!((sup.diff + 0.3).abs() < 1e-12, "{sup:?}");
        assert!(sup.test.starts_with("paired t over 3 test images"), "{sup:?}");
        assert!(sup.p_value.is_some() && sup.ci.is_some() && sup.one_run);
        // Without stored scores the same rows get no test (one seed).
        let bare = crate::report::comparisons::compare(&rows, &summary, &h, &[]);
        let sup = bare[0].row_of("sup").unwrap();
        assert_eq!((sup.p_value, sup.note.as_deref()), (None, Some("no test: 1 seed")));
    }

    #[test]
    fn ranks_average_ties() {
        let s = vec![row("a", "e", 0.5), row("b", "e", 0.9), row("c", "e", 0.5)];
        let t = rank_table(&s, &[RankedHeadline::new("e", "m", true)], &["a".into(), "b".into(), "c".into()]);
        assert_eq!(t.rows[0].0, "b");
        assert_eq!(t.rows[0].1, vec![Some(1.0)]);
        assert_eq!(t.rows[1].1, vec![Some(2.5)]);
        // Lower is better: the order turns.
        let t = rank_table(&s, &[RankedHeadline::new("e", "m", false)], &["a".into(), "b".into(), "c".into()]);
        assert_eq!(t.rows.last().unwrap().0, "b");
    }

    #[test]
    fn mean_rank_uses_only_the_columns_everyone_has() {
        // `lin` lacks hog: shown in the table, left out of every mean rank.
        let s = vec![
            row("hog", "ft", 0.95),
            row("simclr", "ft", 0.90),
            row("simclr", "lin", 0.8),
            row("sup", "lin", 0.9),
            row("sup", "ft", 0.91),
        ];
        let h: Vec<RankedHeadline> = vec![RankedHeadline::new("ft", "m", true), RankedHeadline::new("lin", "m", true)];
        let t = rank_table(&s, &h, &["hog".into(), "simclr".into(), "sup".into()]);
        assert_eq!(t.common, vec![true, false]);
        let mean = |r: &str| t.rows.iter().find(|x| x.0 == r).unwrap().2;
        assert_eq!((mean("hog"), mean("sup"), mean("simclr")), (1.0, 2.0, 3.0));
    }
}
