//! Charts for the report, drawn with plotters into an in-memory SVG string and RGB
//! buffer, then written atomically (SVG for print, PNG for quick viewing).
//!
//! Each representation keeps one colour in every chart (its position in the suite).
use super::comparisons::Family;
use super::manifest::Manifest;
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

/// One dot of the differences chart: a representation's difference from the
/// panel's reference with its 95 % CI (in points for a share).
struct Dot {
    label: String,
    diff: f64,
    ci: Option<(f64, f64)>,
    color: RGBColor,
}

/// The families drawn: ranked headlines without matrix params, with a reference
/// and at least one comparison.
fn charted(families: &[Family]) -> Vec<&Family> {
    families.iter().filter(|f| f.params.is_empty() && f.reference().is_some() && !f.comparisons.is_empty()).collect()
}

fn dots(f: &Family, manifest: &Manifest, scale: f64) -> Vec<Dot> {
    manifest
        .representations
        .iter()
        .filter_map(|rep| {
            let c = f.row_of(rep)?;
            Some(Dot {
                label: rep.clone(),
                diff: c.diff * scale,
                ci: c.ci.map(|(lo, hi)| (lo * scale, hi * scale)),
                color: color_of(manifest, rep),
            })
        })
        .collect()
}

type DrawResult<E> = std::result::Result<(), DrawingAreaErrorKind<E>>;

/// Long on purpose: one chart's layout (panels, zero line, dots, whiskers, labels), drawn top to bottom as
/// plotters composes it.
fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    families: &[Family],
    manifest: &Manifest,
) -> DrawResult<DB::ErrorType> {
    root.fill(&WHITE)?;
    let charted = charted(families);
    let (rows, cols) = layout(charted.len());
    let panels = root.split_evenly((rows, cols));
    for (panel, f) in panels.iter().zip(charted) {
        let proportion = manifest.evaluations.iter().find(|e| e.name == f.evaluation).is_none_or(|e| e.proportion);
        let scale = if proportion { 100.0 } else { 1.0 };
        let dots = dots(f, manifest, scale);
        // Zoomed to the data, zero always in view.
        let (lo, hi) = dots
            .iter()
            .flat_map(|d| [d.diff, d.ci.map_or(d.diff, |c| c.0), d.ci.map_or(d.diff, |c| c.1)])
            .filter(|v| v.is_finite())
            .fold((0.0f64, 0.0f64), |(a, b), v| (a.min(v), b.max(v)));
        let pad = ((hi - lo) * 0.1).max(if proportion { 0.5 } else { 1e-3 });
        let n = dots.len();
        let reference = f.reference().unwrap_or_default();
        let mut chart = ChartBuilder::on(panel)
            .caption(format!("{} {}: Δ vs {reference}", f.evaluation, f.metric), ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(10 + 8 * manifest.representations.iter().map(|r| r.len()).max().unwrap_or(4) as u32)
            .build_cartesian_2d((lo - pad)..(hi + pad), -0.5f64..n as f64 - 0.5)?;
        let labels: Vec<String> = dots.iter().map(|d| d.label.clone()).collect();
        chart
            .configure_mesh()
            .disable_y_mesh()
            .x_desc(if proportion { "difference (points), 95 % CI" } else { "difference, 95 % CI" })
            .y_labels(n + 1)
            .y_label_formatter(&|v| {
                let i = v.round();
                if (v - i).abs() < 1e-6 && i >= 0.0 {
                    labels.get(i as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .x_label_style(("sans-serif", 14))
            .y_label_style(("sans-serif", 15))
            .axis_desc_style(("sans-serif", 15))
            .draw()?;
        chart.draw_series(std::iter::once(PathElement::new(
            vec![(0.0, -0.5), (0.0, n as f64 - 0.5)],
            BLACK.stroke_width(1),
        )))?;
        for (i, d) in dots.iter().enumerate() {
            let y = i as f64;
            if let Some((a, b)) = d.ci {
                chart.draw_series(std::iter::once(PathElement::new(vec![(a, y), (b, y)], d.color.stroke_width(3))))?;
            }
            chart.draw_series(std::iter::once(Circle::new((d.diff, y), 6, d.color.filled())))?;
        }
    }
    root.present()?;
    Ok(())
}

/// Panels in rows of at most three.
fn layout(n: usize) -> (usize, usize) {
    let cols = n.clamp(1, 3);
    (n.div_ceil(cols).max(1), cols)
}

fn size(families: &[Family], manifest: &Manifest) -> (u32, u32) {
    let reps = manifest.representations.len().max(2) as u32;
    let (rows, cols) = layout(charted(families).len());
    (520 * cols as u32, (70 * reps + 110).clamp(260, 1200) * rows as u32)
}

/// The summary chart: per ranked headline, each representation's difference
/// from the family's reference (the baseline, or the best mean) as a dot with
/// its 95 % CI whisker and a zero line — the differences, zoomed to them, not
/// bars from 0 on which a one-point difference is invisible.
pub fn summary_chart(dir: &Path, families: &[Family], manifest: &Manifest) -> Result<Charts> {
    register_font();
    if charted(families).is_empty() {
        return Ok(Charts::default());
    }
    let (w, h) = size(families, manifest);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (w, h)).into_drawing_area();
        draw(&root, families, manifest).map_err(|e| Error::stage(format!("plotting summary.svg: {e}")))?;
    }
    write_atomic(&dir.join("summary.svg"), svg.as_bytes())?;
    let mut rgb = vec![255u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area();
        draw(&root, families, manifest).map_err(|e| Error::stage(format!("plotting summary.png: {e}")))?;
    }
    let png = crate::report::figure::encode_png(&rgb, w, h, "summary")?;
    write_atomic(&dir.join("summary.png"), &png)?;
    Ok(Charts { summary_png: Some("summary.png".into()), summary_svg: Some("summary.svg".into()) })
}
