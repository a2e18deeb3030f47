//! Figures drawn from per-cell details rather than summary numbers: 2-D
//! embedding maps and ViT attention grids.
use super::figure::{class_color, heat, slug, Figure};
use super::ReportData;
use crate::error::Result;
use crate::eval::FigureKind;
use crate::render_figure;
use crate::runner::Artifact;
use plotters::prelude::*;
use std::path::Path;

pub(super) fn grid(n: usize, max_cols: usize) -> (usize, usize) {
    let cols = n.clamp(1, max_cols);
    (n.div_ceil(cols).max(1), cols)
}

/// The first seed's artifact of `eval` for each representation, in suite order.
fn first_per_rep<'a>(data: &'a ReportData, eval: &str) -> Vec<&'a Artifact> {
    data.manifest
        .representations
        .iter()
        .filter_map(|rep| data.artifacts.iter().find(|a| a.evaluation == eval && &a.representation == rep))
        .collect()
}

fn floats(v: &serde_json::Value, key: &str) -> Vec<f64> {
    v.get(key).and_then(|x| serde_json::from_value(x.clone()).ok()).unwrap_or_default()
}

/// One scatter panel per representation, points coloured by class.
///
/// Long on purpose: one figure's layout (a scatter panel per representation, class colours, legend), drawn
/// top to bottom.
pub fn embedding_maps(dir: &Path, data: &ReportData) -> Result<Vec<Figure>> {
    let mut out = Vec::new();
    for ev in data.manifest.evaluations.iter().filter(|e| e.draws(FigureKind::EmbeddingMap)) {
        let arts = first_per_rep(data, &ev.name);
        if arts.is_empty() {
            continue;
        }
        let (rows, cols) = grid(arts.len(), 4);
        let method = arts[0]
            .details
            .get("method")
            .and_then(|m| m.as_str())
            .unwrap_or("map")
            .to_uppercase()
            .replace("TSNE", "t-SNE");
        let title = format!("{} — {method} of test embeddings, coloured by class", ev.name);
        let (png, svg) =
            render_figure!(dir, &slug(&ev.name), (360 * cols as u32, 360 * rows as u32 + 70), false, |root| {
                root.fill(&WHITE)?;
                let root = root.titled(&title, ("sans-serif", 22))?;
                let (body, legend) = root.split_vertically(360 * rows as u32);
                for (area, a) in body.split_evenly((rows, cols)).iter().zip(&arts) {
                    let (x, y) = (floats(&a.details, "x"), floats(&a.details, "y"));
                    let labels: Vec<i64> = a
                        .details
                        .get("labels")
                        .and_then(|l| serde_json::from_value(l.clone()).ok())
                        .unwrap_or_default();
                    let range = |v: &[f64]| {
                        let (lo, hi) =
                            v.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| (a.min(x), b.max(x)));
                        if lo.is_finite() && hi > lo {
                            (lo - (hi - lo) * 0.03)..(hi + (hi - lo) * 0.03)
                        } else {
                            -1.0..1.0
                        }
                    };
                    let knn = data
                        .summary
                        .iter()
                        .find(|s| {
                            s.evaluation == ev.name && s.representation == a.representation && s.metric == "map_knn5"
                        })
                        .map(|s| format!(" (5-NN in map {:.3})", s.mean))
                        .unwrap_or_default();
                    let mut chart = ChartBuilder::on(area)
                        .caption(format!("{}{knn}", a.representation), ("sans-serif", 15))
                        .margin(8)
                        .build_cartesian_2d(range(&x), range(&y))?;
                    chart.configure_mesh().disable_mesh().disable_x_axis().disable_y_axis().draw()?;
                    chart.draw_series(
                        x.iter()
                            .zip(&y)
                            .zip(&labels)
                            .map(|((&px, &py), &c)| Circle::new((px, py), 2, class_color(c).mix(0.8).filled())),
                    )?;
                }
                let max_class = arts[0]
                    .details
                    .get("labels")
                    .and_then(|l| l.as_array())
                    .map(|v| v.iter().filter_map(|x| x.as_i64()).max().unwrap_or(0))
                    .unwrap_or(0);
                for c in 0..=max_class {
                    let x = 20 + 80 * c as i32;
                    legend.draw(&Circle::new((x, 30), 6, class_color(c).filled()))?;
                    legend.draw(&Text::new(format!("class {c}"), (x + 10, 22), ("sans-serif", 14)))?;
                }
            });
        out.push(Figure { section: ev.name.clone(), title, png, svg, caption: "A fixed stratified sample of test points (first seed); the metric in each title is the leave-one-out 5-NN accuracy inside the map.".into() });
    }
    Ok(out)
}

