//! The cost section of a `cost` evaluation: per representation its parameters
//! and MACs per image (counted, or why not), fit seconds, embedding throughput
//! and peak memory on the run's device — and accuracy against cost, with the
//! Pareto front marked: the representations no other one beats on both
//! accuracy and embedding time.
use super::figure::{slug, Figure};
use super::index::SeriesKey;
use super::manifest::EvaluationRecord;
use super::ReportData;
use crate::error::Result;
use crate::render_figure;
use plotters::prelude::*;
use std::fmt::Write;
use std::path::Path;

/// One representation's cost, means over seeds.
#[derive(Debug, Clone, PartialEq)]
pub struct CostRow {
    pub representation: String,
    pub params: Option<f64>,
    pub macs: Option<f64>,
    pub fit_seconds: Option<f64>,
    /// Images per second: mean and 95 % half-width over seeds.
    pub throughput: (f64, Option<f64>),
    pub peak_mib: Option<f64>,
    /// The accuracy it is set against: mean and half-width over seeds.
    pub accuracy: Option<(f64, Option<f64>)>,
    pub front: bool,
    /// How parameters and MACs were obtained, or why not.
    pub note: String,
}

/// The evaluation and metric the cost is set against: the first ranked
/// headline that is a share (the summary table's first accuracy column).
pub fn accuracy_of(data: &ReportData) -> Option<(&str, &str)> {
    data.manifest
        .evaluations
        .iter()
        .find(|e| e.ranks && e.proportion && e.kind != "cost")
        .map(|e| (e.name.as_str(), e.headline.as_str()))
}

pub fn rows(data: &ReportData, ev: &str) -> Vec<CostRow> {
    let index = data.index();
    let acc = accuracy_of(data);
    let mut out: Vec<CostRow> = Vec::new();
    for rep in &data.manifest.representations {
        let summary = |eval: &str, metric: &str| {
            index.summary(&SeriesKey { evaluation: eval, params: "", metric, representation: rep })
        };
        let Some(tp) = summary(ev, "images_per_second") else { continue };
        let half = |s: &super::stats::SummaryRow| {
            (s.n >= 2).then(|| (s.ci95_high - s.ci95_low) / 2.0).filter(|h| h.is_finite())
        };
        let fits: Vec<f64> = data
            .rows
            .iter()
            .filter(|r| &r.representation == rep && r.evaluation == ev && r.fit_seconds.is_finite())
            .map(|r| r.fit_seconds)
            .collect();
        let note = index
            .artifacts(ev)
            .iter()
            .find(|a| &a.representation == rep)
            .and_then(|a| a.details.get("counted")?.as_str().map(String::from))
            .unwrap_or_default();
        out.push(CostRow {
            representation: rep.clone(),
            params: summary(ev, "params").map(|s| s.mean),
            macs: summary(ev, "macs").map(|s| s.mean),
            fit_seconds: (!fits.is_empty()).then(|| super::stats::mean_std(&fits).0),
            throughput: (tp.mean, half(tp)),
            peak_mib: summary(ev, "peak_memory_mib").map(|s| s.mean),
            accuracy: acc.and_then(|(e, m)| summary(e, m)).map(|s| (s.mean, half(s))),
            front: false,
            note,
        });
    }
    mark_front(&mut out);
    out
}

/// Marks the rows no other row beats on both accuracy (higher) and
/// embedding time (lower), one of them strictly.
fn mark_front(rows: &mut [CostRow]) {
    let pts: Vec<Option<(f64, f64)>> = rows.iter().map(|r| r.accuracy.map(|a| (r.throughput.0, a.0))).collect();
    for (i, r) in rows.iter_mut().enumerate() {
        let Some((t, a)) = pts[i] else { continue };
        r.front = !pts.iter().flatten().any(|&(t2, a2)| t2 >= t && a2 >= a && (t2 > t || a2 > a));
    }
}

