//! Is a difference larger than seed noise? Per evaluation (and matrix params),
//! each representation's headline metric against the best one's: the
//! difference with its 95 % CI, a paired t-test over seeds (cells of one seed
//! share their split) or Welch's where seeds do not pair, and Holm–Bonferroni
//! over the evaluation's family of comparisons. Degenerate cases (one seed, no
//! spread) get a reason, not a p-value. With one seed, the per-example test
//! on the shared test images is what a comparison uses: McNemar's exact test
//! for stored correctness, a paired t over the images for a stored per-image
//! score, each with a paired bootstrap CI. Such an interval is over test images
//! for the trained networks at hand, not over training runs. And a rank table
//! over the evaluations every ranked representation has.
use super::hypothesis::{decode_bits, difference, holm, per_example, per_example_values, Difference};
use super::index::{ResultsIndex, SeriesKey};
use super::stats::SummaryRow;
use crate::runner::{Artifact, ResultRow};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// A ranked headline: (evaluation, metric, higher is better).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RankedHeadline {
    pub evaluation: String,
    /// The evaluation's headline metric.
    pub metric: String,
    pub higher_is_better: bool,
}

impl RankedHeadline {
    pub fn new(evaluation: impl Into<String>, metric: impl Into<String>, higher_is_better: bool) -> RankedHeadline {
        RankedHeadline { evaluation: evaluation.into(), metric: metric.into(), higher_is_better }
    }
}

/// One representation's comparison with the best in its group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VsBest {
    pub evaluation: String,
    pub params: String,
    pub metric: String,
    pub representation: String,
    pub best: String,
    pub is_best: bool,
    /// mean(this) − mean(best).
    pub diff: f64,
    /// 95 % CI of the difference (paired or Welch).
    pub ci: Option<(f64, f64)>,
    /// The raw two-sided p-value and the Holm-adjusted one (family: the
    /// evaluation's comparisons against its best, per params group).
    pub p_value: Option<f64>,
    pub p_holm: Option<f64>,
    /// `paired t, 3 seeds` or `Welch t, …`.
    pub test: String,
    /// Why there is no test, or a caution.
    pub note: Option<String>,
    /// How many comparisons the Holm family holds.
    pub family: usize,
}

impl VsBest {
    /// The series this comparison is about.
    pub fn key(&self) -> SeriesKey<'_> {
        SeriesKey {
            evaluation: &self.evaluation,
            params: &self.params,
            metric: &self.metric,
            representation: &self.representation,
        }
    }

    /// The comparison of a series, if one was made.
    pub fn of<'v>(all: &'v [VsBest], key: &SeriesKey) -> Option<&'v VsBest> {
        all.iter().find(|v| v.key() == *key)
    }

    /// Worse than the best at Holm-adjusted p < 0.05.
    pub fn resolved(&self) -> bool {
        self.p_holm.is_some_and(|p| p < 0.05)
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
fn one_seed(
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

/// The comparisons against the best mean (in the metric's direction), per
/// (evaluation, params) group of the ranked headlines.
pub fn versus_best(
    rows: &[ResultRow],
    summary: &[SummaryRow],
    headlines: &[RankedHeadline],
    artifacts: &[Artifact],
) -> Vec<VsBest> {
    let index = ResultsIndex::new(rows, summary, artifacts);
    let mut out = Vec::new();
    for RankedHeadline { evaluation: eval, metric, higher_is_better: higher } in headlines {
        for (params, members) in index.groups(eval, metric) {
            let better = |a: &&&SummaryRow, b: &&&SummaryRow| {
                if *higher {
                    a.mean.total_cmp(&b.mean)
                } else {
                    b.mean.total_cmp(&a.mean)
                }
            };
            let Some(best) = members.iter().max_by(better) else { continue };
            let best_key = SeriesKey::of_summary(best);
            let best_vals = index.values(&best_key);
            let start = out.len();
            // Each comparison draws from its own seeded generator, so computing
            // them in parallel gives the same intervals; the leader is not
            // compared with itself.
            let diffs: Vec<Option<Difference>> = members
                .par_iter()
                .map(|m| {
                    if m.representation == best.representation {
                        return None;
                    }
                    let key = SeriesKey::of_summary(m);
                    let mine = index.values(&key);
                    Some(
                        one_seed(&index, (&key, mine), (&best_key, best_vals))
                            .unwrap_or_else(|| difference(mine, best_vals)),
                    )
                })
                .collect();
            for (m, d) in members.iter().zip(diffs) {
                let is_best = d.is_none();
                let d = d.unwrap_or_else(Difference::none);
                out.push(VsBest {
                    evaluation: eval.clone(),
                    params: params.to_string(),
                    metric: metric.clone(),
                    representation: m.representation.clone(),
                    best: best.representation.clone(),
                    is_best,
                    diff: if is_best { 0.0 } else { d.diff },
                    ci: if is_best { None } else { d.ci },
                    p_value: if is_best { None } else { d.p },
                    p_holm: None,
                    test: if is_best { String::new() } else { d.test },
                    note: if is_best { None } else { d.note },
                    family: 0,
                });
            }
            let family = &mut out[start..];
            let adjusted = holm(&family.iter().map(|v| v.p_value).collect::<Vec<_>>());
            let m = adjusted.iter().flatten().count();
            for (v, p) in family.iter_mut().zip(adjusted) {
                v.p_holm = p;
                v.family = m;
            }
        }
    }
    out
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
    for RankedHeadline { evaluation: eval, metric, higher_is_better: higher } in headlines {
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
        let result = |rep: &str, v: f64| ResultRow {
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
        let v = versus_best(&rows, &summary, &h, &artifacts);
        let sup = v.iter().find(|x| x.representation == "sup").unwrap();
        assert_eq!(sup.best, "dino");
        // Paired on images 0, 1, 3: differences −0.3, −0.4, −0.2, mean −0.3.
        assert!((sup.diff + 0.3).abs() < 1e-12, "{sup:?}");
        assert!(sup.test.starts_with("paired t over 3 test images"), "{sup:?}");
        assert!(sup.p_value.is_some() && sup.ci.is_some());
        // Without stored scores the same rows get no test (one seed).
        let bare = versus_best(&rows, &summary, &h, &[]);
        let sup = bare.iter().find(|x| x.representation == "sup").unwrap();
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
