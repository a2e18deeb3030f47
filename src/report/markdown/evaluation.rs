//! One section of report.md per evaluation: its table (mean ± std, CI, the
//! comparison against the best) or its CKA matrix, the probe's solver warnings,
//! then the figures it declares.
use super::figures_of;
use crate::report::figure::Figure;
use crate::report::index::SeriesKey;
use crate::report::manifest::EvaluationRecord;
use crate::report::significance::VsBest;
use crate::report::stats::SummaryRow;
use crate::report::ReportData;
use std::fmt::Write;

fn fmt_ci(s: &SummaryRow) -> String {
    if s.n >= 2 {
        format!("[{:.4}, {:.4}]", s.ci95_low, s.ci95_high)
    } else {
        "n/a (1 seed)".into()
    }
}

/// The comparison with the best: the difference with its 95 % CI, the
/// Holm-adjusted p (▼ when it resolves), the test; or why there is no test.
fn fmt_vs(v: Option<&VsBest>) -> String {
    let Some(v) = v else { return String::new() };
    if v.is_best {
        return "**best**".into();
    }
    let ci = v.ci.map(|(lo, hi)| format!(" [{lo:+.4}, {hi:+.4}]")).unwrap_or_default();
    let test = match (v.p_value, v.p_holm) {
        (Some(p), Some(h)) => {
            format!("; p = {p:.3}, Holm p = {h:.3}{} ({})", if v.resolved() { " ▼" } else { " (n.s.)" }, v.test)
        }
        _ => String::new(),
    };
    let note = v.note.as_ref().map(|n| format!("; {n}")).unwrap_or_default();
    format!("Δ {:+.4}{ci}{test}{note}", v.diff)
}

/// A pair's 95 % interval: over seeds with several, else the half-sample
/// subsampling interval the one cell stored (debiased estimator).
fn cka_interval(data: &ReportData, s: &SummaryRow, a: &str, b: &str) -> Option<(f64, f64)> {
    if s.n >= 2 {
        return Some((s.ci95_low, s.ci95_high));
    }
    let index = data.index();
    let cell = index.artifacts(&s.evaluation).iter().find(|c| c.params == s.params)?;
    let names: Vec<&str> = cell.details.get("representations")?.as_array()?.iter().filter_map(|v| v.as_str()).collect();
    let (i, j) = (names.iter().position(|n| *n == a)?, names.iter().position(|n| *n == b)?);
    let pair = cell.details.get("cka_ci95")?.get(i)?.get(j)?.as_array()?;
    Some((pair.first()?.as_f64()?, pair.get(1)?.as_f64()?))
}

fn similarity_table(o: &mut String, data: &ReportData, eval: &str) {
    let reps = &data.manifest.representations;
    let index = data.index();
    let in_eval = index.summaries(eval);
    let estimator = crate::report::heatmaps::cka_estimator(data, eval);
    for params in crate::report::stats::params_groups(in_eval.iter().copied()) {
        if !params.is_empty() {
            let _ = writeln!(o, "**{params}**\n");
        }
        let mut intervals = false;
        let _ = writeln!(o, "| linear CKA (mean over seeds) | {} |", reps.join(" | "));
        let _ = writeln!(o, "|---|{}", "---|".repeat(reps.len()));
        for a in reps {
            let cells: Vec<String> = reps
                .iter()
                .map(|b| {
                    let metric = format!("cka:{b}");
                    let key = SeriesKey { evaluation: eval, params, metric: &metric, representation: a };
                    let Some(s) = index.summary(&key) else { return "—".into() };
                    match cka_interval(data, s, a, b).filter(|_| a != b) {
                        Some((lo, hi)) => {
                            intervals = true;
                            format!("{:.3} [{lo:.3}, {hi:.3}]", s.mean)
                        }
                        None => format!("{:.3}", s.mean),
                    }
                })
                .collect();
            let _ = writeln!(o, "| {a} | {} |", cells.join(" | "));
        }
        let n = in_eval.iter().find(|s| s.params == params).map_or(0, |s| s.n);
        let how = match (intervals, n >= 2) {
            (false, _) => String::new(),
            (true, true) => format!(" Brackets: 95 % t-interval over the {n} seeds."),
            (true, false) => " Brackets: 95 % half-sample subsampling interval over the test images (one seed: it does not cover training-to-training variation).".into(),
        };
        let _ = writeln!(o, "\nEstimator: {estimator}.{how}\n");
        let keys = in_eval.iter().find(|s| s.params == params).map_or("", |s| s.cell_keys.as_str());
        let _ = writeln!(o, "Cell keys (one per seed): `{keys}`\n");
    }
}