fn millions(v: Option<f64>) -> String {
    match v {
        Some(v) if v >= 1e5 => format!("{:.2}", v / 1e6),
        Some(v) => format!("{:.4}", v / 1e6),
        None => "—".into(),
    }
}

/// The table, under the evaluation's own section.
pub fn section(o: &mut String, data: &ReportData, ev: &EvaluationRecord) {
    let rows = rows(data, &ev.name);
    if rows.is_empty() {
        return;
    }
    let index = data.index();
    let first = index.artifacts(&ev.name).first().map(|a| a.details.clone()).unwrap_or_default();
    let acc = accuracy_of(data).map(|(e, m)| format!("{e} {m}")).unwrap_or_else(|| "—".into());
    let _ = writeln!(
        o,
        "**Cost per image** on {} ({} threads), {} test images embedded {} at a time:\n",
        first["device"].as_str().unwrap_or("?"),
        first["threads"],
        first["images"],
        first["batch_size"]
    );
    let _ = writeln!(o, "| representation | params (M) | MMACs / image | fit s | images / s (95 % CI) | peak MiB | {acc} | Pareto | how counted |");
    let _ = writeln!(o, "|---|---|---|---|---|---|---|---|---|");
    for r in &rows {
        let tp = match r.throughput.1 {
            Some(h) => format!("{:.0} ± {:.0}", r.throughput.0, h),
            None => format!("{:.0}", r.throughput.0),
        };
        let acc = match r.accuracy {
            Some((m, Some(h))) => format!("{:.1} ± {:.1}", m * 100.0, h * 100.0),
            Some((m, None)) => format!("{:.1}", m * 100.0),
            None => "—".into(),
        };
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {tp} | {} | {acc} | {} | {} |",
            r.representation,
            millions(r.params),
            millions(r.macs),
            r.fit_seconds.map_or("—".into(), |s| format!("{s:.1}")),
            r.peak_mib.map_or("—".into(), |m| format!("{m:.0}")),
            if r.front { "on the front" } else { "" },
            r.note
        );
    }
    let _ = writeln!(o, "\nParameters and MACs are counted from the architecture where repbench can (its own encoders, checked against ptflops' counts of the same PyTorch modules; PCA and projections), never estimated; HOG and imported TorchScript are timed only. Throughput and memory are measured on this machine in this run (a cached cell keeps the numbers of the run that computed it); peak MiB is the resident set's rise while embedding. Fit seconds are the fit stage's (a cached fit: when it was computed). Pareto: no other representation is both at least as accurate ({acc}) and at least as fast to embed, one of them strictly.\n");
}

