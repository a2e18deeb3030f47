//! Is a difference larger than seed noise? Per evaluation (and matrix params), a
//! Welch t-test of each representation's headline metric against the best one's,
//! and a rank table across evaluations.
//!
//! Welch's test does not assume equal variances; its degrees of freedom come from
//! the Welch–Satterthwaite equation. With fewer than two seeds on either side
//! there is no test (the table says so).
use super::stats::SummaryRow;
use crate::runner::ResultRow;
use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, StudentsT};

/// Two-sided Welch t-test of mean(a) ≠ mean(b): (t, df, p). None with n < 2.
pub fn welch(a: &[f64], b: &[f64]) -> Option<(f64, f64, f64)> {
    if a.len() < 2 || b.len() < 2 {
        return None;
    }
    let (ma, sa) = super::stats::mean_std(a);
    let (mb, sb) = super::stats::mean_std(b);
    let (va, vb) = (sa * sa / a.len() as f64, sb * sb / b.len() as f64);
    let se2 = va + vb;
    if se2 == 0.0 {
        // No spread at all: the means either agree exactly or differ for sure.
        return Some(if ma == mb {
            (0.0, f64::INFINITY, 1.0)
        } else {
            (f64::INFINITY.copysign(ma - mb), f64::INFINITY, 0.0)
        });
    }
    let t = (ma - mb) / se2.sqrt();
    let df = se2 * se2 / (va * va / (a.len() as f64 - 1.0) + vb * vb / (b.len() as f64 - 1.0));
    let dist = StudentsT::new(0.0, 1.0, df).ok()?;
    Some((t, df, 2.0 * (1.0 - dist.cdf(t.abs()))))
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
    pub p_value: Option<f64>,
}

fn values<'a>(rows: &'a [ResultRow], eval: &'a str, params: &'a str, metric: &'a str, rep: &'a str) -> Vec<f64> {
    rows.iter()
        .filter(|r| r.evaluation == eval && r.params == params && r.metric == metric && r.representation == rep)
        .map(|r| r.value)
        .collect()
}

/// Welch tests against the best mean, for each (evaluation, params) group of the
/// given headline metrics (`(evaluation, metric)` pairs that rank).
pub fn versus_best(rows: &[ResultRow], summary: &[SummaryRow], headlines: &[(String, String)]) -> Vec<VsBest> {
    let mut out = Vec::new();
    for (eval, metric) in headlines {
        let groups =
            super::stats::params_groups(summary.iter().filter(|s| &s.evaluation == eval && &s.metric == metric));
        for params in groups {
            let members: Vec<&SummaryRow> = summary
                .iter()
                .filter(|s| &s.evaluation == eval && &s.metric == metric && s.params == params && s.mean.is_finite())
                .collect();
            let Some(best) = members.iter().max_by(|a, b| a.mean.total_cmp(&b.mean)) else { continue };
            let best_vals = values(rows, eval, params, metric, &best.representation);
            for m in &members {
                let is_best = m.representation == best.representation;
                let p = if is_best {
                    None
                } else {
                    welch(&values(rows, eval, params, metric, &m.representation), &best_vals).map(|(_, _, p)| p)
                };
                out.push(VsBest {
                    evaluation: eval.clone(),
                    params: params.to_string(),
                    metric: metric.clone(),
                    representation: m.representation.clone(),
                    best: best.representation.clone(),
                    is_best,
                    p_value: p,
                });
            }
        }
    }
    out
}

/// Ranks (1 = best; ties share the average rank) of each representation per
/// ranked column, and the mean rank. Columns are `evaluation` or `evaluation [params]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RankTable {
    pub columns: Vec<String>,
    /// (representation, rank per column (None when absent), mean rank), best first.
    pub rows: Vec<(String, Vec<Option<f64>>, f64)>,
}

pub fn rank_table(summary: &[SummaryRow], headlines: &[(String, String)], representations: &[String]) -> RankTable {
    let mut columns = Vec::new();
    let mut ranks: Vec<Vec<Option<f64>>> = vec![Vec::new(); representations.len()];
    for (eval, metric) in headlines {
        let groups =
            super::stats::params_groups(summary.iter().filter(|s| &s.evaluation == eval && &s.metric == metric));
        for params in groups {
            let members: Vec<&SummaryRow> = summary
                .iter()
                .filter(|s| &s.evaluation == eval && &s.metric == metric && s.params == params && s.mean.is_finite())
                .collect();
            if members.len() < 2 {
                continue;
            }
            columns.push(if params.is_empty() { eval.clone() } else { format!("{eval} [{params}]") });
            for (i, rep) in representations.iter().enumerate() {
                let r = members.iter().find(|m| &m.representation == rep).map(|m| {
                    let better = members.iter().filter(|o| o.mean > m.mean).count() as f64;
                    let ties = members.iter().filter(|o| o.mean == m.mean).count() as f64;
                    better + (ties + 1.0) / 2.0
                });
                ranks[i].push(r);
            }
        }
    }
    let mut rows: Vec<(String, Vec<Option<f64>>, f64)> = representations
        .iter()
        .zip(ranks)
        .map(|(rep, r)| {
            let present: Vec<f64> = r.iter().flatten().copied().collect();
            let mean = if present.is_empty() { f64::NAN } else { present.iter().sum::<f64>() / present.len() as f64 };
            (rep.clone(), r, mean)
        })
        .filter(|(_, r, _)| r.iter().any(Option::is_some))
        .collect();
    rows.sort_by(|a, b| a.2.total_cmp(&b.2));
    RankTable { columns, rows }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn welch_matches_scipy() {
        // scipy 1.17: ttest_ind([0.81, 0.83, 0.82], [0.78, 0.80, 0.77, 0.79], equal_var=False)
        // → statistic 4.041451884327378, pvalue 0.01007694334798887, df 4.9591836734693935.
        let (t, df, p) = welch(&[0.81, 0.83, 0.82], &[0.78, 0.80, 0.77, 0.79]).unwrap();
        assert!((t - 4.041_451_884_327_378).abs() < 1e-9, "t = {t}");
        assert!((df - 4.959_183_673_469_393_5).abs() < 1e-9, "df = {df}");
        assert!((p - 0.010_076_943_347_988_87).abs() < 1e-9, "p = {p}");
        assert!(welch(&[1.0], &[1.0, 2.0]).is_none());
        assert_eq!(welch(&[1.0, 1.0], &[1.0, 1.0]).unwrap().2, 1.0);
    }

    #[test]
    fn ranks_average_ties() {
        let row = |rep: &str, mean: f64| SummaryRow {
            representation: rep.into(),
            kind: String::new(),
            params: String::new(),
            evaluation: "e".into(),
            eval_kind: String::new(),
            metric: "m".into(),
            mean,
            std: 0.0,
            n: 1,
            ci95_low: mean,
            ci95_high: mean,
            cell_keys: String::new(),
        };
        let s = vec![row("a", 0.5), row("b", 0.9), row("c", 0.5)];
        let t = rank_table(&s, &[("e".into(), "m".into())], &["a".into(), "b".into(), "c".into()]);
        assert_eq!(t.rows[0].0, "b");
        assert_eq!(t.rows[0].1, vec![Some(1.0)]);
        assert_eq!(t.rows[1].1, vec![Some(2.5)]);
    }
}