/// One evaluation: its table (mean ± std, CI, test against the best) or CKA
/// matrix, then the figures it declares.
pub(super) fn evaluation_section(
    o: &mut String,
    data: &ReportData,
    ev: &EvaluationRecord,
    vs_best: &[VsBest],
    figures: &[Figure],
) {
    let index = data.index();
    let rows: &[&SummaryRow] = index.summaries(&ev.name);
    let has_figures = figures.iter().any(|f| f.section == ev.name);
    if rows.is_empty() && !has_figures {
        return;
    }
    let _ = writeln!(o, "## {} ({})\n", ev.name, ev.kind);
    if ev.draws(crate::eval::FigureKind::CkaMatrix) {
        similarity_table(o, data, &ev.name);
    } else if !rows.is_empty() {
        if ev.ranks {
            let fam = vs_best.iter().filter(|v| v.evaluation == ev.name && v.p_holm.is_some()).count();
            let _ = writeln!(o, "Headline **{}** ({} is better). The `vs best` column: the difference from the best mean with its 95 % CI, a two-sided paired t-test over seeds (Welch's where seeds do not pair), and the p-value after Holm–Bonferroni over this evaluation's {fam} comparisons against its best (▼: worse at Holm p < 0.05). With one seed, the two are compared on the same test images where the evaluation stored them (McNemar's exact test for accuracy, a paired t over images for a per-image score; paired bootstrap CI). No test where there is nothing to test (one seed and nothing stored per image, or no spread).\n", ev.headline, if ev.higher_is_better { "higher" } else { "lower" });
        }
        let _ = writeln!(o, "| representation | params | metric | mean ± std | 95 % CI | n | vs best | cell keys |");
        let _ = writeln!(o, "|---|---|---|---|---|---|---|---|");
        for s in rows {
            let headline = s.metric == ev.headline;
            let metric = if headline { format!("**{}**", s.metric) } else { s.metric.clone() };
            let v = VsBest::of(vs_best, &SeriesKey::of_summary(s));
            let _ = writeln!(
                o,
                "| {} | {} | {} | {:.4} ± {:.4} | {} | {} | {} | `{}` |",
                s.representation,
                if s.params.is_empty() { "—" } else { &s.params },
                metric,
                s.mean,
                s.std,
                if ev.is_choice(&s.metric) { "— (a choice)".to_string() } else { fmt_ci(s) },
                s.n,
                fmt_vs(v),
                s.cell_keys
            );
        }
        o.push('\n');
        solver_warnings(o, rows);
    }
    figures_of(o, figures, &ev.name);
}

/// Warnings from the probe's own diagnostics: an L2 chosen at an edge of its
/// grid (the optimum may lie beyond it) and grid points that did not converge.
fn solver_warnings(o: &mut String, rows: &[&SummaryRow]) {
    let flagged = |metric: &str, bad: fn(f64) -> bool| -> Vec<String> {
        rows.iter()
            .filter(|s| s.metric == metric && bad(s.mean))
            .map(|s| {
                let p = if s.params.is_empty() { String::new() } else { format!(" [{}]", s.params) };
                format!("{}{p}", s.representation)
            })
            .collect()
    };
    let edge = flagged("l2_edge", |m| m > 0.0);
    if !edge.is_empty() {
        let _ = writeln!(o, "**Warning:** the validation split chose an L2 strength at an edge of `l2_grid` (in at least one seed) for {}: the best value may lie outside the grid — widen it.\n", edge.join(", "));
    }
    let unconverged = flagged("converged", |m| m < 1.0);
    if !unconverged.is_empty() {
        let _ = writeln!(o, "**Warning:** the probe did not reach its gradient tolerance within `max_iterations` (in at least one seed) for {}; see `grad_max`.\n", unconverged.join(", "));
    }
}
