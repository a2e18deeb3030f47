//! Many tasks in one suite (`datasets:`): does one representation win
//! everywhere? Per ranked evaluation, a representation × task table (mean
//! over seeds and the rank within the task, 1 = best) and two aggregates over
//! tasks, each with a 95 % interval from a stratified bootstrap (seeds
//! resampled within each task and representation, as rliable does):
//!
//! - the **mean rank** over tasks;
//! - the **IQM of normalised scores**, as GEO-Bench aggregates: within a task
//!   every seed's score is min–max normalised over all representations and
//!   seeds of that task (1 = the best score seen, 0 = the worst), then the
//!   interquartile mean (the mean of the middle 50 %, `trim_mean(·, 0.25)`)
//!   over all tasks × seeds of the representation.
//!
//! A task is a matrix point's params (`dataset=<name>`, with any other axes).
use super::index::SeriesKey;
use super::manifest::EvaluationRecord;
use super::ReportData;
use std::fmt::Write;

/// Bootstrap resamples behind each interval.
const RESAMPLES: usize = 2000;

/// The scores of one evaluation: tasks, representations, and per task and
/// representation the per-seed values (empty where it did not run).
pub struct TaskScores {
    pub tasks: Vec<String>,
    pub reps: Vec<String>,
    pub values: Vec<Vec<Vec<f64>>>,
    pub higher_is_better: bool,
}

/// The interquartile mean: the mean of the values left after cutting
/// ⌊n/4⌋ from each end of the sorted list (scipy's `trim_mean(x, 0.25)`).
pub fn iqm(v: &[f64]) -> f64 {
    let mut s: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if s.is_empty() {
        return f64::NAN;
    }
    s.sort_by(f64::total_cmp);
    let cut = s.len() / 4;
    let mid = &s[cut..s.len() - cut];
    mid.iter().sum::<f64>() / mid.len() as f64
}

/// Ranks of `means` (1 = best), ties sharing the average rank; NaN stays NaN.
pub fn ranks(means: &[f64], higher_is_better: bool) -> Vec<f64> {
    means
        .iter()
        .map(|&m| {
            if !m.is_finite() {
                return f64::NAN;
            }
            let others = means.iter().filter(|o| o.is_finite());
            let better = others.clone().filter(|&&o| if higher_is_better { o > m } else { o < m }).count();
            let ties = others.filter(|&&o| o == m).count();
            better as f64 + (ties as f64 + 1.0) / 2.0
        })
        .collect()
}

fn mean(v: &[f64]) -> f64 {
    if v.is_empty() {
        f64::NAN
    } else {
        v.iter().sum::<f64>() / v.len() as f64
    }
}

impl TaskScores {
    /// Mean rank and IQM of normalised scores per representation, from
    /// `values` (the observed ones, or a bootstrap resample).
    fn aggregates(&self, values: &[Vec<Vec<f64>>]) -> Vec<(f64, f64)> {
        let mut rank_sum = vec![0.0; self.reps.len()];
        let mut rank_n = vec![0usize; self.reps.len()];
        let mut normalised: Vec<Vec<f64>> = vec![Vec::new(); self.reps.len()];
        for per_rep in values {
            let means: Vec<f64> = per_rep.iter().map(|v| mean(v)).collect();
            for (r, rk) in ranks(&means, self.higher_is_better).into_iter().enumerate() {
                if rk.is_finite() {
                    rank_sum[r] += rk;
                    rank_n[r] += 1;
                }
            }
            let all = per_rep.iter().flatten();
            let (lo, hi) = all.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| (a.min(x), b.max(x)));
            let span = hi - lo;
            for (r, v) in per_rep.iter().enumerate() {
                for &x in v {
                    let n = if span > 0.0 { (x - lo) / span } else { 1.0 };
                    normalised[r].push(if self.higher_is_better { n } else { 1.0 - n });
                }
            }
        }
        (0..self.reps.len())
            .map(|r| (if rank_n[r] > 0 { rank_sum[r] / rank_n[r] as f64 } else { f64::NAN }, iqm(&normalised[r])))
            .collect()
    }

    /// Per representation: (mean rank, its 95 % CI), (IQM, its 95 % CI).
    #[allow(clippy::type_complexity)]
    pub fn summary(&self, seed: u64) -> Vec<((f64, f64, f64), (f64, f64, f64))> {
        use rand::{Rng, SeedableRng};
        let observed = self.aggregates(&self.values);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut boot: Vec<Vec<(f64, f64)>> = vec![Vec::with_capacity(RESAMPLES); self.reps.len()];
        for _ in 0..RESAMPLES {
            let resample: Vec<Vec<Vec<f64>>> = self
                .values
                .iter()
                .map(|per_rep| {
                    per_rep.iter().map(|v| (0..v.len()).map(|_| v[rng.random_range(0..v.len())]).collect()).collect()
                })
                .collect();
            for (r, a) in self.aggregates(&resample).into_iter().enumerate() {
                boot[r].push(a);
            }
        }
        let quantiles = |mut x: Vec<f64>| {
            x.retain(|v| v.is_finite());
            x.sort_by(f64::total_cmp);
            if x.is_empty() {
                return (f64::NAN, f64::NAN);
            }
            let q = |p: f64| x[((p * (x.len() - 1) as f64).round() as usize).min(x.len() - 1)];
            (q(0.025), q(0.975))
        };
        observed
            .into_iter()
            .zip(boot)
            .map(|((rank, iq), b)| {
                let (rl, rh) = quantiles(b.iter().map(|p| p.0).collect());
                let (il, ih) = quantiles(b.iter().map(|p| p.1).collect());
                ((rank, rl, rh), (iq, il, ih))
            })
            .collect()
    }
}

