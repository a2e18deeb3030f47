//! One section of report.md per evaluation: its table (mean ± std, CI, the
//! comparison with the baseline or the best mean) and the table of every
//! comparison of its family, or its CKA matrix; the probe's solver warnings,
//! then the figures it declares.
use super::figures_of;
use crate::report::comparisons::{Comparison, Design, Family, Verdict};
use crate::report::figure::Figure;
use crate::report::index::SeriesKey;
use crate::report::manifest::EvaluationRecord;
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

/// 0.05 as 0.05; an interim look's level to four places.
fn fmt_level(level: f64) -> String {
    if (level - 0.05).abs() < 1e-12 {
        "0.05".into()
    } else {
        format!("{level:.4}")
    }
}

/// A difference as the report prints it: in points for a proportion.
pub(super) fn fmt_amount(x: f64, proportion: bool) -> String {
    if proportion {
        format!("{:.1} points", x * 100.0)
    } else {
        format!("{x:.4}")
    }
}

/// A comparison: the difference with its 95 % CI, the Holm-adjusted p and
/// the test, the verdict, what the design could detect; or why no test.
pub(super) fn fmt_comparison(c: &Comparison, margin: Option<f64>, proportion: bool) -> String {
    let ci = c.ci.map(|(lo, hi)| format!(" [{lo:+.4}, {hi:+.4}]")).unwrap_or_default();
    let test = match (c.p_value, c.p_holm) {
        (Some(p), Some(h)) => format!("; p = {p:.3}, Holm p = {h:.3} ({})", c.test),
        _ => String::new(),
    };
    let m = margin.map(|m| fmt_amount(m, proportion)).unwrap_or_default();
    let power = c.detectable.map(|d| format!("; detectable ≥ {}", fmt_amount(d, proportion))).unwrap_or_default();
    let note = match (&c.note, c.verdict) {
        (Some(n), Verdict::NotTested) => format!(" — {}", n.trim_start_matches("no test: ")),
        (Some(n), _) => format!("; {n}"),
        (None, _) => String::new(),
    };
    let one_run = if c.one_run { "; one training run each: does not cover training-to-training variation" } else { "" };
    format!("Δ {:+.4}{ci}{test}: **{}**{note}{power}{one_run}", c.diff, c.verdict.words(&m))
}

/// The table cell of a representation: its family's comparison, or what it is in the family.
fn fmt_row(family: Option<&Family>, rep: &str, proportion: bool) -> String {
    let Some(f) = family else { return String::new() };
    if f.reference() == Some(rep) {
        return match (&f.design, &f.leader) {
            (Design::Baseline(_), _) => "**baseline**".into(),
            (Design::AllPairs, Some(l)) if l == rep => "**leader** (resolved above every other)".into(),
            (Design::AllPairs, _) => "**best mean**".into(),
        };
    }
    f.row_of(rep).map(|c| fmt_comparison(c, f.margin, proportion)).unwrap_or_default()
}

/// Every comparison of an all-pairs family with more than one pair.
fn pairs_table(o: &mut String, f: &Family, proportion: bool, headline: &str) {
    if f.design != Design::AllPairs || f.comparisons.len() < 2 {
        return;
    }
    let mut what = if f.params.is_empty() { String::new() } else { format!(" [{}]", f.params) };
    if f.metric != headline {
        what.push_str(&format!(" on `{}`", f.metric));
    }
    let _ = writeln!(o, "All pairs{what} ({} tested, Holm over them):\n", f.tested());
    let _ = writeln!(o, "| representation | against | comparison |");
    let _ = writeln!(o, "|---|---|---|");
    for c in &f.comparisons {
        let _ = writeln!(o, "| {} | {} | {} |", c.representation, c.against, fmt_comparison(c, f.margin, proportion));
    }
    o.push('\n');
}

