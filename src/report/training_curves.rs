//! Training curves: the loss per epoch (a panel per learned representation,
//! every seed a line), the learning-rate schedule, and a panel per method
//! diagnostic (DINO's teacher entropy and teacher–student KL, which show
//! collapse), every representation that logs it a line.
use super::figure::Figure;
use super::maps::grid;
use super::plot::color_of;
use super::ReportData;
use crate::error::Result;
use crate::render_figure;
use crate::train::trainer::EpochLog;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;

/// Longest curve that still gets a marker per point.
const MARKER_MAX_POINTS: usize = 30;

/// A panel: one representation's losses (or every representation's curves
/// when `rep` is None), the key in the epoch log, and the caption.
struct Panel<'a> {
    rep: Option<&'a String>,
    key: String,
    caption: String,
}

pub(super) type Curve = Vec<(f64, f64)>;

/// (epoch, value) of `key` in an epoch log: a field of every epoch (`loss`,
/// `lr`, `seconds`, `images_per_s`) or one of the method's diagnostics (epochs
/// that lack it are skipped).
pub(super) fn curve(log: &[EpochLog], key: &str) -> Curve {
    let value = |e: &EpochLog| match key {
        "loss" => Some(e.loss),
        "lr" => Some(e.lr),
        "seconds" => Some(e.seconds),
        "images_per_s" => Some(e.images_per_s),
        _ => e.diagnostics.get(key).copied(),
    };
    log.iter().filter_map(|e| Some((e.epoch as f64, value(e)?))).collect()
}

fn panels(data: &ReportData) -> Vec<Panel<'_>> {
    let mut reps: Vec<&String> = Vec::new();
    for t in &data.train_logs {
        if let Some(r) = data.manifest.representations.iter().find(|r| **r == t.representation) {
            if !reps.contains(&r) {
                reps.push(r);
            }
        }
    }
    if reps.is_empty() {
        return Vec::new();
    }
    let mut panels: Vec<Panel> =
        reps.iter().map(|r| Panel { rep: Some(*r), key: "loss".into(), caption: format!("{r} — loss") }).collect();
    panels.push(Panel { rep: None, key: "lr".into(), caption: "learning rate".into() });
    // One panel per diagnostic, every representation that logs it a line, so
    // variants of a method can be compared at a glance.
    let mut keys: Vec<String> = Vec::new();
    for e in data.train_logs.iter().flat_map(|t| &t.log) {
        for k in e.diagnostics.keys() {
            if !keys.contains(k) {
                keys.push(k.clone());
            }
        }
    }
    panels.extend(keys.into_iter().map(|k| Panel { rep: None, caption: k.replace('_', " "), key: k }));
    panels
}

/// The y range of the curves, padded; a flat curve gets a range around its value.
fn y_range(logs: &[(&String, Curve)]) -> (f64, f64) {
    let (lo, hi) = logs
        .iter()
        .flat_map(|(_, c)| c.iter().map(|p| p.1))
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
    let (lo, hi) = if lo.is_finite() && hi > lo {
        (lo, hi)
    } else if lo.is_finite() {
        (lo - 0.5 * lo.abs().max(1e-3), hi + 0.5 * hi.abs().max(1e-3))
    } else {
        (0.0, 1.0)
    };
    let pad = (hi - lo) * 0.08;
    (lo - pad, hi + pad)
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    data: &ReportData,
    panel: &Panel,
) -> std::result::Result<(), Box<dyn std::error::Error>>
where
    DB::ErrorType: 'static,
{
    let logs: Vec<(&String, Curve)> = data
        .train_logs
        .iter()
        .filter(|t| panel.rep.is_none_or(|r| &t.representation == r))
        .map(|t| (&t.representation, curve(&t.log, &panel.key)))
        .filter(|(_, c)| !c.is_empty())
        .collect();
    let xmax = logs.iter().flat_map(|(_, c)| c.iter().map(|p| p.0)).fold(1.0f64, f64::max);
    let (lo, hi) = y_range(&logs);
    let mut chart = ChartBuilder::on(area)
        .caption(&panel.caption, ("sans-serif", 15))
        .margin(8)
        .x_label_area_size(30)
        .y_label_area_size(60)
        .build_cartesian_2d(0.5f64..xmax + 0.5, lo..hi)?;
    let fmt = |v: &f64| if v.abs() < 1e-2 && *v != 0.0 { format!("{v:.1e}") } else { format!("{v:.3}") };
    chart.configure_mesh().x_desc("epoch").x_labels(6).y_labels(5).y_label_formatter(&fmt).draw()?;
    let mut seen: Vec<&String> = Vec::new();
    let shared = panel.rep.is_none() && panel.key != "lr";
    for (r, c) in &logs {
        let first = !seen.contains(r);
        if panel.key == "lr" && !first {
            continue;
        }
        seen.push(r);
        let col = color_of(&data.manifest, r);
        let line = chart.draw_series(LineSeries::new(c.iter().copied(), col.stroke_width(2)))?;
        if shared && first {
            line.label(r.to_string())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 14, y)], col.stroke_width(2)));
        }
        // Markers show where the epochs are on short curves; on long ones they
        // only hide the line (and made a 10-seed × 200-epoch SVG 1.2 MB of circles).
        if c.len() <= MARKER_MAX_POINTS {
            chart.draw_series(c.iter().map(|p| Circle::new(*p, 3, col.filled())))?;
        }
    }
    if shared {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 10))
            .draw()?;
    }
    Ok(())
}

/// The training-curves figure, or nothing when no representation was trained.
pub fn training_curves(dir: &Path, data: &ReportData) -> Result<Vec<Figure>> {
    let panels = panels(data);
    if panels.is_empty() {
        return Ok(Vec::new());
    }
    let (rows, cols) = grid(panels.len(), 4);
    let title = "Training curves: loss and learning rate per epoch".to_string();
    let (png, svg) =
        render_figure!(dir, "training_curves", (330 * cols as u32, 280 * rows as u32 + 40), true, |root| {
            root.fill(&WHITE)?;
            let root = root.titled(&title, ("sans-serif", 22))?;
            for (area, panel) in root.split_evenly((rows, cols)).iter().zip(&panels) {
                draw_panel(area, data, panel)?;
            }
        });
    let caption = "Mean training loss of each epoch (every seed is a line), the per-iteration schedule's value at \
                   each epoch's end, and method diagnostics (DINO: teacher entropy / ln K — 1 means the teacher \
                   collapsed to uniform — and KL(teacher ‖ student) in nats).";
    Ok(vec![Figure { section: "training".into(), title, png, svg, caption: caption.into() }])
}