/// Accuracy against embedding time per image (log axis), one point per
/// representation with its 95 % CIs, the Pareto front joined by a line.
pub fn pareto(dir: &Path, data: &ReportData) -> Result<Vec<Figure>> {
    let mut out = Vec::new();
    let Some((acc_eval, acc_metric)) = accuracy_of(data) else { return Ok(out) };
    for ev in data.manifest.evaluations.iter().filter(|e| e.kind == "cost") {
        let rows: Vec<CostRow> = rows(data, &ev.name).into_iter().filter(|r| r.accuracy.is_some()).collect();
        if rows.len() < 2 {
            continue;
        }
        let ms = |tp: f64| 1e3 / tp.max(1e-12);
        let xs: Vec<f64> = rows.iter().map(|r| ms(r.throughput.0)).collect();
        let (x_lo, x_hi) = xs.iter().fold((f64::INFINITY, 0f64), |(a, b), &x| (a.min(x), b.max(x)));
        let accs: Vec<(f64, f64)> =
            rows.iter().filter_map(|r| r.accuracy.map(|(m, h)| (m - h.unwrap_or(0.0), m + h.unwrap_or(0.0)))).collect();
        let (y_lo, y_hi) = accs.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| (a.min(p.0), b.max(p.1)));
        let pad = ((y_hi - y_lo) * 0.1).max(0.005);
        // A share stays within [0, 1] even where a 2-seed interval reaches beyond.
        let (y_lo, y_hi) = ((y_lo - pad).max(0.0), (y_hi + pad).min(1.0));
        let title = format!("{} — {acc_eval} {acc_metric} against embedding time", ev.name);
        let (png, svg) = render_figure!(dir, &format!("{}_pareto", slug(&ev.name)), (860, 480), true, |root| {
            root.fill(&WHITE)?;
            let mut chart = ChartBuilder::on(&root)
                .caption(&title, ("sans-serif", 21))
                .margin(20)
                .x_label_area_size(45)
                .y_label_area_size(70)
                .build_cartesian_2d((x_lo / 2.0..x_hi * 2.0).log_scale(), y_lo * 100.0..y_hi * 100.0)?;
            chart
                .configure_mesh()
                .x_desc("milliseconds per image to embed (log scale; left is cheaper)")
                .y_desc(format!("{acc_eval} {acc_metric} (%)"))
                .axis_desc_style(("sans-serif", 15))
                .label_style(("sans-serif", 14))
                .light_line_style(WHITE)
                .draw()?;
            let mut front: Vec<(f64, f64)> = rows
                .iter()
                .zip(&xs)
                .filter(|(r, _)| r.front)
                .map(|(r, &x)| (x, r.accuracy.unwrap().0 * 100.0))
                .collect();
            front.sort_by(|a, b| a.0.total_cmp(&b.0));
            chart.draw_series(LineSeries::new(front, RGBColor(0x00, 0x72, 0xb2).stroke_width(2)))?;
            for (r, &x) in rows.iter().zip(&xs) {
                let Some((m, h)) = r.accuracy else { continue };
                let (m, h) = (m * 100.0, h.unwrap_or(0.0) * 100.0);
                let c = if r.front { RGBColor(0x00, 0x72, 0xb2) } else { RGBColor(0x88, 0x88, 0x88) };
                chart
                    .draw_series(std::iter::once(PathElement::new(vec![(x, m - h), (x, m + h)], c.stroke_width(1))))?;
                if let Some(th) = r.throughput.1 {
                    let (a, b) = (ms(r.throughput.0 + th), ms((r.throughput.0 - th).max(r.throughput.0 * 0.05)));
                    chart.draw_series(std::iter::once(PathElement::new(vec![(a, m), (b, m)], c.stroke_width(1))))?;
                }
                let style = if r.front { c.filled() } else { c.stroke_width(2) };
                let label = Text::new(r.representation.clone(), (9, -18), ("sans-serif", 14));
                chart.draw_series(std::iter::once(EmptyElement::at((x, m)) + Circle::new((0, 0), 6, style) + label))?;
            }
        });
        out.push(Figure {
            section: ev.name.clone(),
            title,
            png,
            svg,
            caption: format!("Each representation's {acc_eval} {acc_metric} (mean over seeds, 95 % CI) against the time to embed one image on this run's device (from the measured throughput, 95 % CI). Filled and joined: the Pareto front — no other representation is both more accurate and faster to embed."),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, tp: f64, acc: f64) -> CostRow {
        CostRow {
            representation: name.into(),
            params: None,
            macs: None,
            fit_seconds: None,
            throughput: (tp, None),
            peak_mib: None,
            accuracy: Some((acc, None)),
            front: false,
            note: String::new(),
        }
    }

    #[test]
    fn the_front_keeps_what_nothing_beats_on_both() {
        let mut rows =
            vec![row("raw", 1000.0, 0.80), row("hog", 500.0, 0.85), row("cnn", 100.0, 0.84), row("tie", 500.0, 0.85)];
        mark_front(&mut rows);
        let front: Vec<&str> = rows.iter().filter(|r| r.front).map(|r| r.representation.as_str()).collect();
        // cnn is slower and less accurate than hog; equal points both stay.
        assert_eq!(front, vec!["raw", "hog", "tie"]);
    }
}
