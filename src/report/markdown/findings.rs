//! The findings at the top of report.md: one sentence per ranked evaluation
//! saying who leads, by how much over the closest, and whether the statistics
//! resolve it.
use crate::report::significance::VsBest;
use crate::report::ReportData;
use std::fmt::Write;

/// A rounded value for the findings, in points when it is a fraction.
fn pts(x: f64) -> String {
    let p = x.abs() * 100.0;
    if p < 0.1 {
        format!("{p:.2}")
    } else {
        format!("{p:.1}")
    }
}

/// One sentence per ranked evaluation: who leads, by how much over the
/// runner-up, and whether the statistics resolve it — nothing they do not support.
pub(super) fn findings(o: &mut String, data: &ReportData, vs_best: &[VsBest]) {
    let mut lines = Vec::new();
    let index = data.index();
    for ev in data.manifest.evaluations.iter().filter(|e| e.ranks) {
        for params in crate::report::stats::params_groups(index.metric(&ev.name, &ev.headline)) {
            let fam: Vec<&VsBest> = vs_best
                .iter()
                .filter(|v| v.evaluation == ev.name && v.params == params && v.metric == ev.headline)
                .collect();
            let Some(best) = fam.iter().find(|v| v.is_best) else { continue };
            let Some(bs) = index.summary(&best.key()) else { continue };
            let what = if params.is_empty() { format!("`{}`", ev.name) } else { format!("`{}` [{params}]", ev.name) };
            let lead = if bs.n >= 2 {
                format!(
                    "**{}** leads {what} ({} {:.3}, 95 % CI [{:.3}, {:.3}], {} seeds)",
                    best.representation, ev.headline, bs.mean, bs.ci95_low, bs.ci95_high, bs.n
                )
            } else {
                format!("**{}** leads {what} ({} {:.3}, 1 seed)", best.representation, ev.headline, bs.mean)
            };
            let others: Vec<&&VsBest> = fam.iter().filter(|v| !v.is_best).collect();
            let Some(runner) = others.iter().min_by(|a, b| a.diff.abs().total_cmp(&b.diff.abs())) else {
                lines.push(format!("- {lead}."));
                continue;
            };
            let ci = match runner.ci {
                Some((lo, hi)) if ev.proportion => format!(", CI [{:+.1}, {:+.1}] points", lo * 100.0, hi * 100.0),
                Some((lo, hi)) => format!(", CI [{lo:+.3}, {hi:+.3}]"),
                None => String::new(),
            };
            let verdict = match (runner.p_holm, &runner.note) {
                (Some(h), _) if runner.resolved() => {
                    format!("a resolved difference (Holm p = {h:.3}, {})", runner.test)
                }
                (Some(h), _) => format!("**not resolved** (Holm p = {h:.3}, {})", runner.test),
                (None, Some(n)) => format!("**not tested**: {}", n.trim_start_matches("no test: ")),
                (None, None) => "not tested".into(),
            };
            let all_resolved = others.iter().all(|v| v.resolved());
            let rest = if others.len() > 1 && all_resolved {
                format!(" Every other representation is resolved below it (Holm, family of {}).", runner.family)
            } else {
                String::new()
            };
            let gap = if runner.diff == 0.0 {
                "ties with it".to_string()
            } else {
                let side = if (runner.diff < 0.0) == ev.higher_is_better { "lower" } else { "higher" };
                if ev.proportion {
                    format!("is {} points {side}", pts(runner.diff))
                } else {
                    format!("is {:.3} {side}", runner.diff.abs())
                }
            };
            lines.push(format!("- {lead}; the closest, {}, {gap}{ci}: {verdict}.{rest}", runner.representation));
        }
    }
    if lines.is_empty() {
        return;
    }
    let _ = writeln!(
        o,
        "## Findings
"
    );
    for l in lines {
        let _ = writeln!(o, "{l}");
    }
    let _ = writeln!(o, "
Differences are against the leader of each evaluation, paired by seed (cells of one seed share their split; Welch's t where seeds do not pair), with Holm–Bonferroni over each evaluation's comparisons. \"Not resolved\": the data do not separate the two.\n");
}
