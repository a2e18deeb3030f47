//! Charts for the report, drawn with plotters into an in-memory SVG string and RGB
//! buffer, then written atomically (SVG for print, PNG for quick viewing).
//!
//! Each representation keeps one colour in every chart (its position in the suite).
use super::index::ResultsIndex;
use super::manifest::Manifest;
use super::stats::SummaryRow;
use crate::error::{Error, Result};
use crate::files::write_atomic;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;
use std::sync::Once;

static FONT: Once = Once::new();

/// plotters draws text with ab_glyph from this bundled font (DejaVu Sans), so
/// charts look the same on every machine and need no system fonts.
pub fn register_font() {
    FONT.call_once(|| {
        let bytes: &'static [u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, bytes);
    });
}

/// A colour-blind-friendly palette (Okabe–Ito, then Tableau).
const PALETTE: [(u8, u8, u8); 12] = [
    (0, 114, 178),
    (230, 159, 0),
    (0, 158, 115),
    (204, 121, 167),
    (86, 180, 233),
    (213, 94, 0),
    (240, 228, 66),
    (0, 0, 0),
    (148, 103, 189),
    (140, 86, 75),
    (127, 127, 127),
    (188, 189, 34),
];

pub fn color_of(manifest: &Manifest, representation: &str) -> RGBColor {
    let i = manifest.representations.iter().position(|r| r == representation).unwrap_or(0);
    let (r, g, b) = PALETTE[i % PALETTE.len()];
    RGBColor(r, g, b)
}

/// File names (relative to the run dir) of the charts made.
#[derive(Debug, Clone, Default)]
pub struct Charts {
    pub summary_png: Option<String>,
    pub summary_svg: Option<String>,
}

struct Bar {
    label: String,
    mean: f64,
    lo: f64,
    hi: f64,
    color: RGBColor,
}

fn bars_for(index: &ResultsIndex, manifest: &Manifest, eval: &str, metric: &str) -> Vec<Bar> {
    index
        .metric(eval, metric)
        .map(|s| {
            let (lo, hi) = if s.n >= 2 { (s.ci95_low, s.ci95_high) } else { (s.mean, s.mean) };
            let label = if s.params.is_empty() {
                s.representation.clone()
            } else {
                format!("{} [{}]", s.representation, s.params)
            };
            Bar { label, mean: s.mean, lo, hi, color: color_of(manifest, &s.representation) }
        })
        .collect()
}

type DrawResult<E> = std::result::Result<(), DrawingAreaErrorKind<E>>;

