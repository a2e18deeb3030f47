//! `repbench compare RUN_A RUN_B`: for every representation × evaluation ×
//! params × metric present in both runs, the means, the delta (B − A) and a
//! Welch t-test over the seeds of each run — as a CSV and a markdown report.
use super::hypothesis::difference;
use super::index::SeriesKey;
use super::stats::mean_std;
use super::ReportData;
use crate::error::Result;
use crate::files::write_atomic;
use std::fmt::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq)]
pub struct Delta {
    pub representation: String,
    pub evaluation: String,
    pub params: String,
    pub metric: String,
    pub mean_a: f64,
    pub mean_b: f64,
    pub n_a: usize,
    pub n_b: usize,
    pub delta: f64,
    /// 95 % CI of the difference (paired by seed when both runs have the same seeds).
    pub ci: Option<(f64, f64)>,
    pub p_value: Option<f64>,
    /// Some(higher is better) for a ranked evaluation's headline metric: the
    /// only rows that get ▲/▼ (a larger `l2` or `trained_params` is no better).
    pub direction: Option<bool>,
    /// The test, or why there is none.
    pub test: String,
}

/// Deltas for every metric in both runs, in run A's order.
pub fn deltas(a: &ReportData, b: &ReportData) -> Vec<Delta> {
    let mut out = Vec::new();
    let (ia, ib) = (a.index(), b.index());
    for s in &a.summary {
        // A matrix between representations has no per-representation delta.
        if a.manifest.evaluations.iter().any(|e| e.name == s.evaluation && e.draws(crate::eval::FigureKind::CkaMatrix))
        {
            continue;
        }
        let key = SeriesKey::of_summary(s);
        if ib.summary(&key).is_none() {
            continue;
        }
        let (va, vb) = (ia.values(&key), ib.values(&key));
        let plain = |v: &[(u64, f64)]| v.iter().map(|x| x.1).collect::<Vec<f64>>();
        let (ma, mb) = (mean_std(&plain(va)).0, mean_std(&plain(vb)).0);
        let d = difference(vb, va);
        let direction = b
            .manifest
            .evaluations
            .iter()
            .find(|e| e.name == s.evaluation && e.ranks && e.headline == s.metric)
            .map(|e| e.higher_is_better);
        out.push(Delta {
            representation: s.representation.clone(),
            evaluation: s.evaluation.clone(),
            params: s.params.clone(),
            metric: s.metric.clone(),
            mean_a: ma,
            mean_b: mb,
            n_a: va.len(),
            n_b: vb.len(),
            delta: mb - ma,
            ci: d.ci,
            p_value: d.p,
            direction,
            test: if d.test.is_empty() { d.note.unwrap_or_default() } else { d.test },
        });
    }
    out
}

/// Writes compare.csv and compare.md into `out`; returns the markdown path.
///
/// Long on purpose: the CSV and the markdown table are written side by side from the same deltas, so their
/// columns stay in step.
pub fn write(out: &Path, dir_a: &Path, dir_b: &Path) -> Result<PathBuf> {
    let (a, b) = (super::load(dir_a)?, super::load(dir_b)?);
    let d = deltas(&a, &b);
    std::fs::create_dir_all(out).map_err(|e| crate::error::Error::io(out, e))?;
    let mut csv = String::from("representation,evaluation,params,metric,mean_a,mean_b,n_a,n_b,delta,p_value\n");
    for x in &d {
        let _ = writeln!(
            csv,
            "{},{},\"{}\",{},{},{},{},{},{},{}",
            x.representation,
            x.evaluation,
            x.params.replace('"', "\"\""),
            x.metric,
            x.mean_a,
            x.mean_b,
            x.n_a,
            x.n_b,
            x.delta,
            x.p_value.map(|p| p.to_string()).unwrap_or_default()
        );
    }
    write_atomic(&out.join("compare.csv"), csv.as_bytes())?;
    let mut md = String::new();
    let _ = writeln!(
        md,
        "# repbench compare\n\n- A: `{}` (suite {}, commit `{}`)\n- B: `{}` (suite {}, commit `{}`)\n",
        dir_a.display(),
        a.manifest.suite,
        a.manifest.environment.git_commit,
        dir_b.display(),
        b.manifest.suite,
        b.manifest.environment.git_commit
    );
    let _ = writeln!(
        md,
        "Δ = mean(B) − mean(A) over seeds with its 95 % CI; p from a two-sided paired t-test over seeds when both runs have the same seeds, Welch's otherwise; no correction for the many rows. ▲/▼ (B better/worse at p < 0.05) only on the headline metric of a ranked evaluation, in its direction; other metrics (l2, trained_params, losses) are descriptive.\n"
    );
    let _ = writeln!(
        md,
        "| representation | evaluation | params | metric | A | B | Δ [95 % CI] | p | test |\n|---|---|---|---|---|---|---|---|---|"
    );
    for x in &d {
        let sig = match (x.p_value, x.direction) {
            (Some(p), Some(higher)) if p < 0.05 && (x.delta > 0.0) == higher => format!("{p:.3} ▲"),
            (Some(p), Some(_)) if p < 0.05 => format!("{p:.3} ▼"),
            (Some(p), _) => format!("{p:.3}"),
            (None, _) => "—".into(),
        };
        let ci = x.ci.map(|(lo, hi)| format!(" [{lo:+.4}, {hi:+.4}]")).unwrap_or_default();
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {:.4} (n={}) | {:.4} (n={}) | {:+.4}{ci} | {} | {} |",
            x.representation,
            x.evaluation,
            if x.params.is_empty() { "—" } else { &x.params },
            x.metric,
            x.mean_a,
            x.n_a,
            x.mean_b,
            x.n_b,
            x.delta,
            sig,
            x.test
        );
    }
    let only_a: Vec<String> =
        a.manifest.representations.iter().filter(|r| !b.manifest.representations.contains(r)).cloned().collect();
    let only_b: Vec<String> =
        b.manifest.representations.iter().filter(|r| !a.manifest.representations.contains(r)).cloned().collect();
    if !only_a.is_empty() || !only_b.is_empty() {
        let _ = writeln!(
            md,
            "\nOnly in A: {}; only in B: {}.",
            if only_a.is_empty() { "—".into() } else { only_a.join(", ") },
            if only_b.is_empty() { "—".into() } else { only_b.join(", ") }
        );
    }
    let path = out.join("compare.md");
    write_atomic(&path, md.as_bytes())?;
    Ok(path)
}
