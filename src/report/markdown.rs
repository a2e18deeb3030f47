//! report.md: the rank table, a section per evaluation (its table with the
//! Welch test against the best, then its figures), training curves, skipped and
//! failed cells, and provenance. report.html is rendered from this text.
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

fn fmt_vs(v: Option<&VsBest>) -> String {
    match v {
        None => String::new(),
        Some(v) if v.is_best => "**best**".into(),
        Some(VsBest { p_value: Some(p), .. }) if *p < 0.05 => format!("p = {p:.3} ▼"),
        Some(VsBest { p_value: Some(p), .. }) => format!("p = {p:.3} (n.s.)"),
        Some(_) => "n/a (< 2 seeds)".into(),
    }
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
        "Rank of each representation's mean headline metric per evaluation (1 = best; ties share the average rank).\n"
    );
    let _ = writeln!(o, "| representation | {} | mean rank |", t.columns.join(" | "));
    let _ = writeln!(o, "|---|{}---|", "---|".repeat(t.columns.len()));
    for (rep, r, mean) in &t.rows {
        let cells: Vec<String> = r.iter().map(|v| v.map(|x| format!("{x}")).unwrap_or_else(|| "—".into())).collect();
        let _ = writeln!(o, "| {rep} | {} | {mean:.2} |", cells.join(" | "));
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
    ranks(&mut o, rank_table);
    for ev in &data.manifest.evaluations {
        evaluation_section(&mut o, data, ev, vs_best, figures);
    }
    if figures.iter().any(|f| f.section == "training") {
        let _ = writeln!(o, "## Training\n");
        figures_of(&mut o, figures, "training");
    }
    skipped_and_failed(&mut o, data);
    provenance(&mut o, data);
    o
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
            let _ = writeln!(o, "Headline **{}**; the last column is a two-sided Welch t-test of each representation against the best mean (▼: worse at p < 0.05).\n", ev.headline);
        }
        let _ = writeln!(o, "| representation | params | metric | mean ± std | 95 % CI | n | vs best | cell keys |");
        let _ = writeln!(o, "|---|---|---|---|---|---|---|---|");
        for s in rows {
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
                fmt_ci(s),
                s.n,
                fmt_vs(v),
                s.cell_keys
            );
        }
        o.push('\n');
    }
    figures_of(o, figures, &ev.name);
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
    let _ = writeln!(o, "- machine: {} cpus ({}), {} torch threads, {}", e.cpus, e.cpu_model, e.torch_threads, e.os);
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
