//! The report's curve figures: accuracy versus labelled examples (label
//! efficiency) and versus depth (probes by block), each read from the summary
//! (means and CIs over seeds), one colour per representation across every plot.
//! Heatmaps are in `heatmaps`, embedding maps and attention grids in `maps`,
//! training curves in `training_curves`.
use super::figure::{slug, Figure};
use super::plot::color_of;
use super::stats::SummaryRow;
use super::ReportData;
use crate::error::Result;
use crate::eval::FigureKind;
use crate::render_figure;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::Path;

/// One line of a curve chart: (x index, mean, CI low, CI high) per point.
struct Series {
    label: String,
    color: RGBColor,
    points: Vec<(f64, f64, f64, f64)>,
}

pub(super) fn grid(n: usize, max_cols: usize) -> (usize, usize) {
    let cols = n.clamp(1, max_cols);
    (n.div_ceil(cols).max(1), cols)
}

pub(super) fn centered(size: u32) -> TextStyle<'static> {
    ("sans-serif", size).into_font().color(&BLACK).pos(Pos::new(HPos::Center, VPos::Center))
}

/// A line chart over categorical x positions, with 95 % CI whiskers.
///
/// Long on purpose: one chart's layout (axes, a line and CI whiskers per series, legend), drawn top to
/// bottom.
#[allow(clippy::too_many_arguments)]
fn curve_chart(
    dir: &Path,
    name: &str,
    section: &str,
    title: &str,
    caption: &str,
    x_labels: &[String],
    y_desc: &str,
    series: &[Series],
) -> Result<Figure> {
    let k = x_labels.len().max(1);
    let vals = series.iter().flat_map(|s| s.points.iter().flat_map(|p| [p.1, p.2, p.3])).filter(|v| v.is_finite());
    let (lo, hi) = vals.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
    let (lo, hi) = if lo.is_finite() { (lo, hi) } else { (0.0, 1.0) };
    // Accuracies stay on [0, 1] even when a 2-seed CI reaches beyond it (its
    // whisker is then cut at the axis).
    let unit = series.iter().flat_map(|s| s.points.iter().map(|p| p.1)).all(|m| (0.0..=1.0).contains(&m));
    let (lo, hi) = if unit { (lo.max(0.0), hi.min(1.0)) } else { (lo, hi) };
    let pad = ((hi - lo) * 0.08).max(0.01);
    let (ymin, ymax) = ((lo - pad).max(if lo >= 0.0 { 0.0 } else { f64::NEG_INFINITY }), hi + pad);
    // The legend goes where the curves are not at their right end: below
    // rising curves (label efficiency), above falling ones (severity).
    let ends: Vec<f64> = series.iter().filter_map(|s| s.points.last().map(|p| p.1)).collect();
    let end = ends.iter().sum::<f64>() / ends.len().max(1) as f64;
    let legend_at =
        if end < (ymin + ymax) / 2.0 { SeriesLabelPosition::UpperRight } else { SeriesLabelPosition::LowerRight };
    let (png, svg) = render_figure!(dir, name, (140 * k as u32 + 420, 440), true, |root| {
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 22))
            .margin(15)
            .x_label_area_size(40)
            .y_label_area_size(65)
            .build_cartesian_2d(-0.3f64..(k as f64 - 0.7), ymin..ymax)?;
        chart
            .configure_mesh()
            .x_labels(k + 1)
            .x_label_formatter(&|v: &f64| {
                let i = v.round();
                if (v - i).abs() < 1e-6 && i >= 0.0 {
                    x_labels.get(i as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .y_desc(y_desc)
            .x_label_style(("sans-serif", 15))
            .y_label_style(("sans-serif", 14))
            .axis_desc_style(("sans-serif", 15))
            .draw()?;
        for s in series {
            let c = s.color;
            chart
                .draw_series(LineSeries::new(s.points.iter().map(|p| (p.0, p.1)), c.stroke_width(2)))?
                .label(s.label.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(3)));
            chart.draw_series(s.points.iter().map(|p| Circle::new((p.0, p.1), 4, c.filled())))?;
            for p in s.points.iter().filter(|p| p.3 > p.2) {
                let (a, b) = (p.2.clamp(ymin, ymax), p.3.clamp(ymin, ymax));
                chart.draw_series(std::iter::once(PathElement::new(vec![(p.0, a), (p.0, b)], c.stroke_width(1))))?;
            }
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 14))
            .position(legend_at.clone())
            .draw()?;
    });
    Ok(Figure { section: section.into(), title: title.into(), png, svg, caption: caption.into() })
}

