//! The findings at the top of report.md: one sentence per ranked evaluation
//! saying what its family of comparisons resolves — against the declared
//! baseline, or, without one, who leads (resolved above every other) or which
//! representations the data cannot separate at the top — and, where nothing
//! is resolved, what difference the seeds could have detected. Nothing the
//! statistics do not support.
use super::evaluation::fmt_amount;
use crate::report::comparisons::{Comparison, Design, Family, Verdict};
use crate::report::ReportData;
use std::fmt::Write;

/// "a difference of 1.2 points [CI] (verdict, Holm p, test)" for one comparison.
pub(crate) fn clause(c: &Comparison, f: &Family, proportion: bool) -> String {
    let ci = match c.ci {
        Some((lo, hi)) if proportion => format!(", CI [{:+.1}, {:+.1}] points", lo * 100.0, hi * 100.0),
        Some((lo, hi)) => format!(", CI [{lo:+.3}, {hi:+.3}]"),
        None => String::new(),
    };
    let m = f.margin.map(|m| fmt_amount(m, proportion)).unwrap_or_default();
    let verdict = match (c.verdict, c.p_holm, &c.note) {
        (Verdict::NotTested, _, Some(n)) => format!("**not tested**: {}", n.trim_start_matches("no test: ")),
        (v, Some(h), _) => format!("**{}** (Holm p = {h:.3}, {})", v.words(&m), c.test),
        (v, None, _) => format!("**{}**", v.words(&m)),
    };
    let power = match (c.verdict, c.detectable) {
        (Verdict::NotResolved, Some(d)) => format!("; {} could detect ≥ {}", design_size(c), fmt_amount(d, proportion)),
        _ => String::new(),
    };
    let caution = match &c.note {
        Some(n) if c.verdict != Verdict::NotTested => format!("; {n}"),
        _ => String::new(),
    };
    let one_run = if c.one_run {
        "; one training run each, a test over test images that does not cover training-to-training variation"
    } else {
        ""
    };
    format!("Δ {}{ci}: {verdict}{power}{caution}{one_run}", signed(c.diff, proportion))
}

/// A signed difference, rounded first so that a tiny negative is not "-0.0".
fn signed(x: f64, proportion: bool) -> String {
    if proportion {
        format!("{:+.1} points", (x * 1000.0).round() / 10.0 + 0.0)
    } else {
        format!("{:+.3}", (x * 1000.0).round() / 1000.0 + 0.0)
    }
}

/// "3 seeds" or "10,000 test images": what the power statement is about.
fn design_size(c: &Comparison) -> String {
    let digits: String =
        c.test.chars().skip_while(|ch| !ch.is_ascii_digit()).take_while(|ch| ch.is_ascii_digit()).collect();
    match (c.one_run, digits.is_empty()) {
        (_, true) => "this design".into(),
        (true, false) => format!("{digits} test images"),
        (false, false) => format!("{digits} seeds"),
    }
}

/// One sentence per ranked evaluation and params group.
pub(super) fn findings(o: &mut String, data: &ReportData, families: &[Family]) {
    let mut lines = Vec::new();
    for ev in data.manifest.evaluations.iter().filter(|e| e.ranks) {
        let group = crate::report::worst_group::METRIC;
        for f in families.iter().filter(|f| f.evaluation == ev.name && (f.metric == ev.headline || f.metric == group)) {
            let mut what =
                if f.params.is_empty() { format!("`{}`", ev.name) } else { format!("`{}` [{}]", ev.name, f.params) };
            if f.metric == group {
                what = format!("worst-group top-1 of {what}");
            }
            let value = |rep: &str| {
                let mean = f.order.iter().find(|(r, _)| r == rep).map_or(f64::NAN, |(_, m)| *m);
                let n = data
                    .summary
                    .iter()
                    .find(|s| {
                        s.evaluation == f.evaluation
                            && s.params == f.params
                            && s.metric == f.metric
                            && s.representation == rep
                    })
                    .map_or(0, |s| s.n);
                format!("{} {mean:.3}, {n} seed{}", f.metric, if n == 1 { "" } else { "s" })
            };
            let note = f.note.as_ref().map(|n| format!(" ({n})")).unwrap_or_default();
            match &f.design {
                Design::Baseline(b) => {
                    let parts: Vec<String> = f
                        .comparisons
                        .iter()
                        .map(|c| format!("**{}** {}", c.representation, clause(c, f, ev.proportion)))
                        .collect();
                    lines.push(format!(
                        "- {what} against the baseline **{b}** ({}), Holm over {}: {}.",
                        value(b),
                        f.tested(),
                        parts.join("; ")
                    ));
                }
                Design::AllPairs => {
                    let Some((best, _)) = f.order.first() else { continue };
                    if f.order.len() < 2 {
                        lines.push(format!("- {what}: only **{best}** ({}).", value(best)));
                        continue;
                    }
                    let Some(closest) = f.order.get(1).and_then(|(r, _)| f.between(r, best)) else { continue };
                    let pairs = match f.comparisons.len() {
                        1 => "1 pairwise comparison".to_string(),
                        n => format!("{n} pairwise comparisons"),
                    };
                    let head = match &f.leader {
                        Some(l) => format!(
                            "**{l}** leads {what} ({}), resolved above every other representation (Holm over {pairs}){note}",
                            value(l)
                        ),
                        None => {
                            let top: Vec<String> = f.top.iter().map(|r| format!("**{r}**")).collect();
                            format!(
                                "{what}: the data cannot separate {} at the top (best mean {}: {}; Holm over {pairs}){note}",
                                top.join(", "),
                                best,
                                value(best)
                            )
                        }
                    };
                    lines.push(format!(
                        "- {head}; the closest, {}, against {best}: {}.",
                        closest.representation,
                        clause(closest, f, ev.proportion)
                    ));
                }
            }
        }
    }
    if lines.is_empty() {
        return;
    }
    let _ = writeln!(o, "## Findings\n");
    for l in lines {
        let _ = writeln!(o, "{l}");
    }
    // Runs recorded before seed plans also predate shared evaluation draws
    // (the same commit): their label subsets were drawn per representation.
    let shared = data.manifest.plan.is_some();
    let draws = if shared { " and the evaluation's draws" } else { "" };
    let _ = writeln!(o, "\nDifferences are paired by seed (cells of one seed share their split{draws}; Welch's t where seeds do not pair), with Holm–Bonferroni over each family: against a baseline declared in the suite, or over all pairs. \"Not resolved\" says the data do not separate two representations, not that they are equal: only a declared `margin:` can make them equivalent.\n");
    if !shared && data.manifest.evaluations.iter().any(|e| e.kind == "label_efficiency") {
        let _ = writeln!(o, "**Caution:** this run predates shared evaluation draws: each representation's label subsets were drawn under its own name, so the paired differences of label efficiency include the difference between subsets. Re-run the suite to pair them on the same labels.\n");
    }
}
