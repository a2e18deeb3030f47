//! Figures drawn from per-cell details rather than summary numbers: 2-D
//! embedding maps and ViT attention grids.
use super::figure::{class_color, heat, slug, Figure};
use super::index::SeriesKey;
use super::ReportData;
use crate::error::{Error, Result};
use crate::eval::embedding_map::MapMethod;
use crate::eval::figure_data::{get, AttentionGridData, EmbeddingMapData, FigureData};
use crate::eval::FigureKind;
use crate::render_figure;
use crate::runner::Artifact;
use plotters::prelude::*;
use std::path::Path;

pub(super) fn grid(n: usize, max_cols: usize) -> (usize, usize) {
    let cols = n.clamp(1, max_cols);
    (n.div_ceil(cols).max(1), cols)
}

/// The figure data of the first stored cell of `eval` for each representation,
/// in suite order, with the representation's name — all from the matrix params
/// of the first stored cell (one task of a many-task suite), which is returned
/// so the figure can say which. Data that does not read as `T` is an error
/// naming the cell.
pub(super) fn first_per_rep<'a, T: FigureData>(
    data: &'a ReportData,
    eval: &str,
) -> Result<(String, Vec<(&'a str, T)>)> {
    let index = data.index();
    let Some(first) = index.artifacts(eval).first() else { return Ok((String::new(), Vec::new())) };
    let params = first.params.clone();
    Ok((params.clone(), per_rep_in(data, eval, &params)?))
}

/// As `first_per_rep`, for the cells of matrix params `params`.
pub(super) fn per_rep_in<'a, T: FigureData>(
    data: &'a ReportData,
    eval: &str,
    params: &str,
) -> Result<Vec<(&'a str, T)>> {
    let index = data.index();
    let cells = index.artifacts(eval);
    data.manifest
        .representations
        .iter()
        .filter_map(|rep| cells.iter().find(|a| &a.representation == rep && a.params == params))
        .map(|a| Ok((a.representation.as_str(), read_figure_data(a)?)))
        .collect()
}

/// " [params]" for a title when the evaluation ran at more than one matrix
/// params (so a figure of one of them says which); empty otherwise.
pub(super) fn params_tag(data: &ReportData, eval: &str, params: &str) -> String {
    let index = data.index();
    let many = index.artifacts(eval).iter().any(|a| a.params != params);
    if many && !params.is_empty() {
        format!(" [{params}]")
    } else {
        String::new()
    }
}

/// A cell's figure data of kind `T`, or an error naming the cell.
pub(super) fn read_figure_data<T: FigureData>(a: &Artifact) -> Result<T> {
    get::<T>(&a.details).map_err(|e| {
        Error::stage(format!("details.json, {} / {} seed {}: {e}", a.evaluation, a.representation, a.seed))
    })
}

