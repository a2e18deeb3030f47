//! The table a reviewer quotes: one row per representation, one column per
//! ranked headline (mean and 95 % CI over seeds, the best mean in bold, a mark
//! where the comparison with the family's reference is resolved), then
//! worst-class top-1, worst-group top-1 (with `dataset.groups`) and ECE of
//! the first evaluation that records them, and
//! the fit + embedding time. Written at the top of report.md and beside it as
//! `table.md` and `table.tex` (booktabs) for a paper.
use super::comparisons::{Family, Verdict};
use super::index::SeriesKey;
use super::ReportData;
use crate::error::Result;
use crate::files::write_atomic;
use std::fmt::Write;
use std::path::Path;

/// How a value compares with its column's reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// The family's reference (its baseline, or its best mean).
    Reference,
    /// Resolved better than the reference.
    Above,
    /// Resolved worse than the reference.
    Below,
    None,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub title: String,
    pub higher_is_better: bool,
    /// Shown ×100 (a share in [0, 1]).
    pub percent: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    pub mean: f64,
    /// Half-width of the 95 % t-interval over seeds (None with one seed).
    pub half: Option<f64>,
    pub mark: Mark,
    pub best: bool,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct SummaryTable {
    pub columns: Vec<Column>,
    pub rows: Vec<(String, Vec<Option<Cell>>)>,
}

/// (evaluation, metric, column) of the table, in order.
fn columns(data: &ReportData) -> Vec<(String, String, Column)> {
    let index = data.index();
    let mut out: Vec<(String, String, Column)> = Vec::new();
    for ev in data.manifest.evaluations.iter().filter(|e| e.ranks) {
        let title = format!("{} {}", ev.name, ev.headline);
        out.push((
            ev.name.clone(),
            ev.headline.clone(),
            Column { title, higher_is_better: ev.higher_is_better, percent: ev.proportion },
        ));
    }
    // The first evaluation that records each extra, by the suite's order.
    let extras = [
        ("worst_class_top1", "worst class", true),
        (super::worst_group::METRIC, "worst group", true),
        ("ece", "ECE", false),
    ];
    for (metric, title, higher) in extras {
        if let Some(ev) = data.manifest.evaluations.iter().find(|e| index.metric(&e.name, metric).next().is_some()) {
            out.push((
                ev.name.clone(),
                metric.to_string(),
                Column { title: format!("{} {title}", ev.name), higher_is_better: higher, percent: true },
            ));
        }
    }
    out
}

pub fn build(data: &ReportData, families: &[Family]) -> SummaryTable {
    let index = data.index();
    let cols = columns(data);
    let reps = &data.manifest.representations;
    let mut rows: Vec<(String, Vec<Option<Cell>>)> = reps
        .iter()
        .map(|rep| {
            let cells = cols
                .iter()
                .map(|(ev, metric, _)| {
                    let s = index.summary(&SeriesKey { evaluation: ev, params: "", metric, representation: rep })?;
                    let half = (s.n >= 2).then(|| (s.ci95_high - s.ci95_low) / 2.0).filter(|h| h.is_finite());
                    let family =
                        families.iter().find(|f| &f.evaluation == ev && &f.metric == metric && f.params.is_empty());
                    let mark = match family {
                        Some(f) if f.reference() == Some(rep.as_str()) => Mark::Reference,
                        Some(f) => match f.row_of(rep).map(|c| c.verdict) {
                            Some(Verdict::Better) => Mark::Above,
                            Some(Verdict::Worse) => Mark::Below,
                            _ => Mark::None,
                        },
                        None => Mark::None,
                    };
                    Some(Cell { mean: s.mean, half, mark, best: false })
                })
                .collect();
            (rep.clone(), cells)
        })
        .collect();
    rows.retain(|r| r.1.iter().any(|c| c.is_some()));
    let mut columns: Vec<Column> = cols.into_iter().map(|c| c.2).collect();
    cost_column(data, &mut columns, &mut rows);
    for (j, col) in columns.iter().enumerate() {
        let best = rows.iter().filter_map(|r| r.1[j].as_ref().map(|c| c.mean)).filter(|m| m.is_finite()).fold(
            None,
            |b: Option<f64>, m| match b {
                Some(b) if (col.higher_is_better && b >= m) || (!col.higher_is_better && b <= m) => Some(b),
                _ => Some(m),
            },
        );
        for r in rows.iter_mut() {
            if let (Some(c), Some(b)) = (r.1[j].as_mut(), best) {
                c.best = c.mean == b;
            }
        }
    }
    SummaryTable { columns, rows }
}