/// The tasks of a run: its params groups, when the suite has `datasets:`.
fn tasks(data: &ReportData, ev: &str) -> Vec<String> {
    let groups = super::stats::params_groups(data.index().summaries(ev).iter().copied());
    let tasks: Vec<String> = groups.into_iter().map(String::from).collect();
    if tasks.len() >= 2 && tasks.iter().all(|t| t.split(',').any(|p| p.starts_with("dataset="))) {
        tasks
    } else {
        Vec::new()
    }
}

pub fn scores(data: &ReportData, ev: &EvaluationRecord) -> Option<TaskScores> {
    let tasks = tasks(data, &ev.name);
    if tasks.is_empty() {
        return None;
    }
    let index = data.index();
    let reps = data.manifest.representations.clone();
    let values = tasks
        .iter()
        .map(|t| {
            reps.iter()
                .map(|r| {
                    let key = SeriesKey { evaluation: &ev.name, params: t, metric: &ev.headline, representation: r };
                    index.values(&key).iter().map(|(_, v)| *v).filter(|v| v.is_finite()).collect()
                })
                .collect()
        })
        .collect();
    Some(TaskScores { tasks, reps, values, higher_is_better: ev.higher_is_better })
}

/// The "Across tasks" section: one table per ranked evaluation.
pub fn section(o: &mut String, data: &ReportData) {
    let evs: Vec<(&EvaluationRecord, TaskScores)> =
        data.manifest.evaluations.iter().filter(|e| e.ranks).filter_map(|e| Some((e, scores(data, e)?))).collect();
    let Some((_, first)) = evs.first() else { return };
    let _ = writeln!(o, "## Across tasks\n");
    let _ = writeln!(o, "Does one representation win everywhere? {} tasks: {}. Per evaluation, each task's headline (mean over seeds) with the representation's rank in that task (1 = best, ties share the mean rank), then two aggregates over tasks with 95 % intervals from a stratified bootstrap ({RESAMPLES} resamples of the seeds within each task): the mean rank, and the interquartile mean (IQM) of scores min–max normalised within each task over all representations and seeds (1 = the best score of the task), over all tasks × seeds, as GEO-Bench aggregates. Few tasks make wide intervals: an aggregate describes these tasks, not tasks in general.\n", first.tasks.len(), first.tasks.iter().map(|t| format!("`{t}`")).collect::<Vec<_>>().join(", "));
    for (ev, s) in &evs {
        let sum = s.summary(0);
        let pct = ev.proportion;
        let _ = writeln!(
            o,
            "**{}** — {} ({} is better)\n",
            ev.name,
            ev.headline,
            if ev.higher_is_better { "higher" } else { "lower" }
        );
        let _ = writeln!(
            o,
            "| representation | {} | mean rank [95 % CI] | IQM normalised [95 % CI] |",
            s.tasks.join(" | ")
        );
        let _ = writeln!(o, "|---|{}---|---|", "---|".repeat(s.tasks.len()));
        let task_ranks: Vec<Vec<f64>> = s
            .values
            .iter()
            .map(|per_rep| ranks(&per_rep.iter().map(|v| mean(v)).collect::<Vec<_>>(), s.higher_is_better))
            .collect();
        let best_rank = sum.iter().map(|a| a.0 .0).filter(|v| v.is_finite()).fold(f64::INFINITY, f64::min);
        for (r, rep) in s.reps.iter().enumerate() {
            let cells: Vec<String> = (0..s.tasks.len())
                .map(|t| {
                    let m = mean(&s.values[t][r]);
                    if !m.is_finite() {
                        return "—".into();
                    }
                    let shown = if pct { format!("{:.1}", m * 100.0) } else { format!("{m:.4}") };
                    let rk = task_ranks[t][r];
                    if rk == 1.0 {
                        format!("**{shown}** (1)")
                    } else {
                        format!("{shown} ({})", fmt_rank(rk))
                    }
                })
                .collect();
            let ((rk, rl, rh), (iq, il, ih)) = sum[r];
            let rank = if rk == best_rank { format!("**{}**", fmt_rank(rk)) } else { fmt_rank(rk) };
            let _ = writeln!(
                o,
                "| {rep} | {} | {rank} [{}, {}] | {iq:.2} [{il:.2}, {ih:.2}] |",
                cells.join(" | "),
                fmt_rank(rl),
                fmt_rank(rh)
            );
        }
        o.push('\n');
        let winners: Vec<&str> =
            task_ranks.iter().filter_map(|tr| tr.iter().position(|&x| x == 1.0).map(|r| s.reps[r].as_str())).collect();
        let verdict = if winners.len() == s.tasks.len() && winners.iter().all(|w| *w == winners[0]) {
            format!(
                "**{}** has the best mean in every task (means, not tests: each task's section has the paired comparisons).",
                winners[0]
            )
        } else {
            let per_task: Vec<String> = s
                .tasks
                .iter()
                .zip(&task_ranks)
                .map(|(t, tr)| {
                    let best: Vec<&str> =
                        tr.iter().enumerate().filter(|(_, &x)| x <= 1.5).map(|(r, _)| s.reps[r].as_str()).collect();
                    format!("`{t}`: {}", best.join(" = "))
                })
                .collect();
            format!("No representation has the best mean in every task (best per task: {}).", per_task.join("; "))
        };
        let _ = writeln!(o, "{verdict}\n");
    }
}

