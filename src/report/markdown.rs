//! report.md: findings, collapse warnings, the rank table, a section per
//! evaluation (its table with the comparison against the best, then its
//! figures), training curves, skipped and failed cells, and provenance. report.html is rendered from this text.
use super::figure::Figure;
use super::manifest::EvaluationRecord;
use super::plot::Charts;
use super::significance::{RankTable, VsBest};
use super::stats::SummaryRow;
use super::ReportData;
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
fn findings(o: &mut String, data: &ReportData, vs_best: &[VsBest]) {
    let mut lines = Vec::new();
    for ev in data.manifest.evaluations.iter().filter(|e| e.ranks) {
        let groups = super::stats::params_groups(
            data.summary.iter().filter(|s| s.evaluation == ev.name && s.metric == ev.headline),
        );
        for params in groups {
            let fam: Vec<&VsBest> = vs_best
                .iter()
                .filter(|v| v.evaluation == ev.name && v.params == params && v.metric == ev.headline)
                .collect();
            let Some(best) = fam.iter().find(|v| v.is_best) else { continue };
            let Some(bs) = data.summary.iter().find(|s| {
                s.evaluation == ev.name
                    && s.params == params
                    && s.metric == ev.headline
                    && s.representation == best.representation
            }) else {
                continue;
            };
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

fn figures_of(o: &mut String, figures: &[Figure], section: &str) {
    for f in figures.iter().filter(|f| f.section == section) {
        let _ = write!(o, "![{}]({})\n\n{}", f.title, f.png, f.caption);
        if let Some(svg) = &f.svg {
            let _ = write!(o, " ([SVG]({svg}))");
        }
        o.push_str("\n\n");
    }
}

fn ranks(o: &mut String, t: &RankTable) {
    if t.columns.is_empty() {
        return;
    }
    let _ = writeln!(o, "## Ranks across evaluations\n");
    let _ = writeln!(
        o,
        "Rank of each representation's mean headline metric per evaluation (1 = best, in the metric's direction; ties share the average rank). The mean rank is over the columns every ranked representation has; a column marked † lacks some and is not averaged.\n"
    );
    let cols: Vec<String> =
        t.columns.iter().zip(&t.common).map(|(c, common)| if *common { c.clone() } else { format!("{c} †") }).collect();
    let _ = writeln!(o, "| representation | {} | mean rank |", cols.join(" | "));
    let _ = writeln!(o, "|---|{}---|", "---|".repeat(t.columns.len()));
    for (rep, r, mean) in &t.rows {
        let cells: Vec<String> = r.iter().map(|v| v.map(|x| format!("{x}")).unwrap_or_else(|| "—".into())).collect();
        let mean = if mean.is_finite() { format!("{mean:.2}") } else { "—".into() };
        let _ = writeln!(o, "| {rep} | {} | {mean} |", cells.join(" | "));
    }
    o.push('\n');
}

fn similarity_table(o: &mut String, data: &ReportData, eval: &str) {
    let reps = &data.manifest.representations;
    let groups = super::stats::params_groups(data.summary.iter().filter(|s| s.evaluation == eval));
    for params in groups {
        if !params.is_empty() {
            let _ = writeln!(o, "**{params}**\n");
        }
        let _ = writeln!(o, "| linear CKA (mean over seeds) | {} |", reps.join(" | "));
        let _ = writeln!(o, "|---|{}", "---|".repeat(reps.len()));
        for a in reps {
            let cells: Vec<String> = reps
                .iter()
                .map(|b| {
                    data.summary
                        .iter()
                        .find(|s| {
                            s.evaluation == eval
                                && s.params == params
                                && &s.representation == a
                                && s.metric == format!("cka:{b}")
                        })
                        .map(|s| format!("{:.3}", s.mean))
                        .unwrap_or_else(|| "—".into())
                })
                .collect();
            let _ = writeln!(o, "| {a} | {} |", cells.join(" | "));
        }
        let keys: Vec<&str> = data
            .summary
            .iter()
            .filter(|s| s.evaluation == eval && s.params == params)
            .map(|s| s.cell_keys.as_str())
            .take(1)
            .collect();
        let _ = writeln!(o, "\nCell keys (one per seed): `{}`\n", keys.join(""));
    }
}

/// report.md: header and summary chart, ranks, one section per evaluation,
/// training curves, skipped and failed cells, provenance.
pub fn render(
    data: &ReportData,
    vs_best: &[VsBest],
    rank_table: &RankTable,
    charts: &Charts,
    figures: &[Figure],
) -> String {
    let mut o = String::new();
    header(&mut o, data, charts);
    findings(&mut o, data, vs_best);
    collapse_warnings(&mut o, data);
    ranks(&mut o, rank_table);
    for ev in &data.manifest.evaluations {
        evaluation_section(&mut o, data, ev, vs_best, figures);
    }
    if figures.iter().any(|f| f.section == "training") {
        let _ = writeln!(o, "## Training\n");
        figures_of(&mut o, figures, "training");
    }
    skipped_and_failed(&mut o, data);
    data_section(&mut o, data);
    provenance(&mut o, data);
    o
}

/// Runs whose training collapsed, before any table shows their scores.
fn collapse_warnings(o: &mut String, data: &ReportData) {
    let warnings = super::collapse::warnings(&data.train_logs);
    if warnings.is_empty() {
        return;
    }
    let _ = writeln!(o, "## Warnings: training collapse\n");
    for w in warnings {
        let _ = writeln!(o, "- **Warning:** {w}");
    }
    o.push('\n');
}

/// Title, description, what ran where, and the summary chart.
fn header(o: &mut String, data: &ReportData, charts: &Charts) {
    let m = &data.manifest;
    let _ = writeln!(o, "# repbench report: {}\n", m.suite);
    if let Some(d) = &m.description {
        let _ = writeln!(o, "{}\n", d.trim());
    }
    let ds: Vec<String> = m
        .datasets
        .iter()
        .map(|d| format!("{} (`{}`)", d.name, &d.fingerprint[..12.min(d.fingerprint.len())]))
        .collect();
    let _ = writeln!(
        o,
        "{} cells ({} computed, {} from cache, {} failed, {} not applicable) on {} in {:.1} s. Data: {}.\n",
        m.cells,
        m.computed_cells,
        m.cached_cells,
        m.failures.len(),
        m.skipped.len(),
        m.device,
        m.total_seconds,
        ds.join(", ")
    );
    if m.interrupted {
        let _ = writeln!(o, "**Interrupted (Ctrl-C): this report covers the cells that finished; re-running the suite computes the rest.**\n");
    }
    if let (Some(png), Some(svg)) = (&charts.summary_png, &charts.summary_svg) {
        let _ = writeln!(o, "![summary]({png})\n\n([SVG]({svg}); bars are means over seeds, whiskers the 95 % Student-t confidence interval.)\n");
    }
}

/// One evaluation: its table (mean ± std, CI, test against the best) or CKA
/// matrix, then the figures it declares.
fn evaluation_section(
    o: &mut String,
    data: &ReportData,
    ev: &EvaluationRecord,
    vs_best: &[VsBest],
    figures: &[Figure],
) {
    let rows: Vec<&SummaryRow> = data.summary.iter().filter(|s| s.evaluation == ev.name).collect();
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
        for s in &rows {
            let headline = s.metric == ev.headline;
            let metric = if headline { format!("**{}**", s.metric) } else { s.metric.clone() };
            let v = vs_best.iter().find(|v| {
                v.evaluation == s.evaluation
                    && v.params == s.params
                    && v.metric == s.metric
                    && v.representation == s.representation
            });
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
        solver_warnings(o, &rows);
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

/// Cells that do not apply, and cells that failed, with their reasons.
fn skipped_and_failed(o: &mut String, data: &ReportData) {
    let m = &data.manifest;
    if !m.skipped.is_empty() {
        let _ = writeln!(o, "## Not applicable\n\n| representation | evaluation | seed | reason |\n|---|---|---|---|");
        for f in &m.skipped {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} |",
                f.representation,
                f.evaluation,
                f.seed,
                f.error.replace('|', "\\|")
            );
        }
        o.push('\n');
    }
    if !m.failures.is_empty() {
        let _ = writeln!(
            o,
            "## Failures\n\n| representation | evaluation | seed | params | stage | error |\n|---|---|---|---|---|---|"
        );
        for f in &m.failures {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} | {} |",
                f.representation,
                f.evaluation,
                f.seed,
                f.params,
                f.stage,
                f.error.replace('|', "\\|").replace('\n', " ")
            );
        }
        o.push('\n');
    }
}

/// How many images of each class every split used, so a reader sees what the
/// numbers rest on (and a class a subset left out).
fn data_section(o: &mut String, data: &ReportData) {
    let counts = &data.manifest.split_counts;
    if counts.is_empty() {
        return;
    }
    let _ = writeln!(o, "## Data: images per class and split\n");
    for c in counts.iter().take(6) {
        let points = if c.points.len() > 4 {
            format!("{} and {} more points", c.points[..3].join(", "), c.points.len() - 3)
        } else {
            c.points.join(", ")
        };
        let _ = writeln!(o, "{} — {points}:\n", c.dataset);
        let head: Vec<String> = (0..c.classes)
            .map(|k| c.class_names.get(k).map(|n| format!("{k} {n}")).unwrap_or_else(|| k.to_string()))
            .collect();
        let _ = writeln!(o, "| split | {} | total |", head.join(" | "));
        let _ = writeln!(o, "|---|{}---|", "---|".repeat(c.classes));
        for (name, v) in [("train", &c.train), ("val", &c.val), ("test", &c.test)] {
            let cells: Vec<String> = v.iter().map(|n| n.to_string()).collect();
            let _ = writeln!(o, "| {name} | {} | {} |", cells.join(" | "), v.iter().sum::<usize>());
        }
        o.push('\n');
    }
    if counts.len() > 6 {
        let _ = writeln!(o, "({} more splits in manifest.json.)\n", counts.len() - 6);
    }
}

/// Suite file, command, commit, libtorch, machine, datasets and cache: what a
/// reviewer needs to reproduce or audit the numbers.
fn provenance(o: &mut String, data: &ReportData) {
    let m = &data.manifest;
    let e = &m.environment;
    let _ = writeln!(o, "## Provenance\n");
    let _ = writeln!(o, "- suite file: `{}` (sha256 `{}`)", m.spec_path, m.spec_sha256);
    let _ = writeln!(o, "- command: `{}`", m.command.join(" "));
    let _ = writeln!(
        o,
        "- repbench {} at commit `{}`{}",
        e.repbench_version,
        e.git_commit,
        if e.git_dirty { " (dirty tree)" } else { "" }
    );
    let _ = writeln!(
        o,
        "- libtorch {}; device {}; CUDA available: {} ({})",
        e.libtorch_version, m.device, e.cuda_available, e.cuda_note
    );
    let _ = writeln!(
        o,
        "- machine: {} cpus ({}), {} torch threads, {}; subnormal floats {}",
        e.cpus,
        e.cpu_model,
        e.torch_threads,
        e.os,
        if e.flush_denormals { "flushed to zero" } else { "kept" }
    );
    for d in &m.datasets {
        let _ = writeln!(
            o,
            "- dataset {}: {} files at `{}` ({}), fingerprint `{}`",
            d.name, d.files, d.root, d.format, d.fingerprint
        );
        if let Some(n) = &d.note {
            let _ = writeln!(o, "  - note: {n}");
        }
    }
    for f in &m.imported_files {
        let _ = writeln!(o, "- imported `{}` ({}): `{}`, sha256 `{}`", f.representation, f.field, f.path, f.sha256);
    }
    let _ = writeln!(
        o,
        "- cache: `{}`; every number above is stored under its cell key there (`objects/<2>/<key>/metrics.json`).",
        m.cache_dir
    );
    let _ = writeln!(o, "\nFiles: `results.csv` / `results.parquet` (one row per metric and seed), `summary.csv`, `details.json` (per-cell details behind the figures), `train_logs.json`, `manifest.json` (with the full suite text).");
    let _ = writeln!(
        o,
        "\n<details><summary>Suite file</summary>\n\n```yaml\n{}\n```\n\n</details>",
        m.spec_text.trim_end()
    );
}