/// The cost of each representation: fit + embedding seconds (train, validation
/// and test images), mean over seeds, on the run's device. A fit read from the
/// cache counts the seconds it took when it was computed.
fn cost_column(data: &ReportData, columns: &mut Vec<Column>, rows: &mut [(String, Vec<Option<Cell>>)]) {
    let mut any = false;
    for (rep, cells) in rows.iter_mut() {
        let mut per_seed: Vec<(u64, f64)> = Vec::new();
        for r in data.rows.iter().filter(|r| &r.representation == rep) {
            let secs = r.fit_seconds + r.embed_seconds;
            if secs.is_finite() && !per_seed.iter().any(|(s, _)| *s == r.seed) {
                per_seed.push((r.seed, secs));
            }
        }
        let v: Vec<f64> = per_seed.iter().map(|p| p.1).collect();
        cells.push((!v.is_empty()).then(|| {
            any = true;
            let (m, sd) = super::stats::mean_std(&v);
            let h = super::stats::ci95_half_width(sd, v.len());
            Cell { mean: m, half: h.is_finite().then_some(h), mark: Mark::None, best: false }
        }));
    }
    if any {
        columns.push(Column { title: "fit + embed s".into(), higher_is_better: false, percent: false });
    } else {
        rows.iter_mut().for_each(|r| {
            r.1.pop();
        });
    }
    measured_cost_columns(data, columns, rows);
}

/// MACs per image and embedding throughput from the first `cost` evaluation.
fn measured_cost_columns(data: &ReportData, columns: &mut Vec<Column>, rows: &mut [(String, Vec<Option<Cell>>)]) {
    let Some(ev) = data.manifest.evaluations.iter().find(|e| e.kind == "cost") else { return };
    let index = data.index();
    for (metric, title, higher, scale) in
        [("macs", "MMACs / image", false, 1e-6), ("images_per_second", "images / s", true, 1.0)]
    {
        let mut any = false;
        for (rep, cells) in rows.iter_mut() {
            let key = SeriesKey { evaluation: &ev.name, params: "", metric, representation: rep };
            cells.push(index.summary(&key).map(|s| {
                any = true;
                let half =
                    (s.n >= 2).then(|| (s.ci95_high - s.ci95_low) / 2.0 * scale).filter(|h| h.is_finite() && *h > 0.0);
                Cell { mean: s.mean * scale, half, mark: Mark::None, best: false }
            }));
        }
        if any {
            columns.push(Column { title: format!("{} {title}", ev.name), higher_is_better: higher, percent: false });
        } else {
            rows.iter_mut().for_each(|r| {
                r.1.pop();
            });
        }
    }
}

fn value(c: &Cell, col: &Column) -> (String, Option<String>) {
    let k = if col.percent { 100.0 } else { 1.0 };
    let digits = match c.mean.abs() {
        m if !col.percent && m >= 1000.0 => 0,
        m if col.percent || m >= 10.0 => 1,
        _ => 3,
    };
    (format!("{:.*}", digits, c.mean * k), c.half.map(|h| format!("{:.*}", digits, h * k)))
}

const LEGEND: &str = "mean ± half-width of the 95 % t-interval over seeds (percent for shares); **bold**: the best mean of the column; ▲ / ▼: resolved above / below the column's reference (ref: its baseline, or its best mean when no baseline is declared), Holm-adjusted as in the evaluation's section; no mark: not resolved or not tested. Extra columns (worst class, ECE — lower is better —, seconds to fit and embed, MACs and throughput of the cost evaluation) carry no test.";

/// The table in Markdown (report.md's summary and `table.md`).
pub fn markdown(t: &SummaryTable) -> String {
    let mut o = String::new();
    if t.rows.is_empty() {
        return o;
    }
    let heads: Vec<String> =
        t.columns.iter().map(|c| format!("{}{}", c.title, if c.higher_is_better { " ↑" } else { " ↓" })).collect();
    let _ = writeln!(o, "| representation | {} |", heads.join(" | "));
    let _ = writeln!(o, "|---|{}", "---|".repeat(t.columns.len()));
    for (rep, cells) in &t.rows {
        let shown: Vec<String> = cells
            .iter()
            .zip(&t.columns)
            .map(|(c, col)| match c {
                None => "—".into(),
                Some(c) => {
                    let (m, h) = value(c, col);
                    let v = match h {
                        Some(h) => format!("{m} ± {h}"),
                        None => m,
                    };
                    let v = if c.best { format!("**{v}**") } else { v };
                    match c.mark {
                        Mark::Reference => format!("{v} (ref)"),
                        Mark::Above => format!("{v} ▲"),
                        Mark::Below => format!("{v} ▼"),
                        Mark::None => v,
                    }
                }
            })
            .collect();
        let _ = writeln!(o, "| {rep} | {} |", shown.join(" | "));
    }
    let _ = write!(o, "\n{LEGEND}");
    if t.columns.iter().any(|c| c.title.ends_with(" worst group")) {
        let _ = write!(o, " Worst group is compared as the headlines are (its marks are its own tests).");
    }
    o.push('\n');
    o
}

