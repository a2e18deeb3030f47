//! report.md: findings, collapse warnings, the rank table, a section per
//! evaluation (its table with each comparison's verdict, the pairwise table, then its
//! figures), training curves, skipped and failed cells, and provenance.
//! report.html is rendered from this text.
mod evaluation;
mod findings;
pub(crate) use findings::clause;
mod provenance;

use super::comparisons::Family;
use super::figure::Figure;
use super::plot::Charts;
use super::significance::RankTable;
use super::ReportData;
use std::fmt::Write;

/// report.md: header and summary chart, ranks, one section per evaluation,
/// training curves, skipped and failed cells, provenance.
pub fn render(
    data: &ReportData,
    families: &[Family],
    rank_table: &RankTable,
    charts: &Charts,
    figures: &[Figure],
    summary_table: &str,
) -> String {
    let mut o = String::new();
    header(&mut o, data);
    if !summary_table.is_empty() {
        let _ = writeln!(o, "## Summary\n\n{summary_table}\nSeconds are on {}. The same table is in `table.md` and, for a paper, `table.tex` (booktabs).\n", data.manifest.device);
    }
    crate::report::tasks::section(&mut o, data);
    summary_chart(&mut o, charts);
    seed_plan(&mut o, data);
    findings::findings(&mut o, data, families);
    collapse_warnings(&mut o, data);
    ranks(&mut o, rank_table);
    let mut diagnostics = String::new();
    for ev in &data.manifest.evaluations {
        evaluation::evaluation_section(&mut o, data, ev, families, figures, &mut diagnostics);
    }
    if figures.iter().any(|f| f.section == "training") {
        let _ = writeln!(o, "## Training\n");
        figures_of(&mut o, figures, "training");
    }
    provenance::skipped_and_failed(&mut o, data);
    provenance::data_section(&mut o, data);
    provenance::provenance(&mut o, data);
    if !diagnostics.is_empty() {
        let _ = writeln!(o, "## Appendix: solver diagnostics\n");
        let _ = writeln!(o, "<details><summary>What each evaluation chose or counted (the L2 strength, iterations, the final gradient, convergence and grid-edge flags): choices, not estimates — no interval, no test.</summary>\n");
        o.push_str(&diagnostics);
        let _ = writeln!(o, "</details>\n");
    }
    o
}

/// What look of its seed plan this report is, and the level its tests use
/// (nothing for one look at the whole plan).
fn seed_plan(o: &mut String, data: &ReportData) {
    let Some(p) = &data.manifest.plan else { return };
    let list = |s: &[u64]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(", ");
    let outside = p.outside(p.current());
    let run_seeds: Vec<u64> = data.manifest.seeds_override.clone().unwrap_or_default();
    let extra = p.outside(&run_seeds);
    if !extra.is_empty() || !outside.is_empty() {
        let seeds = if extra.is_empty() { outside } else { extra };
        let _ = writeln!(o, "**Warning:** seeds {} are not in the suite's seed plan ({}): an unplanned extension, tested at 0.05 without accounting for the looks before it. Declare the seeds in the suite to make them part of the plan.\n", list(&seeds), list(&p.seeds));
        return;
    }
    let earlier: Vec<String> =
        p.looks[..p.index().min(p.looks.len())].iter().map(|l| l.seeds.len().to_string()).collect();
    let before =
        if earlier.is_empty() { String::new() } else { format!("; earlier looks at {} seeds", earlier.join(", ")) };
    if p.is_interim() {
        let _ = writeln!(o, "**Interim: {} of {} planned seeds** (look {} of this plan{before}). Every test below is made at level {:.4}, what the O'Brien–Fleming spending function releases at this look, so that all looks together keep the false-positive rate at 0.05 (docs/statistics.md).\n", p.current().len(), p.seeds.len(), p.index() + 1, data.test_level());
    } else if !earlier.is_empty() {
        let _ = writeln!(o, "Final look at all {} planned seeds{before}: every test below is made at level {:.4}, what the O'Brien–Fleming spending function leaves for the final look (docs/statistics.md).\n", p.seeds.len(), data.test_level());
    }
}

/// Title, description, what ran where, warnings about the data.
fn header(o: &mut String, data: &ReportData) {
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
    provenance::merged_note(o, data);
    for d in &m.datasets {
        if let Some(s) = d.images.as_ref().filter(|s| s.skipped > 0) {
            let _ = writeln!(
                o,
                "**Warning: {} image{} of {} could not be decoded and {} left out** (`on_bad_image: skip`; listed under Provenance): every number below is over the {} that remain.\n",
                s.skipped,
                if s.skipped == 1 { "" } else { "s" },
                d.name,
                if s.skipped == 1 { "was" } else { "were" },
                s.train + s.val + s.test
            );
        }
    }
    for e in crate::report::worst_group::errors(data) {
        let _ = writeln!(o, "**Warning: the groups `dataset.groups` asks for could not be computed**, so no worst-group accuracy is shown for {e}\n");
    }
    if m.interrupted {
        let _ = writeln!(o, "**Interrupted (Ctrl-C): this report covers the cells that finished; re-running the suite computes the rest.**\n");
    }
}

/// The differences chart under the summary table.
fn summary_chart(o: &mut String, charts: &Charts) {
    if let (Some(png), Some(svg)) = (&charts.summary_png, &charts.summary_svg) {
        let _ = writeln!(o, "![differences from the reference]({png})\n\n([SVG]({svg}); each dot is a representation's difference from the panel's reference — its baseline, or its best mean — with the 95 % CI of the comparison in its section; the line is zero.)\n");
    }
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

fn figures_of(o: &mut String, figures: &[Figure], section: &str) {
    for f in figures.iter().filter(|f| f.section == section) {
        let _ = write!(o, "![{}]({})\n\n{}", f.title, f.png, f.caption);
        if let Some(svg) = &f.svg {
            let _ = write!(o, " ([SVG]({svg}))");
        }
        o.push_str("\n\n");
    }
}
