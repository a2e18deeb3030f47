//! The per-class gap figure of a classification evaluation: for every
//! representation but the reference (the baseline, else the best mean
//! headline — as the per-class tests), its top-1 minus the reference's in each
//! class, in points: the mean over the seeds both ran (paired by seed) with
//! its 95 % t-interval, dots and whiskers around a zero line. "Where does HOG
//! beat DINO" at a glance; the per-class McNemar tests beside it say which
//! differences are resolved.
use super::figure::{class_color, slug, Figure};
use super::manifest::EvaluationRecord;
use super::stats::{ci95_half_width, mean_std, params_groups};
use super::ReportData;
use crate::error::Result;
use crate::eval::class_metrics::per_class_accuracy;
use crate::eval::figure_data::{get, ConfusionData};
use crate::render_figure;
use plotters::prelude::*;
use std::path::Path;

/// Accuracy per class (None: no test images of it).
type PerClass = Vec<Option<f64>>;

/// Per class: (mean difference, CI half-width) of `rep` − `reference` over
/// the seeds both have, or None for a class without test images.
pub fn gaps(data: &ReportData, ev: &str, params: &str, rep: &str, reference: &str) -> Vec<Option<(f64, f64)>> {
    let index = data.index();
    let cells = index.artifacts(ev);
    let per_class = |r: &str, seed: u64| {
        cells
            .iter()
            .find(|c| c.representation == r && c.params == params && c.seed == seed)
            .and_then(|c| get::<ConfusionData>(&c.details).ok())
            .map(|d| per_class_accuracy(&d.confusion))
    };
    let mut seeds: Vec<u64> =
        cells.iter().filter(|c| c.representation == rep && c.params == params).map(|c| c.seed).collect();
    seeds.sort_unstable();
    seeds.dedup();
    let pairs: Vec<(PerClass, PerClass)> =
        seeds.iter().filter_map(|&s| Some((per_class(rep, s)?, per_class(reference, s)?))).collect();
    let classes = pairs.iter().map(|p| p.0.len().min(p.1.len())).min().unwrap_or(0);
    (0..classes)
        .map(|k| {
            let d: Vec<f64> = pairs.iter().filter_map(|(a, b)| Some(a[k]? - b[k]?)).collect();
            if d.is_empty() {
                return None;
            }
            let (m, sd) = mean_std(&d);
            let h = ci95_half_width(sd, d.len());
            Some((m, if h.is_finite() { h } else { 0.0 }))
        })
        .collect()
}

pub fn figures(dir: &Path, data: &ReportData) -> Result<Vec<Figure>> {
    let mut out = Vec::new();
    for ev in &data.manifest.evaluations {
        let index = data.index();
        if !index.artifacts(&ev.name).iter().any(|c| c.details.get("confusion").is_some()) {
            continue;
        }
        for params in params_groups(index.summaries(&ev.name).iter().copied()) {
            out.extend(figure(dir, data, ev, params)?);
        }
    }
    Ok(out)
}

/// Series of one figure: (representation, per-class gaps).
type Gaps = Vec<(String, Vec<Option<(f64, f64)>>)>;

fn figure(dir: &Path, data: &ReportData, ev: &EvaluationRecord, params: &str) -> Result<Option<Figure>> {
    let Some((refr, why)) = super::per_class::reference(data, ev, params) else { return Ok(None) };
    let series: Gaps = data
        .manifest
        .representations
        .iter()
        .filter(|r| **r != refr)
        .map(|r| (r.clone(), gaps(data, &ev.name, params, r, &refr)))
        .filter(|(_, g)| g.iter().any(|x| x.is_some()))
        .collect();
    let classes = series.iter().map(|s| s.1.len()).max().unwrap_or(0);
    if series.is_empty() || classes < 2 {
        return Ok(None);
    }
    let vals = series.iter().flat_map(|s| s.1.iter().flatten().flat_map(|&(m, h)| [m - h, m + h]));
    let (lo, hi) = vals.fold((0f64, 0f64), |(a, b), v| (a.min(v), b.max(v)));
    let pad = ((hi - lo) * 0.08).max(0.005);
    // Headroom above the data for the legend.
    let (ymin, ymax) = ((lo - pad) * 100.0, (hi + pad + (hi - lo) * 0.35) * 100.0);
    let names: Vec<String> = (0..classes as i64).map(|k| data.class_name_in(params, k)).collect();
    let tag = if params.is_empty() { String::new() } else { format!(" [{params}]") };
    let title = format!("{}{tag} — top-1 per class minus {refr}'s (points)", ev.name);
    let file = format!("{}{}_class_gap", ev.name, if params.is_empty() { String::new() } else { format!("_{params}") });
    let n = series.len() as f64;
    let (png, svg) = render_figure!(dir, &slug(&file), (110 * classes as u32 + 260, 460), true, |root| {
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(&title, ("sans-serif", 20))
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(60)
            .build_cartesian_2d(-0.5f64..(classes as f64 - 0.5), ymin..ymax)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(classes + 1)
            .x_label_formatter(&|v: &f64| {
                let i = v.round();
                if (v - i).abs() < 1e-6 && i >= 0.0 {
                    names.get(i as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .y_desc(format!("top-1 − {refr}'s, points"))
            .light_line_style(WHITE)
            .label_style(("sans-serif", 13))
            .axis_desc_style(("sans-serif", 14))
            .draw()?;
        chart.draw_series(std::iter::once(PathElement::new(
            vec![(-0.5, 0.0), (classes as f64 - 0.5, 0.0)],
            BLACK.stroke_width(1),
        )))?;
        for (j, (rep, g)) in series.iter().enumerate() {
            let c = class_color(j as i64);
            let dx = (j as f64 - (n - 1.0) / 2.0) * (0.7 / n.max(1.0));
            for (k, v) in g.iter().enumerate() {
                let Some((m, h)) = v else { continue };
                let x = k as f64 + dx;
                let (a, b) = ((m - h) * 100.0, (m + h) * 100.0);
                chart.draw_series(std::iter::once(PathElement::new(vec![(x, a), (x, b)], c.stroke_width(2))))?;
            }
            let pts = g.iter().enumerate().filter_map(|(k, v)| v.map(|(m, _)| (k as f64 + dx, m * 100.0)));
            chart
                .draw_series(pts.map(|p| Circle::new(p, 5, c.filled())))?
                .label(rep.clone())
                .legend(move |(x, y)| Circle::new((x + 8, y), 5, c.filled()));
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 13))
            .position(SeriesLabelPosition::UpperRight)
            .draw()?;
    });
    Ok(Some(Figure {
        section: ev.name.clone(),
        title,
        png,
        svg,
        caption: format!("Per class, each representation's top-1 minus that of {refr} ({why}), in points: mean over the seeds both ran, paired by seed, with the 95 % t-interval over seeds (none with one seed). Above zero: better than {refr} on that class. The per-class McNemar tests in the text say which differences are resolved on one seed's test images."),
    }))
}