/// One scatter panel per representation, points coloured by class.
///
/// Long on purpose: one figure's layout (a scatter panel per representation, class colours, legend), drawn
/// top to bottom.
pub fn embedding_maps(dir: &Path, data: &ReportData) -> Result<Vec<Figure>> {
    let mut out = Vec::new();
    for ev in data.manifest.evaluations.iter().filter(|e| e.draws(FigureKind::EmbeddingMap)) {
        let (params, arts) = first_per_rep::<EmbeddingMapData>(data, &ev.name)?;
        if arts.is_empty() {
            continue;
        }
        let tag = params_tag(data, &ev.name, &params);
        let index = data.index();
        let (rows, cols) = grid(arts.len(), 4);
        let method = match arts[0].1.method {
            MapMethod::Pca => "PCA",
            MapMethod::Tsne => "t-SNE",
        };
        let title = format!("{}{tag} — {method} of test embeddings, coloured by class", ev.name);
        let width = (360 * cols as u32).max(800);
        let (png, svg) = render_figure!(dir, &slug(&ev.name), (width, 360 * rows as u32 + 100), false, |root| {
            root.fill(&WHITE)?;
            let root = root.titled(&title, ("sans-serif", 22))?;
            let (body, legend) = root.split_vertically(360 * rows as u32);
            for (area, (rep, map)) in body.split_evenly((rows, cols)).iter().zip(&arts) {
                let EmbeddingMapData { x, y, labels, .. } = map;
                let range = |v: &[f64]| {
                    let (lo, hi) = v.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| (a.min(x), b.max(x)));
                    if lo.is_finite() && hi > lo {
                        (lo - (hi - lo) * 0.03)..(hi + (hi - lo) * 0.03)
                    } else {
                        -1.0..1.0
                    }
                };
                let knn = index
                    .summary(&SeriesKey {
                        evaluation: &ev.name,
                        params: &params,
                        metric: "map_knn5",
                        representation: rep,
                    })
                    .map(|s| format!(" (5-NN in map {:.3})", s.mean))
                    .unwrap_or_default();
                let mut chart = ChartBuilder::on(area)
                    .caption(format!("{rep}{knn}"), ("sans-serif", 15))
                    .margin(8)
                    .build_cartesian_2d(range(x), range(y))?;
                chart.configure_mesh().disable_mesh().disable_x_axis().disable_y_axis().draw()?;
                chart.draw_series(
                    x.iter()
                        .zip(y)
                        .zip(labels)
                        .map(|((&px, &py), &c)| Circle::new((px, py), 2, class_color(c).mix(0.8).filled())),
                )?;
            }
            let max_class = arts[0].1.labels.iter().copied().max().unwrap_or(0);
            // Two rows of up to five names, so ten long names fit.
            let col_w = (width as i32 - 20) / 5;
            for c in 0..=max_class {
                let (x, y) = (20 + col_w * (c as i32 % 5), 14 + 26 * (c as i32 / 5 % 2));
                legend.draw(&Circle::new((x, y + 8), 6, class_color(c).filled()))?;
                legend.draw(&Text::new(data.class_name_in(&params, c), (x + 10, y), ("sans-serif", 14)))?;
            }
        });
        out.push(Figure { section: ev.name.clone(), title, png, svg, caption: "A fixed stratified sample of test points (first seed); the metric in each title is the leave-one-out 5-NN accuracy inside the map.".into() });
    }
    Ok(out)
}

/// DINO's figure, per evaluation: one block per representation, one row per
/// test image (one of each class), columns = the image, each head's last-block
/// CLS attention upsampled to the image (square patches) and overlaid on it,
/// then the mean over heads. Each map is scaled to its own range.
pub fn attention(dir: &Path, data: &ReportData) -> Result<Vec<Figure>> {
    let mut out = Vec::new();
    for ev in data.manifest.evaluations.iter().filter(|e| e.draws(FigureKind::AttentionGrid)) {
        let (params, arts) = first_per_rep::<AttentionGridData>(data, &ev.name)?;
        if arts.is_empty() {
            continue;
        }
        let tag = params_tag(data, &ev.name, &params);
        let heads = arts.iter().map(|(_, a)| a.heads.max(1) as usize).max().unwrap_or(1);
        let n_img = arts.iter().map(|(_, a)| a.labels.len()).max().unwrap_or(0);
        let side = arts.iter().filter_map(|(_, a)| a.image_shape.get(1).copied()).max().unwrap_or(32) as u32;
        // Whole screen pixels per image pixel, so patches stay square.
        let cell = side * (84 / side).max(1);
        let width = LABEL_W + (cell + 6) * (heads as u32 + 2);
        let height = 50 + arts.len() as u32 * (64 + (cell + 6) * n_img as u32);
        let title = format!("{}{tag} — last-block CLS attention per head, overlaid on the image", ev.name);
        let (png, svg) = render_figure!(dir, &slug(&ev.name), (width, height), false, |root| {
            root.fill(&WHITE)?;
            root.draw(&Text::new(title.clone(), (10, 10), ("sans-serif", 20)))?;
            let mut top = 45i32;
            for (rep, a) in &arts {
                top = draw_attention_rows(&root, (rep, a), top, heads, cell, &|k| data.class_name_in(&params, k))?;
            }
        });
        out.push(Figure { section: ev.name.clone(), title, png, svg, caption: "One test image of each class (the first in the test split); per head and for the mean over heads, the attention of the CLS token to each patch, scaled to the map's own range (dark: least, yellow: most) and blended over the image. Attention concentrated on the object is what DINO is known for; `attention_foreground` in the table measures it over many images.".into() });
    }
    Ok(out)
}

/// Width of the class-name column of the attention figure.
const LABEL_W: u32 = 130;

