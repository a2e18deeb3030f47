//! report.md: the summary table per evaluation, the chart, failures and provenance.
use super::manifest::Manifest;
use super::plot::Charts;
use super::stats::SummaryRow;
use std::fmt::Write;

fn fmt_ci(s: &SummaryRow) -> String {
    if s.n >= 2 {
        format!("[{:.4}, {:.4}]", s.ci95_low, s.ci95_high)
    } else {
        "n/a (1 seed)".into()
    }
}

pub fn render(summary: &[SummaryRow], m: &Manifest, charts: &Charts) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "# repbench report: {}\n", m.suite);
    if let Some(d) = &m.description {
        let _ = writeln!(o, "{d}\n");
    }
    let ds: Vec<String> = m.datasets.iter().map(|d| format!("{} (`{}`)", d.name, &d.fingerprint[..12.min(d.fingerprint.len())])).collect();
    let _ = writeln!(
        o,
        "{} cells ({} computed, {} from cache, {} failed) on {} in {:.1} s. Dataset: {}.\n",
        m.cells,
        m.computed_cells,
        m.cached_cells,
        m.failures.len(),
        m.device,
        m.total_seconds,
        ds.join(", ")
    );
    if let (Some(png), Some(svg)) = (&charts.summary_png, &charts.summary_svg) {
        let _ = writeln!(o, "![summary]({png})\n\n([SVG]({svg}); bars are means over seeds, whiskers the 95 % Student-t confidence interval.)\n");
    }
    for ev in &m.evaluations {
        let rows: Vec<&SummaryRow> = summary.iter().filter(|s| s.evaluation == ev.name).collect();
        if rows.is_empty() {
            continue;
        }
        let _ = writeln!(o, "## {} ({})\n", ev.name, ev.kind);
        let _ = writeln!(o, "| representation | params | metric | mean ± std | 95 % CI | n | cell keys |");
        let _ = writeln!(o, "|---|---|---|---|---|---|---|");
        for s in rows {
            let metric = if s.metric == ev.headline { format!("**{}**", s.metric) } else { s.metric.clone() };
            let _ = writeln!(
                o,
                "| {} | {} | {} | {:.4} ± {:.4} | {} | {} | `{}` |",
                s.representation,
                if s.params.is_empty() { "—" } else { &s.params },
                metric,
                s.mean,
                s.std,
                fmt_ci(s),
                s.n,
                s.cell_keys
            );
        }
        o.push('\n');
    }
    if !m.failures.is_empty() {
        let _ = writeln!(o, "## Failures\n\n| representation | evaluation | seed | params | stage | error |\n|---|---|---|---|---|---|");
        for f in &m.failures {
            let _ = writeln!(o, "| {} | {} | {} | {} | {} | {} |", f.representation, f.evaluation, f.seed, f.params, f.stage, f.error.replace('|', "\\|").replace('\n', " "));
        }
        o.push('\n');
    }
    let e = &m.environment;
    let _ = writeln!(o, "## Provenance\n");
    let _ = writeln!(o, "- suite file: `{}` (sha256 `{}`)", m.spec_path, m.spec_sha256);
    let _ = writeln!(o, "- command: `{}`", m.command.join(" "));
    let _ = writeln!(o, "- repbench {} at commit `{}`{}", e.repbench_version, e.git_commit, if e.git_dirty { " (dirty tree)" } else { "" });
    let _ = writeln!(o, "- libtorch {}; device {}; CUDA available: {} ({})", e.libtorch_version, m.device, e.cuda_available, e.cuda_note);
    let _ = writeln!(o, "- machine: {} cpus ({}), {} torch threads, {}", e.cpus, e.cpu_model, e.torch_threads, e.os);
    for d in &m.datasets {
        let _ = writeln!(o, "- dataset {}: {} files at `{}` ({}), fingerprint `{}`", d.name, d.files, d.root, d.format, d.fingerprint);
        if let Some(n) = &d.note {
            let _ = writeln!(o, "  - note: {n}");
        }
    }
    let _ = writeln!(o, "- cache: `{}`; every number above is stored under its cell key there (`objects/<2>/<key>/metrics.json`).", m.cache_dir);
    let _ = writeln!(o, "\nFiles: `results.csv` / `results.parquet` (one row per metric and seed), `summary.csv`, `manifest.json`.");
    o
}
