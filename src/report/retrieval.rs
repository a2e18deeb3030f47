//! The nearest-neighbour figure: one row per test query (its class name on the
//! left, the query image), then for each representation side by side its k
//! nearest training images, each with its label; a neighbour of another class
//! is framed in red. The same queries for every representation, so a reader
//! sees what each one calls similar.
use super::figure::{slug, Figure};
use super::manifest::EvaluationRecord;
use super::maps::{params_tag, per_rep_in};
use super::ReportData;
use crate::error::Result;
use crate::eval::retrieval::RetrievalData;
use crate::eval::FigureKind;
use crate::render_figure;
use plotters::prelude::*;
use std::path::Path;

/// Width of the class-name column.
const LABEL_W: u32 = 120;
/// Gap between two representations' groups of neighbours.
const GROUP_GAP: u32 = 18;
/// Room under each image for its label.
const CAPTION_H: u32 = 16;

pub fn retrieval(dir: &Path, data: &ReportData) -> Result<Vec<Figure>> {
    let mut out = Vec::new();
    for ev in data.manifest.evaluations.iter().filter(|e| e.draws(FigureKind::Retrieval)) {
        let groups = super::stats::params_groups(data.index().summaries(&ev.name).iter().copied());
        for params in groups {
            out.extend(figure(dir, data, ev, params)?);
        }
    }
    Ok(out)
}

/// The figure of one evaluation at one matrix params (one task).
fn figure(dir: &Path, data: &ReportData, ev: &EvaluationRecord, params: &str) -> Result<Option<Figure>> {
    let arts = per_rep_in::<RetrievalData>(data, &ev.name, params)?;
    let Some((_, first)) = arts.first() else { return Ok(None) };
    let shape = first.image_shape.clone();
    if shape.len() != 3 || arts.iter().any(|(_, a)| a.image_shape != shape || a.queries != first.queries) {
        return Ok(None); // differently shaped or queried cells cannot share rows
    }
    let (c, ih, iw) = (shape[0] as usize, shape[1] as usize, shape[2] as usize);
    let k = arts.iter().map(|(_, a)| a.neighbours.first().map_or(0, |n| n.len())).max().unwrap_or(0);
    let px = (56 / ih.max(iw)).max(1) as u32;
    let cell = px * ih.max(iw) as u32;
    let step = cell + 4;
    let group_w = k as u32 * step + GROUP_GAP;
    let images_w = LABEL_W + step + GROUP_GAP + group_w * arts.len() as u32;
    let row_h = cell + CAPTION_H + 6;
    let height = 90 + row_h * first.queries.len() as u32;
    let tag = params_tag(data, &ev.name, params);
    let title = format!("{}{tag} — each representation's {k} nearest training images", ev.name);
    // Wide enough for the title (≈ 10 px per character at 20 px).
    let width = images_w.max(20 + 10 * title.chars().count() as u32);
    let name = |l: i64| data.class_name_in(params, l);
    let file =
        if tag.is_empty() { format!("{}_neighbours", ev.name) } else { format!("{}_{params}_neighbours", ev.name) };
    let (png, svg) = render_figure!(dir, &slug(&file), (width, height), false, |root| {
        root.fill(&WHITE)?;
        root.draw(&Text::new(title.clone(), (10, 10), ("sans-serif", 20)))?;
        let x_query = LABEL_W as i32;
        let group_x = |g: usize| (LABEL_W + step + GROUP_GAP + group_w * g as u32) as i32;
        root.draw(&Text::new("query", (x_query, 48), ("sans-serif", 14)))?;
        for (g, (rep, _)) in arts.iter().enumerate() {
            root.draw(&Text::new(rep.to_string(), (group_x(g), 48), ("sans-serif", 15)))?;
        }
        for (qi, &ql) in first.query_labels.iter().enumerate() {
            let top = 72 + (row_h * qi as u32) as i32;
            root.draw(&Text::new(name(ql), (10, top + cell as i32 / 2 - 7), ("sans-serif", 14)))?;
            let img = |a, j| image(a, qi * (k + 1) + j, c * ih * iw);
            if let Some(p) = img(first, 0) {
                draw_image(&root, p, (c, ih, iw), (x_query, top), px as i32)?;
            }
            for (g, (_, a)) in arts.iter().enumerate() {
                let labels = a.neighbour_labels.get(qi).cloned().unwrap_or_default();
                for (j, &l) in labels.iter().enumerate() {
                    let x = group_x(g) + (step * j as u32) as i32;
                    if let Some(p) = img(a, j + 1) {
                        draw_image(&root, p, (c, ih, iw), (x, top), px as i32)?;
                    }
                    let wrong = l != ql;
                    if wrong {
                        let frame = [(x - 2, top - 2), (x + cell as i32 + 1, top + cell as i32 + 1)];
                        root.draw(&Rectangle::new(frame, ShapeStyle::from(&RED).stroke_width(2)))?;
                    }
                    let mut short = name(l);
                    short.truncate(9);
                    let color = if wrong { RED } else { RGBColor(60, 60, 60) };
                    let style = TextStyle::from(("sans-serif", 11).into_font()).color(&color);
                    root.draw(&Text::new(short, (x, top + cell as i32 + 3), style))?;
                }
            }
        }
    });
    Ok(Some(Figure {
            section: ev.name.clone(),
            title,
            png,
            svg,
            caption: format!(
                "Rows: fixed test queries (the first test image of each class), the same for every representation. Per representation, its {k} nearest training images by cosine similarity of the frozen features, nearest first, each with its label; a red frame marks a neighbour of another class. From seed {} of each representation.",
                arts_seed(data, &ev.name)
            ),
        }))
}

/// The seed the figure's cells come from (the lowest stored).
fn arts_seed(data: &ReportData, eval: &str) -> String {
    let index = data.index();
    index.artifacts(eval).iter().map(|a| a.seed).min().map_or("—".into(), |s| s.to_string())
}

/// The pixels of the `i`-th stored image (`per` values each).
fn image(a: &RetrievalData, i: usize, per: usize) -> Option<&[u8]> {
    a.pixels.get(i * per..(i + 1) * per)
}

/// Draws u8 pixels [C, H, W] (gray or RGB) with `px` screen pixels per image pixel.
fn draw_image<DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    p: &[u8],
    (c, ih, iw): (usize, usize, usize),
    (x0, y0): (i32, i32),
    px: i32,
) -> std::result::Result<(), Box<dyn std::error::Error>>
where
    DB::ErrorType: 'static,
{
    for yy in 0..ih {
        for xx in 0..iw {
            let v = |ch: usize| p[(ch.min(c - 1) * ih + yy) * iw + xx];
            let (x, y) = (x0 + xx as i32 * px, y0 + yy as i32 * px);
            root.draw(&Rectangle::new([(x, y), (x + px, y + px)], RGBColor(v(0), v(1), v(2)).filled()))?;
        }
    }
    Ok(())
}