fn fmt_rank(r: f64) -> String {
    if !r.is_finite() {
        "—".into()
    } else if (r - r.round()).abs() < 1e-9 {
        format!("{r:.0}")
    } else {
        format!("{r:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iqm_cuts_a_quarter_from_each_end() {
        // scipy.stats.trim_mean([1, 2, 3, 4, 5, 6, 7, 100], 0.25) = 4.5
        assert_eq!(iqm(&[100.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]), 4.5);
        // n = 6: ⌊1.5⌋ = 1 cut from each end.
        assert_eq!(iqm(&[1.0, 2.0, 3.0, 4.0, 5.0, 60.0]), 3.5);
        assert_eq!(iqm(&[2.0]), 2.0);
    }

    #[test]
    fn ties_share_the_mean_rank() {
        let r = ranks(&[0.9, 0.8, 0.9, f64::NAN], true);
        assert_eq!(&r[..3], &[1.5, 3.0, 1.5]);
        assert!(r[3].is_nan());
        assert_eq!(ranks(&[0.1, 0.3, 0.2], false), vec![1.0, 3.0, 2.0]);
    }

    #[test]
    fn one_representation_best_everywhere_gets_rank_one_and_iqm_one() {
        let s = TaskScores {
            tasks: vec!["dataset=a".into(), "dataset=b".into()],
            reps: vec!["x".into(), "y".into()],
            values: vec![vec![vec![0.9, 0.91], vec![0.5, 0.52]], vec![vec![0.7, 0.72], vec![0.6, 0.61]]],
            higher_is_better: true,
        };
        let sum = s.summary(0);
        assert_eq!(sum[0].0 .0, 1.0);
        assert_eq!((sum[0].0 .1, sum[0].0 .2), (1.0, 1.0), "x is first in every resample");
        assert_eq!(sum[1].0 .0, 2.0);
        assert!(sum[0].1 .0 > 0.9 && sum[1].1 .0 < 0.1, "{sum:?}");
    }
}
