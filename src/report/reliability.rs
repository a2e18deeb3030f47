//! Reliability diagrams: for each representation, the test predictions'
//! accuracy against their confidence in 15 equal-width bins (pooled over
//! seeds: each bin's counts summed), with the diagonal of perfect calibration.
use super::figure::{slug, Figure};
use super::plot::color_of;
use super::ReportData;
use crate::error::Result;
use crate::eval::class_metrics::Bin;
use crate::eval::figure_data::{get, ReliabilityData};
use crate::eval::FigureKind;
use crate::render_figure;
use plotters::prelude::*;
use std::path::Path;

/// One representation's line: name, colour, pooled bins.
type Line = (String, RGBColor, Vec<(f64, f64, i64)>);

/// Bins pooled over a representation's cells: (mean confidence, accuracy, count).
fn pooled(bins: &[Vec<Bin>]) -> Vec<(f64, f64, i64)> {
    let n = bins.iter().map(|b| b.len()).max().unwrap_or(0);
    (0..n)
        .filter_map(|i| {
            let (mut k, mut c, mut a) = (0i64, 0.0, 0.0);
            for b in bins.iter().filter_map(|b| b.get(i)) {
                k += b.count;
                c += b.confidence * b.count as f64;
                a += b.accuracy * b.count as f64;
            }
            (k > 0).then(|| (c / k as f64, a / k as f64, k))
        })
        .collect()
}

pub fn reliability(dir: &Path, data: &ReportData) -> Result<Vec<Figure>> {
    let mut out = Vec::new();
    let index = data.index();
    for ev in data.manifest.evaluations.iter().filter(|e| e.draws(FigureKind::Reliability)) {
        let cells = index.artifacts(&ev.name);
        let series: Vec<Line> = data
            .manifest
            .representations
            .iter()
            .filter_map(|rep| {
                let bins: Vec<Vec<Bin>> = cells
                    .iter()
                    .filter(|c| &c.representation == rep)
                    .filter_map(|c| get::<ReliabilityData>(&c.details).ok().map(|d| d.reliability))
                    .collect();
                let p = pooled(&bins);
                (!p.is_empty()).then(|| (rep.clone(), color_of(&data.manifest, rep), p))
            })
            .collect();
        if series.is_empty() {
            continue;
        }
        let title = format!("{} — reliability of the test predictions", ev.name);
        let (png, svg) = render_figure!(dir, &format!("{}_reliability", slug(&ev.name)), (620, 560), true, |root| {
            root.fill(&WHITE)?;
            let mut chart = ChartBuilder::on(&root)
                .caption(&title, ("sans-serif", 20))
                .margin(15)
                .x_label_area_size(40)
                .y_label_area_size(55)
                .build_cartesian_2d(0f64..1f64, 0f64..1f64)?;
            chart.configure_mesh().x_desc("confidence (top probability)").y_desc("accuracy").draw()?;
            chart.draw_series(std::iter::once(PathElement::new(vec![(0.0, 0.0), (1.0, 1.0)], BLACK.mix(0.5))))?;
            for (label, color, pts) in &series {
                let c = *color;
                chart
                    .draw_series(LineSeries::new(pts.iter().map(|p| (p.0, p.1)), c.stroke_width(2)))?
                    .label(label.clone())
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(3)));
                chart.draw_series(pts.iter().map(|p| Circle::new((p.0, p.1), 3, c.filled())))?;
            }
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .position(SeriesLabelPosition::UpperLeft)
                .draw()?;
        });
        out.push(Figure {
            section: ev.name.clone(),
            title,
            png,
            svg,
            caption: "Accuracy against mean confidence in 15 equal-width bins, each representation's seeds pooled; on the diagonal a prediction's confidence is its chance of being right, below it the probe is over-confident. ECE (the bins' count-weighted |accuracy − confidence|) and NLL are in the table.".into(),
        });
    }
    Ok(out)
}
