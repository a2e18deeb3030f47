//! The report's heatmap figures: CKA similarity between representations and
//! confusion matrices, one panel per matrix point (and seed), annotated when the
//! grid is small enough to read.
use super::figure::{heat, slug, Figure};
use super::figures::{centered, grid};
use super::index::SeriesKey;
use super::maps::read_figure_data;
use super::ReportData;
use crate::error::Result;
use crate::eval::figure_data::{BlockCkaData, ConfusionData};
use crate::eval::FigureKind;
use crate::render_figure;
use plotters::prelude::*;
use std::path::Path;

/// Heatmap panels: (title, row/column labels, values in [0, 1]).
type Panel = (String, Vec<String>, Vec<Vec<f64>>);

/// Long on purpose: one figure's layout (cells, values, row and column labels per panel), drawn top to
/// bottom.
fn heatmaps(
    dir: &Path,
    name: &str,
    section: &str,
    title: &str,
    caption: &str,
    panels: &[Panel],
    annotate: bool,
) -> Result<Figure> {
    let (rows, cols) = grid(panels.len(), 3);
    let n_max = panels.iter().map(|p| p.1.len()).max().unwrap_or(1) as u32;
    let longest = panels.iter().flat_map(|p| p.1.iter().map(|l| l.len())).max().unwrap_or(2) as u32;
    // Cells wide enough for their column label written horizontally.
    let cell = (8 * longest + 10).clamp(40, 110);
    let label_px = (8 * longest + 20).min(200);
    let side = (n_max * cell + label_px + 40).max(300);
    let width = (side * cols as u32).max(9 * title.len() as u32 + 40);
    let (png, svg) = render_figure!(dir, name, (width, side * rows as u32 + 50), true, |root| {
        root.fill(&WHITE)?;
        let root = root.titled(title, ("sans-serif", 22))?;
        for (area, (ptitle, labels, m)) in root.split_evenly((rows, cols)).iter().zip(panels) {
            let n = labels.len();
            let mut chart = ChartBuilder::on(area)
                .caption(ptitle, ("sans-serif", 17))
                .margin(10)
                .x_label_area_size(30)
                .y_label_area_size(label_px)
                .build_cartesian_2d(-0.5f64..n as f64 - 0.5, -0.5f64..n as f64 - 0.5)?;
            let lab = |v: &f64, flip: bool| {
                let i = v.round();
                if (v - i).abs() > 1e-6 || i < 0.0 || i as usize >= n {
                    return String::new();
                }
                let i = if flip { n - 1 - i as usize } else { i as usize };
                labels[i].clone()
            };
            chart
                .configure_mesh()
                .disable_mesh()
                .x_labels(n + 1)
                .y_labels(n + 1)
                .x_label_formatter(&|v| lab(v, false))
                .y_label_formatter(&|v| lab(v, true))
                .x_label_style(("sans-serif", 13))
                .y_label_style(("sans-serif", 13))
                .draw()?;
            for (i, row) in m.iter().enumerate() {
                for (j, &v) in row.iter().enumerate() {
                    let y = (n - 1 - i) as f64;
                    chart.draw_series(std::iter::once(Rectangle::new(
                        [(j as f64 - 0.5, y - 0.5), (j as f64 + 0.5, y + 0.5)],
                        heat(v).filled(),
                    )))?;
                    if annotate && n <= 12 {
                        let color = if v < 0.55 { WHITE } else { BLACK };
                        chart.draw_series(std::iter::once(Text::new(
                            format!("{v:.2}"),
                            (j as f64, y),
                            centered(12).color(&color),
                        )))?;
                    }
                }
            }
        }
    });
    Ok(Figure { section: section.into(), title: title.into(), png, svg, caption: caption.into() })
}

/// Which CKA estimator a similarity evaluation's cells used: the details say
/// since the debiased default; older cells were biased.
pub fn cka_estimator(data: &ReportData, eval: &str) -> &'static str {
    let recorded = data.index().artifacts(eval).first().and_then(|a| a.details.get("estimator")?.as_str());
    match recorded {
        Some("debiased") => "debiased",
        Some(_) => "biased",
        None => "biased (recorded before repbench's debiased default)",
    }
}