/// Curves of a metric family `prefix<sep><x>` over x (label fractions, blocks).
fn family_curves(
    data: &ReportData,
    eval: &str,
    parse: impl Fn(&str) -> Option<(String, f64)>,
) -> Vec<(String, Vec<String>, Vec<Series>)> {
    let index = data.index();
    let in_eval = index.summaries(eval);
    let mut families: Vec<String> = Vec::new();
    let mut xs: Vec<f64> = Vec::new();
    for s in in_eval {
        if let Some((fam, x)) = parse(&s.metric) {
            if !families.contains(&fam) {
                families.push(fam);
            }
            if !xs.contains(&x) {
                xs.push(x);
            }
        }
    }
    xs.sort_by(f64::total_cmp);
    families
        .into_iter()
        .map(|fam| {
            let mut series = Vec::new();
            for rep in &data.manifest.representations {
                let of_rep: Vec<&SummaryRow> = in_eval.iter().copied().filter(|s| &s.representation == rep).collect();
                for params in super::stats::params_groups(of_rep.iter().copied()) {
                    let points: Vec<(f64, f64, f64, f64)> = of_rep
                        .iter()
                        .filter(|s| s.params == params)
                        .filter_map(|s| parse(&s.metric).filter(|(f, _)| *f == fam).map(|(_, x)| (s, x)))
                        .filter_map(|(s, x)| {
                            xs.iter().position(|v| *v == x).map(|i| {
                                (
                                    i as f64,
                                    s.mean,
                                    if s.n >= 2 { s.ci95_low } else { s.mean },
                                    if s.n >= 2 { s.ci95_high } else { s.mean },
                                )
                            })
                        })
                        .collect();
                    if !points.is_empty() {
                        let label = if params.is_empty() { rep.clone() } else { format!("{rep} [{params}]") };
                        series.push(Series { label, color: color_of(&data.manifest, rep), points });
                    }
                }
            }
            (fam, xs.iter().map(|x| format!("{x}")).collect(), series)
        })
        .collect()
}

/// Accuracy versus label fraction, one chart per metric family of each
/// `label_efficiency` evaluation.
pub fn label_efficiency(dir: &Path, data: &ReportData) -> Result<Vec<Figure>> {
    let mut out = Vec::new();
    for ev in data.manifest.evaluations.iter().filter(|e| e.draws(FigureKind::LabelCurve)) {
        for (fam, xs, series) in family_curves(data, &ev.name, |m| {
            m.split_once('@').and_then(|(f, x)| x.parse().ok().map(|x| (f.to_string(), x)))
        }) {
            let labels: Vec<String> = xs
                .iter()
                .map(|x| x.parse::<f64>().map(|v| format!("{}%", v * 100.0)).unwrap_or_else(|_| x.clone()))
                .collect();
            let name = format!("{}_{}", slug(&ev.name), slug(&fam));
            out.push(curve_chart(
                dir,
                &name,
                &ev.name,
                &format!("{} — {fam} vs labelled fraction", ev.name),
                "Mean over seeds with 95 % CI; each fraction is a stratified, seeded subset of the training labels.",
                &labels,
                &fam,
                &series,
            )?);
        }
    }
    Ok(out)
}