/// Long on purpose: one chart's layout (axes, bars, whiskers, labels, legend), drawn top to bottom as
/// plotters composes it.
fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    index: &ResultsIndex,
    manifest: &Manifest,
) -> DrawResult<DB::ErrorType> {
    root.fill(&WHITE)?;
    let evals = charted(index, manifest);
    let (rows, cols) = layout(evals.len());
    let panels = root.split_evenly((rows, cols));
    for (panel, ev) in panels.iter().zip(evals) {
        let mut bars = bars_for(index, manifest, &ev.name, &ev.headline);
        // Accuracy-like metrics keep a [0, 1] axis; a wide 2-seed CI is cut at 1.
        if bars.iter().all(|b| (0.0..=1.0).contains(&b.mean)) {
            for b in &mut bars {
                (b.lo, b.hi) = (b.lo.max(0.0), b.hi.min(1.0));
            }
        }
        let ymax = bars.iter().map(|b| b.hi.max(b.mean)).fold(0.0f64, f64::max);
        let ymax = if ymax <= 1.0 { 1.08 } else { ymax * 1.1 };
        let n = bars.len();
        let mut chart = ChartBuilder::on(panel)
            .caption(format!("{} — {}", ev.name, ev.headline), ("sans-serif", 22))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(-0.5f64..n as f64 - 0.5, 0f64..ymax)?;
        let labels: Vec<String> = bars.iter().map(|b| b.label.clone()).collect();
        chart
            .configure_mesh()
            .disable_x_mesh()
            .y_desc(format!("{} (mean, 95% CI over seeds)", ev.headline))
            .x_labels(n + 1)
            .x_label_formatter(&|v| {
                let i = v.round();
                if (v - i).abs() < 1e-6 && i >= 0.0 {
                    labels.get(i as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .x_label_style(("sans-serif", 15))
            .y_label_style(("sans-serif", 14))
            .axis_desc_style(("sans-serif", 15))
            .draw()?;
        for (i, b) in bars.iter().enumerate() {
            let x = i as f64;
            chart.draw_series(std::iter::once(Rectangle::new(
                [(x - 0.38, 0.0), (x + 0.38, b.mean)],
                b.color.filled(),
            )))?;
            if b.hi > b.lo {
                chart.draw_series(std::iter::once(PathElement::new(
                    vec![(x, b.lo), (x, b.hi)],
                    BLACK.stroke_width(2),
                )))?;
                for y in [b.lo, b.hi] {
                    chart.draw_series(std::iter::once(PathElement::new(
                        vec![(x - 0.12, y), (x + 0.12, y)],
                        BLACK.stroke_width(2),
                    )))?;
                }
            }
            chart.draw_series(std::iter::once(Text::new(
                format!("{:.3}", b.mean),
                (x, b.hi + ymax * 0.015),
                ("sans-serif", 14).into_font().color(&BLACK).pos(plotters::style::text_anchor::Pos::new(
                    plotters::style::text_anchor::HPos::Center,
                    plotters::style::text_anchor::VPos::Bottom,
                )),
            )))?;
        }
    }
    root.present()?;
    Ok(())
}

/// The evaluations with something to chart (their headline metric exists).
fn charted<'a>(index: &ResultsIndex, manifest: &'a Manifest) -> Vec<&'a super::manifest::EvaluationRecord> {
    manifest.evaluations.iter().filter(|ev| index.metric(&ev.name, &ev.headline).next().is_some()).collect()
}

/// Panels in rows of at most three.
fn layout(n: usize) -> (usize, usize) {
    let cols = n.clamp(1, 3);
    (n.div_ceil(cols).max(1), cols)
}

fn size(index: &ResultsIndex, manifest: &Manifest) -> (u32, u32) {
    let reps = manifest.representations.len().max(1) as u32;
    // Wide enough that the longest name fits under its bar (~9 px per character).
    let longest = manifest.representations.iter().map(|r| r.len()).max().unwrap_or(4) as u32;
    let per_panel = ((9 * longest + 20).max(110) * reps + 90).clamp(420, 2400);
    let (rows, cols) = layout(charted(index, manifest).len());
    (per_panel * cols as u32, 520 * rows as u32)
}

/// The summary bar chart: one panel per evaluation, its headline metric per
/// representation with 95 % CI error bars.
pub fn summary_chart(dir: &Path, summary: &[SummaryRow], manifest: &Manifest) -> Result<Charts> {
    register_font();
    if summary.is_empty() {
        return Ok(Charts::default());
    }
    let index = ResultsIndex::new(&[], summary, &[]);
    let (w, h) = size(&index, manifest);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (w, h)).into_drawing_area();
        draw(&root, &index, manifest).map_err(|e| Error::stage(format!("plotting summary.svg: {e}")))?;
    }
    write_atomic(&dir.join("summary.svg"), svg.as_bytes())?;
    let mut rgb = vec![255u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area();
        draw(&root, &index, manifest).map_err(|e| Error::stage(format!("plotting summary.png: {e}")))?;
    }
    let png = crate::report::figure::encode_png(&rgb, w, h, "summary")?;
    write_atomic(&dir.join("summary.png"), &png)?;
    Ok(Charts { summary_png: Some("summary.png".into()), summary_svg: Some("summary.svg".into()) })
}