/// CKA between representations (mean over seeds), and between the blocks of
/// each encoder (from `depth_probe`, first seed).
///
/// Long on purpose: two figures of one evaluation family (CKA between representations, CKA between blocks)
/// built from the same summary, side by side.
pub fn similarity(dir: &Path, data: &ReportData) -> Result<Vec<Figure>> {
    let mut out = Vec::new();
    let reps = &data.manifest.representations;
    let index = data.index();
    for ev in data.manifest.evaluations.iter().filter(|e| e.draws(FigureKind::CkaMatrix)) {
        let groups = super::stats::params_groups(index.summaries(&ev.name).iter().copied());
        let panels: Vec<Panel> = groups
            .iter()
            .map(|params| {
                let m = reps
                    .iter()
                    .map(|a| {
                        reps.iter()
                            .map(|b| {
                                let metric = format!("cka:{b}");
                                index
                                    .summary(&SeriesKey {
                                        evaluation: &ev.name,
                                        params,
                                        metric: &metric,
                                        representation: a,
                                    })
                                    .map(|s| s.mean)
                                    .unwrap_or(f64::NAN)
                            })
                            .collect()
                    })
                    .collect();
                (if params.is_empty() { "test set".to_string() } else { params.to_string() }, reps.clone(), m)
            })
            .collect();
        if !panels.is_empty() {
            out.push(heatmaps(dir, &slug(&ev.name), &ev.name, &format!("{} — linear CKA between representations", ev.name), &format!("Linear CKA, {} estimator, on the same test images (mean over seeds): 1 = the same representation up to rotation and scale; ≈ 0 for unrelated features (debiased).", cka_estimator(data, &ev.name)), &panels, true)?);
        }
    }
    for ev in data.manifest.evaluations.iter().filter(|e| e.draws(FigureKind::BlockCka)) {
        let mut panels: Vec<Panel> = Vec::new();
        let mut estimator = None;
        for rep in reps {
            let Some(a) = index.artifacts(&ev.name).iter().find(|a| &a.representation == rep) else { continue };
            let data = read_figure_data::<BlockCkaData>(a)?;
            estimator = estimator.or(Some(data.estimator));
            // `null`: the evaluation was told not to compute it (cka_samples: 0).
            let Some(m) = data.layer_cka else { continue };
            let labels = (1..=m.len()).map(|i| format!("b{i}")).collect();
            panels.push((format!("{rep} (seed {})", a.seed), labels, m));
        }
        if !panels.is_empty() {
            out.push(heatmaps(
                dir,
                &format!("{}_layer_cka", slug(&ev.name)),
                &ev.name,
                &format!("{} — linear CKA between blocks", ev.name),
                &format!(
                    "Block-to-block linear CKA ({} estimator) of each encoder on test images (first seed).",
                    match estimator.flatten() {
                        Some(crate::eval::similarity::CkaEstimator::Debiased) => "debiased",
                        Some(crate::eval::similarity::CkaEstimator::Biased) => "biased",
                        None => "biased, recorded before repbench's debiased default,",
                    }
                ),
                &panels,
                true,
            )?);
        }
    }
    Ok(out)
}

/// Row-normalised confusion matrices (summed over seeds) of every evaluation
/// that stores one (linear probe, fine-tuning).
pub fn confusion(dir: &Path, data: &ReportData) -> Result<Vec<Figure>> {
    let mut out = Vec::new();
    let index = data.index();
    for ev in data.manifest.evaluations.iter().filter(|e| e.draws(FigureKind::Confusion)) {
        let mut panels: Vec<Panel> = Vec::new();
        for rep in &data.manifest.representations {
            let mut sum: Option<Vec<Vec<f64>>> = None;
            let mut seeds = 0;
            for a in index.artifacts(&ev.name).iter().filter(|a| &a.representation == rep && a.params.is_empty()) {
                let ConfusionData { confusion } = read_figure_data(a)?;
                let c: Vec<Vec<f64>> = confusion.iter().map(|r| r.iter().map(|&v| v as f64).collect()).collect();
                seeds += 1;
                match &mut sum {
                    Some(s) if s.len() == c.len() => {
                        s.iter_mut().zip(&c).for_each(|(r, cr)| r.iter_mut().zip(cr).for_each(|(v, w)| *v += w))
                    }
                    _ => sum = Some(c),
                }
            }
            if let Some(m) = sum {
                let norm: Vec<Vec<f64>> = m
                    .iter()
                    .map(|r| {
                        let t: f64 = r.iter().sum();
                        r.iter().map(|v| if t > 0.0 { v / t } else { 0.0 }).collect()
                    })
                    .collect();
                let labels = (0..norm.len()).map(|i| data.class_name(i as i64)).collect();
                panels.push((format!("{rep} ({seeds} seed{})", if seeds == 1 { "" } else { "s" }), labels, norm));
            }
        }
        if !panels.is_empty() {
            out.push(heatmaps(
                dir,
                &format!("{}_confusion", slug(&ev.name)),
                &ev.name,
                &format!("{} — confusion matrices (rows: true class)", ev.name),
                "Test predictions summed over seeds, each row normalised to 1.",
                &panels,
                true,
            )?);
        }
    }
    Ok(out)
}