/// A grid per evaluation: one row per (representation, image), the image then
/// the CLS attention of each head of the last block (viridis, per-map scale).
pub fn attention(dir: &Path, data: &ReportData) -> Result<Vec<Figure>> {
    let mut out = Vec::new();
    for ev in data.manifest.evaluations.iter().filter(|e| e.draws(FigureKind::AttentionGrid)) {
        let arts = first_per_rep(data, &ev.name);
        if arts.is_empty() {
            continue;
        }
        let heads = arts
            .iter()
            .map(|a| a.details.get("heads").and_then(|h| h.as_i64()).unwrap_or(1) as usize)
            .max()
            .unwrap_or(1);
        let n_img = arts
            .iter()
            .map(|a| a.details.get("labels").and_then(|l| l.as_array()).map(|v| v.len()).unwrap_or(0))
            .max()
            .unwrap_or(0);
        let cell = 96u32;
        // Layout: per representation a block of rows (images), columns = image + heads.
        let width = 170 + cell * (1 + heads as u32);
        let height = 50 + arts.len() as u32 * (24 + cell * n_img as u32);
        let title = format!("{} — last-block CLS attention per head", ev.name);
        let (png, svg) = render_figure!(dir, &slug(&ev.name), (width, height), false, |root| {
            root.fill(&WHITE)?;
            root.draw(&Text::new(title.clone(), (10, 10), ("sans-serif", 20)))?;
            let mut top = 45i32;
            for a in &arts {
                top = draw_attention_rows(&root, a, top, heads, cell)?;
            }
        });
        out.push(Figure { section: ev.name.clone(), title, png, svg, caption: "Fixed test images (the first of each class); each head's map is scaled to its own maximum. Focused maps on the object are what DINO is known for.".into() });
    }
    Ok(out)
}

/// One representation's block of the attention grid: its name and head
/// labels, then per image the image and each head's map; returns the next top.
///
/// Long on purpose: one block of a figure's grid (labels, image pixels, each head's map), drawn top to
/// bottom.
fn draw_attention_rows<DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    a: &Artifact,
    mut top: i32,
    heads: usize,
    cell: u32,
) -> std::result::Result<i32, Box<dyn std::error::Error>>
where
    DB::ErrorType: 'static,
{
    root.draw(&Text::new(a.representation.clone(), (10, top + 4), ("sans-serif", 16)))?;
    for hh in 0..heads {
        root.draw(&Text::new(
            format!("head {}", hh + 1),
            (170 + (cell as i32) * (1 + hh as i32) + 20, top + 4),
            ("sans-serif", 13),
        ))?;
    }
    top += 24;
    let shape: Vec<i64> =
        a.details.get("image_shape").and_then(|s| serde_json::from_value(s.clone()).ok()).unwrap_or_default();
    let gridhw: Vec<i64> =
        a.details.get("grid").and_then(|s| serde_json::from_value(s.clone()).ok()).unwrap_or_default();
    let pixels: Vec<u8> =
        a.details.get("images").and_then(|s| serde_json::from_value(s.clone()).ok()).unwrap_or_default();
    let att = floats(&a.details, "attention");
    let labels: Vec<i64> =
        a.details.get("labels").and_then(|l| serde_json::from_value(l.clone()).ok()).unwrap_or_default();
    if shape.len() != 3 || gridhw.len() != 2 {
        return Ok(top);
    }
    let (c, ih, iw) = (shape[0] as usize, shape[1] as usize, shape[2] as usize);
    let (gh, gw) = (gridhw[0] as usize, gridhw[1] as usize);
    let a_heads = a.details.get("heads").and_then(|h| h.as_i64()).unwrap_or(1) as usize;
    for (k, lab) in labels.iter().enumerate() {
        root.draw(&Text::new(format!("class {lab}"), (10, top + cell as i32 / 2), ("sans-serif", 13)))?;
        // The image, pixel by pixel.
        let (x0, y0) = (170i32, top);
        let (sx, sy) = (cell as f64 / iw as f64, cell as f64 / ih as f64);
        for yy in 0..ih {
            for xx in 0..iw {
                let px = |ch: usize| pixels.get(((k * c + ch) * ih + yy) * iw + xx).copied().unwrap_or(0);
                let col = if c >= 3 { RGBColor(px(0), px(1), px(2)) } else { RGBColor(px(0), px(0), px(0)) };
                let r = [
                    (x0 + (xx as f64 * sx) as i32, y0 + (yy as f64 * sy) as i32),
                    (x0 + ((xx + 1) as f64 * sx).ceil() as i32, y0 + ((yy + 1) as f64 * sy).ceil() as i32),
                ];
                root.draw(&Rectangle::new(r, col.filled()))?;
            }
        }
        for hh in 0..a_heads {
            let base = (k * a_heads + hh) * gh * gw;
            let map = &att.get(base..base + gh * gw).unwrap_or(&[]);
            let mx = map.iter().cloned().fold(0.0f64, f64::max).max(1e-12);
            let x0 = 170 + (cell as i32) * (1 + hh as i32);
            let (sx, sy) = (cell as f64 / gw as f64, cell as f64 / gh as f64);
            for (i, v) in map.iter().enumerate() {
                let (gy, gx) = (i / gw, i % gw);
                let r = [
                    (x0 + (gx as f64 * sx) as i32, top + (gy as f64 * sy) as i32),
                    (x0 + ((gx + 1) as f64 * sx).ceil() as i32, top + ((gy + 1) as f64 * sy).ceil() as i32),
                ];
                root.draw(&Rectangle::new(r, heat(v / mx).filled()))?;
            }
        }
        top += cell as i32;
    }
    Ok(top)
}