/// Linear-probe accuracy versus block, for each `depth_probe` evaluation.
pub fn depth(dir: &Path, data: &ReportData) -> Result<Vec<Figure>> {
    let mut out = Vec::new();
    for ev in data.manifest.evaluations.iter().filter(|e| e.draws(FigureKind::DepthCurve)) {
        for (fam, xs, series) in family_curves(data, &ev.name, |m| {
            m.strip_prefix("top1_block").and_then(|b| b.parse().ok()).map(|b| ("top1".to_string(), b))
        }) {
            let labels: Vec<String> = xs.iter().map(|x| format!("block {x}")).collect();
            out.push(curve_chart(
                dir,
                &slug(&ev.name),
                &ev.name,
                &format!("{} — probe {fam} by depth", ev.name),
                "A linear probe on each block's pooled output (mean over seeds, 95 % CI).",
                &labels,
                &fam,
                &series,
            )?);
        }
    }
    Ok(out)
}

/// Accuracy versus corruption severity (0 = clean), one chart per corruption
/// family of each `robustness` evaluation.
pub fn severity(dir: &Path, data: &ReportData) -> Result<Vec<Figure>> {
    let mut out = Vec::new();
    for ev in data.manifest.evaluations.iter().filter(|e| e.draws(FigureKind::SeverityCurve)) {
        for (fam, xs, series) in family_curves(data, &ev.name, |m| {
            m.split_once('@').and_then(|(f, x)| x.parse().ok().map(|x| (f.to_string(), x)))
        }) {
            let labels: Vec<String> =
                xs.iter().map(|x| if x == "0" { "clean".to_string() } else { format!("severity {x}") }).collect();
            out.push(curve_chart(
                dir,
                &format!("{}_{}", slug(&ev.name), slug(&fam)),
                &ev.name,
                &format!("{} — {fam} corruptions: top-1 vs severity", ev.name),
                "Mean top-1 over the family's corruptions, then over seeds (95 % CI); the classifier is fitted on clean features.",
                &labels,
                "top-1",
                &series,
            )?);
        }
    }
    Ok(out)
}

/// Fine-tuning curves: per fine-tuned representation, top-1 on the
/// validation split and on a fixed training sample after each epoch (mean over
/// seeds, 95 % CI), from the `train_log` each cell stored.
pub fn finetune_curves(dir: &Path, data: &ReportData) -> Result<Vec<Figure>> {
    use crate::train::trainer::EpochLog;
    let mut out = Vec::new();
    let index = data.index();
    for ev in data.manifest.evaluations.iter().filter(|e| e.draws(FigureKind::FinetuneCurve)) {
        for rep in &data.manifest.representations {
            let logs: Vec<Vec<EpochLog>> = index
                .artifacts(&ev.name)
                .iter()
                .filter(|c| &c.representation == rep)
                .filter_map(|c| serde_json::from_value(c.details.get("train_log")?.clone()).ok())
                .collect();
            let epochs = logs.iter().map(|l| l.len()).max().unwrap_or(0);
            let has_curve = logs.iter().flatten().any(|e| e.diagnostics.contains_key("val_top1"));
            if epochs == 0 || !has_curve {
                continue;
            }
            let series: Vec<Series> = [
                ("train_top1", "train (2,000-image sample)", RGBColor(0xd5, 0x5e, 0x00)),
                ("val_top1", "validation", RGBColor(0x00, 0x72, 0xb2)),
            ]
            .into_iter()
            .map(|(key, label, color)| {
                let points = (0..epochs)
                    .map(|e| {
                        let v: Vec<f64> = logs.iter().filter_map(|l| l.get(e)?.diagnostics.get(key).copied()).collect();
                        let (m, sd) = super::stats::mean_std(&v);
                        let h = super::stats::ci95_half_width(sd, v.len());
                        if h.is_finite() {
                            (e as f64, m, m - h, m + h)
                        } else {
                            (e as f64, m, m, m)
                        }
                    })
                    .collect();
                Series { label: label.into(), color, points }
            })
            .collect();
            let labels: Vec<String> = (1..=epochs).map(|e| format!("epoch {e}")).collect();
            out.push(curve_chart(
                dir,
                &format!("{}_{}_curve", slug(&ev.name), slug(rep)),
                &ev.name,
                &format!("{} — {rep}: fine-tuning curve", ev.name),
                "Top-1 after each epoch on the validation split and on a fixed sample of the training split (mean over seeds, 95 % CI); a widening gap is the network fitting its training images.",
                &labels,
                "top-1",
                &series,
            )?);
        }
    }
    Ok(out)
}