fn tex_escape(s: &str) -> String {
    s.replace('\\', r"\textbackslash{}").replace('_', r"\_").replace('%', r"\%").replace('&', r"\&").replace('#', r"\#")
}

/// The table as a LaTeX `table` with booktabs rules (`\usepackage{booktabs}`);
/// `caption` is LaTeX already.
pub fn latex(t: &SummaryTable, caption: &str) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "% Written by repbench; needs \\usepackage{{booktabs}} and \\usepackage{{amssymb}} (the triangles)."
    );
    let _ = writeln!(o, "\\begin{{table}}[t]\n\\centering\n\\small");
    let _ = writeln!(o, "\\begin{{tabular}}{{l{}}}\n\\toprule", "c".repeat(t.columns.len()));
    let heads: Vec<String> = t
        .columns
        .iter()
        .map(|c| {
            format!("{} {}", tex_escape(&c.title), if c.higher_is_better { "$\\uparrow$" } else { "$\\downarrow$" })
        })
        .collect();
    let _ = writeln!(o, "Representation & {} \\\\\n\\midrule", heads.join(" & "));
    for (rep, cells) in &t.rows {
        let shown: Vec<String> = cells
            .iter()
            .zip(&t.columns)
            .map(|(c, col)| match c {
                None => "--".into(),
                Some(c) => {
                    let (m, h) = value(c, col);
                    let m = if c.best { format!("\\textbf{{{m}}}") } else { m };
                    let v = match h {
                        Some(h) => format!("{m} $\\pm$ {h}"),
                        None => m,
                    };
                    match c.mark {
                        Mark::Reference => format!("{v}$^{{\\mathrm{{ref}}}}$"),
                        Mark::Above => format!("{v}$^{{\\blacktriangle}}$"),
                        Mark::Below => format!("{v}$^{{\\blacktriangledown}}$"),
                        Mark::None => v,
                    }
                }
            })
            .collect();
        let _ = writeln!(o, "{} & {} \\\\", tex_escape(rep), shown.join(" & "));
    }
    let _ = writeln!(o, "\\bottomrule\n\\end{{tabular}}");
    let _ = writeln!(o, "\\caption{{{caption}}}\n\\end{{table}}");
    o
}

/// Writes `table.md` and `table.tex` beside the report; returns the Markdown.
pub fn write(dir: &Path, data: &ReportData, families: &[Family]) -> Result<String> {
    let t = build(data, families);
    let md = markdown(&t);
    let caption = format!(
        "{}: mean $\\pm$ half-width of the 95\\% t-interval over seeds (percent for shares); bold: best mean; $\\blacktriangle$/$\\blacktriangledown$: resolved above/below the column's reference (Holm-adjusted); ECE: lower is better.",
        tex_escape(&data.manifest.suite)
    );
    write_atomic(&dir.join("table.md"), format!("# {}\n\n{md}", data.manifest.suite).as_bytes())?;
    let tex = latex(&t, &caption);
    write_atomic(&dir.join("table.tex"), tex.as_bytes())?;
    Ok(md)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> SummaryTable {
        let col = |t: &str, h: bool, p: bool| Column { title: t.into(), higher_is_better: h, percent: p };
        let cell = |m: f64, half: Option<f64>, mark: Mark, best: bool| Some(Cell { mean: m, half, mark, best });
        SummaryTable {
            columns: vec![col("linear top1", true, true), col("linear ECE", false, true)],
            rows: vec![
                (
                    "raw".into(),
                    vec![cell(0.8215, Some(0.0123), Mark::Reference, false), cell(0.044, Some(0.01), Mark::None, true)],
                ),
                ("hog_v2".into(), vec![cell(0.8654, Some(0.0051), Mark::Above, true), None]),
            ],
        }
    }

    #[test]
    fn markdown_marks_best_reference_and_resolved() {
        let md = markdown(&table());
        assert!(md.contains("| raw | 82.2 ± 1.2 (ref) | **4.4 ± 1.0** |"), "{md}");
        assert!(md.contains("| hog_v2 | **86.5 ± 0.5** ▲ | — |"), "{md}");
        assert!(md.contains("linear ECE ↓"));
    }

    #[test]
    fn latex_is_booktabs_with_escaped_names() {
        let tex = latex(&table(), "cap");
        for want in [
            "\\toprule",
            "\\midrule",
            "\\bottomrule",
            "hog\\_v2",
            "\\textbf{86.5} $\\pm$ 0.5$^{\\blacktriangle}$",
            "82.2 $\\pm$ 1.2$^{\\mathrm{ref}}$",
            "{lcc}",
        ] {
            assert!(tex.contains(want), "{want} not in\n{tex}");
        }
        let rows = tex.lines().filter(|l| l.ends_with("\\\\")).count();
        assert_eq!(rows, 3, "{tex}");
    }
}