/// One representation's block of the attention figure: its name and column
/// labels, then per image the image, each head's overlay and the mean's;
/// returns the next top.
fn draw_attention_rows<DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    (rep, a): (&str, &AttentionGridData),
    mut top: i32,
    heads: usize,
    cell: u32,
    class_name: &dyn Fn(i64) -> String,
) -> std::result::Result<i32, Box<dyn std::error::Error>>
where
    DB::ErrorType: 'static,
{
    let col_x = |j: usize| (LABEL_W + (cell + 6) * j as u32) as i32;
    root.draw(&Text::new(rep.to_string(), (10, top + 4), ("sans-serif", 17)))?;
    top += 24;
    let a_heads = a.heads.max(1) as usize;
    for j in 0..a_heads + 2 {
        let label = match j {
            0 => "image".to_string(),
            j if j <= a_heads => format!("head {j}"),
            _ => "mean".to_string(),
        };
        let j = if j == a_heads + 1 { heads + 1 } else { j };
        root.draw(&Text::new(label, (col_x(j) + 4, top + 10), ("sans-serif", 13)))?;
    }
    top += 30;
    let AttentionGridData { image_shape: shape, grid: gridhw, labels, images: pixels, attention: att, .. } = a;
    if shape.len() != 3 {
        return Err(format!("{rep}: attention image_shape {shape:?} is not [channels, height, width]").into());
    }
    let (c, ih, iw) = (shape[0] as usize, shape[1] as usize, shape[2] as usize);
    let (gh, gw) = (gridhw[0] as usize, gridhw[1] as usize);
    let px = (cell as usize / iw.max(ih)).max(1) as i32;
    for (k, &lab) in labels.iter().enumerate() {
        root.draw(&Text::new(class_name(lab), (10, top + cell as i32 / 2 - 6), ("sans-serif", 14)))?;
        let gray = |yy: usize, xx: usize| -> (f64, f64, f64) {
            let p = |ch: usize| pixels.get(((k * c + ch) * ih + yy) * iw + xx).copied().unwrap_or(0) as f64;
            if c >= 3 {
                (p(0), p(1), p(2))
            } else {
                (p(0), p(0), p(0))
            }
        };
        // Per head, then the mean over heads, each min-max scaled.
        let mut maps: Vec<Vec<f64>> = (0..a_heads)
            .map(|hh| att.get((k * a_heads + hh) * gh * gw..(k * a_heads + hh + 1) * gh * gw).unwrap_or(&[]).to_vec())
            .collect();
        let mean: Vec<f64> = (0..gh * gw)
            .map(|i| maps.iter().map(|m| m.get(i).copied().unwrap_or(0.0)).sum::<f64>() / a_heads.max(1) as f64)
            .collect();
        maps.push(mean);
        for (j, map) in maps.iter().enumerate() {
            let (lo, hi) = map.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &v| (l.min(v), h.max(v)));
            let span = if hi > lo { hi - lo } else { 1.0 };
            let col = if j == a_heads { heads + 1 } else { j + 1 };
            for yy in 0..ih {
                for xx in 0..iw {
                    let v = map.get((yy * gh / ih) * gw + xx * gw / iw).map(|v| (v - lo) / span).unwrap_or(0.0);
                    let h = heat(v);
                    let (r, g, b) = gray(yy, xx);
                    let mix = |img: f64, heat: u8| (0.35 * img + 0.65 * heat as f64).round() as u8;
                    let (x0, y0) = (col_x(col) + xx as i32 * px, top + yy as i32 * px);
                    root.draw(&Rectangle::new(
                        [(x0, y0), (x0 + px, y0 + px)],
                        RGBColor(mix(r, h.0), mix(g, h.1), mix(b, h.2)).filled(),
                    ))?;
                }
            }
        }
        for yy in 0..ih {
            for xx in 0..iw {
                let (r, g, b) = gray(yy, xx);
                let (x0, y0) = (col_x(0) + xx as i32 * px, top + yy as i32 * px);
                root.draw(&Rectangle::new(
                    [(x0, y0), (x0 + px, y0 + px)],
                    RGBColor(r as u8, g as u8, b as u8).filled(),
                ))?;
            }
        }
        top += cell as i32 + 6;
    }
    Ok(top + 10)
}