/// A pair's 95 % interval and whether it is over test images: over seeds
/// where the seeds vary the number, else the half-sample subsampling interval
/// over test images the first cell stored (debiased estimator) — two fixed
/// representations give the same CKA in every seed, and a zero-width interval
/// over seeds would hide the sampling of the test images.
fn cka_interval(data: &ReportData, s: &SummaryRow, a: &str, b: &str) -> Option<(f64, f64, bool)> {
    if s.n >= 2 && s.std > 0.0 {
        return Some((s.ci95_low, s.ci95_high, false));
    }
    let index = data.index();
    let cell = index.artifacts(&s.evaluation).iter().find(|c| c.params == s.params)?;
    let names: Vec<&str> = cell.details.get("representations")?.as_array()?.iter().filter_map(|v| v.as_str()).collect();
    let (i, j) = (names.iter().position(|n| *n == a)?, names.iter().position(|n| *n == b)?);
    let pair = cell.details.get("cka_ci95")?.get(i)?.get(j)?.as_array()?;
    Some((pair.first()?.as_f64()?, pair.get(1)?.as_f64()?, true))
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
        let (mut over_seeds, mut over_images) = (false, false);
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
                        Some((lo, hi, false)) => {
                            over_seeds = true;
                            format!("{:.3} [{lo:.3}, {hi:.3}]", s.mean)
                        }
                        Some((lo, hi, true)) => {
                            over_images = true;
                            format!("{:.3} [{lo:.3}, {hi:.3}]†", s.mean)
                        }
                        None => format!("{:.3}", s.mean),
                    }
                })
                .collect();
            let _ = writeln!(o, "| {a} | {} |", cells.join(" | "));
        }
        let n = in_eval.iter().find(|s| s.params == params).map_or(0, |s| s.n);
        let mut how = String::new();
        if over_seeds {
            how.push_str(&format!(" Brackets: 95 % t-interval over the {n} seeds."));
        }
        if over_images {
            how.push_str(" †: 95 % half-sample subsampling interval over the test images of the first seed (the number does not vary over seeds, or there is one: it does not cover training-to-training variation)).");
        }
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
    families: &[Family],
    figures: &[Figure],
    diagnostics: &mut String,
) {
    let index = data.index();
    let robustness = ev.draws(crate::eval::FigureKind::SeverityCurve);
    let rows: Vec<&SummaryRow> = index
        .summaries(&ev.name)
        .iter()
        .copied()
        .filter(|s| !(robustness && crate::report::robustness::is_detail_metric(&s.metric)))
        .collect();
    let (choices, rows): (Vec<&SummaryRow>, Vec<&SummaryRow>) = rows.into_iter().partition(|s| ev.is_choice(&s.metric));
    diagnostics_table(diagnostics, ev, &choices);
    let rows = rows.as_slice();
    let has_figures = figures.iter().any(|f| f.section == ev.name);
    if rows.is_empty() && !has_figures {
        return;
    }
    let _ = writeln!(o, "## {} ({})\n", ev.name, ev.kind);
    if ev.draws(crate::eval::FigureKind::CkaMatrix) {
        similarity_table(o, data, &ev.name);
    } else if !rows.is_empty() {
        let mine: Vec<&Family> = families.iter().filter(|f| f.evaluation == ev.name).collect();
        let column = match &ev.baseline {
            Some(b) => format!("vs baseline {b}"),
            None => "vs best mean".into(),
        };
        if ev.ranks {
            let design = match &ev.baseline {
                Some(b) => format!("every representation against the baseline **{b}** declared in the suite (Holm–Bonferroni over the k − 1 comparisons)"),
                None => "every pair of representations (Holm–Bonferroni over the k(k − 1)/2 comparisons; a representation leads only when it is resolved above every other)".into(),
            };
            let margin = match ev.margin {
                Some(m) => format!(" With the suite's margin {}: equivalent when TOST places the difference within ±margin, non-inferior when it is above −margin (each Holm-adjusted over the family).", fmt_amount(m, ev.proportion)),
                None => " No margin is declared, so nothing is called equivalent: \"not resolved\" only says these seeds do not separate the two.".into(),
            };
            let _ = writeln!(o, "Headline **{}** ({} is better). Comparisons: {design}; the difference with its 95 % CI, a two-sided paired t-test over seeds (Welch's where seeds do not pair), the verdict at Holm p < {level}, and the smallest difference the design detects with 80 % power.{margin} With one seed, two representations are compared on the same test images where the evaluation stored them (McNemar's exact test for accuracy, a paired t over images for a per-image score; paired bootstrap CI): a test over test images for these training runs. No test where there is nothing to test (one seed and nothing stored per image, or no spread).\n", ev.headline, if ev.higher_is_better { "higher" } else { "lower" }, level = fmt_level(data.test_level()));
        }
        let _ = writeln!(o, "| representation | params | metric | mean ± std | 95 % CI | n | {column} | cell keys |");
        let _ = writeln!(o, "|---|---|---|---|---|---|---|---|");
        for s in rows {
            let headline = s.metric == ev.headline;
            let metric = if headline { format!("**{}**", s.metric) } else { s.metric.clone() };
            let family = mine.iter().find(|f| f.params == s.params && f.metric == s.metric).copied();
            let _ = writeln!(
                o,
                "| {} | {} | {} | {:.4} ± {:.4} | {} | {} | {} | `{}` |",
                s.representation,
                if s.params.is_empty() { "—" } else { &s.params },
                metric,
                s.mean,
                s.std,
                fmt_ci(s),
                s.n,
                fmt_row(family, &s.representation, ev.proportion),
                s.cell_keys
            );
        }
        o.push('\n');
        for f in &mine {
            pairs_table(o, f, ev.proportion, &ev.headline);
        }
        solver_warnings(o, &choices);
        crate::report::per_class::gap_section(o, data, ev);
        crate::report::per_class::per_class_section(o, data, ev);
        crate::report::worst_group::section(o, data, ev, families);
        if robustness {
            crate::report::robustness::tables(o, data, ev);
        }
        if ev.kind == "cost" {
            crate::report::cost::section(o, data, ev);
        }
    }
    figures_of(o, figures, &ev.name);
}

/// The choices and counts of an evaluation (mean ± std over seeds), for the appendix.
fn diagnostics_table(o: &mut String, ev: &EvaluationRecord, rows: &[&SummaryRow]) {
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(o, "**{}** ({})\n", ev.name, ev.kind);
    let _ = writeln!(o, "| representation | params | metric | mean ± std | n |");
    let _ = writeln!(o, "|---|---|---|---|---|");
    for s in rows {
        let p = if s.params.is_empty() { "—" } else { &s.params };
        let _ = writeln!(o, "| {} | {p} | {} | {:.4} ± {:.4} | {} |", s.representation, s.metric, s.mean, s.std, s.n);
    }
    o.push('\n');
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
