//! Statistics over seeds: mean, sample standard deviation, and a 95 % confidence
//! interval for the mean from Student's t (n − 1 degrees of freedom).
use crate::runner::ResultRow;
use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, StudentsT};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SummaryRow {
    pub representation: String,
    pub kind: String,
    pub params: String,
    pub evaluation: String,
    pub eval_kind: String,
    pub metric: String,
    pub mean: f64,
    pub std: f64,
    pub n: usize,
    pub ci95_low: f64,
    pub ci95_high: f64,
    /// The evaluation cache keys of the seeds, `;`-separated.
    pub cell_keys: String,
}

/// Half-width of the 95 % CI of the mean (NaN for n < 2).
pub fn ci95_half_width(std: f64, n: usize) -> f64 {
    if n < 2 {
        return f64::NAN;
    }
    let t = StudentsT::new(0.0, 1.0, (n - 1) as f64).map(|d| d.inverse_cdf(0.975)).unwrap_or(f64::NAN);
    t * std / (n as f64).sqrt()
}

/// Mean and sample standard deviation (0 for n = 1).
pub fn mean_std(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    if v.len() < 2 {
        return (mean, 0.0);
    }
    let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, var.sqrt())
}

/// Groups rows by (representation, params, evaluation, metric), keeping first-seen order.
pub fn summarize(rows: &[ResultRow]) -> Vec<SummaryRow> {
    let mut groups: Vec<(SummaryRow, Vec<f64>, Vec<String>)> = Vec::new();
    for r in rows {
        let pos = groups.iter().position(|(g, _, _)| {
            g.representation == r.representation
                && g.params == r.params
                && g.evaluation == r.evaluation
                && g.metric == r.metric
        });
        let i = match pos {
            Some(i) => i,
            None => {
                groups.push((
                    SummaryRow {
                        representation: r.representation.clone(),
                        kind: r.kind.clone(),
                        params: r.params.clone(),
                        evaluation: r.evaluation.clone(),
                        eval_kind: r.eval_kind.clone(),
                        metric: r.metric.clone(),
                        mean: 0.0,
                        std: 0.0,
                        n: 0,
                        ci95_low: 0.0,
                        ci95_high: 0.0,
                        cell_keys: String::new(),
                    },
                    Vec::new(),
                    Vec::new(),
                ));
                groups.len() - 1
            }
        };
        groups[i].1.push(r.value);
        groups[i].2.push(r.cell_key[..12.min(r.cell_key.len())].to_string());
    }
    groups
        .into_iter()
        .map(|(mut g, v, keys)| {
            let (mean, std) = mean_std(&v);
            let h = ci95_half_width(std, v.len());
            g.mean = mean;
            g.std = std;
            g.n = v.len();
            g.ci95_low = mean - h;
            g.ci95_high = mean + h;
            g.cell_keys = keys.join(";");
            g
        })
        .collect()
}

/// The distinct matrix params of `rows`, in first-seen order: the groups a
/// table, chart or test is made per.
pub fn params_groups<'a>(rows: impl Iterator<Item = &'a SummaryRow>) -> Vec<&'a str> {
    let mut groups: Vec<&str> = Vec::new();
    for s in rows {
        if !groups.contains(&s.params.as_str()) {
            groups.push(&s.params);
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t_interval_matches_tables() {
        // t_{0.975, 2} = 4.303; values 1, 2, 3: mean 2, sd 1 → half width 4.303/√3.
        let (m, s) = mean_std(&[1.0, 2.0, 3.0]);
        assert_eq!((m, s), (2.0, 1.0));
        assert!((ci95_half_width(s, 3) - 4.302_652_7 / 3f64.sqrt()).abs() < 1e-5);
        assert!(ci95_half_width(1.0, 1).is_nan());
    }
}
