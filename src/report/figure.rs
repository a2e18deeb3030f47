//! One way to make a figure: draw with plotters onto an SVG string (for print)
//! and an RGB buffer (PNG, embedded in report.html), then write both atomically.
use crate::error::{Error, Result};
use crate::files::write_atomic;
use plotters::prelude::RGBColor;
use std::path::Path;

/// A figure written to the run directory, placed in the report under `section`
/// (an evaluation name, or `training`).
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    pub section: String,
    pub title: String,
    pub png: String,
    pub svg: Option<String>,
    pub caption: String,
}

/// Draws `$body` (which uses `$root`, a plotters drawing area, and may use `?`)
/// on both backends and saves `figures/<name>.png` (and `.svg` when `$svg`).
/// A macro because the body must be generic over the two backends.
#[macro_export]
macro_rules! render_figure {
    ($dir:expr, $name:expr, ($w:expr, $h:expr), $svg:expr, |$root:ident| $body:block) => {{
        use plotters::prelude::IntoDrawingArea;
        $crate::report::plot::register_font();
        let (w, h): (u32, u32) = ($w, $h);
        let name: &str = $name;
        let mut svg_text = String::new();
        if $svg {
            let $root = plotters::prelude::SVGBackend::with_string(&mut svg_text, (w, h)).into_drawing_area();
            let r: std::result::Result<(), Box<dyn std::error::Error>> = (|| {
                $body;
                $root.present()?;
                Ok(())
            })();
            r.map_err(|e| $crate::error::Error::stage(format!("plotting {name}.svg: {e}")))?;
        }
        let mut rgb = vec![255u8; (w * h * 3) as usize];
        {
            let $root = plotters::prelude::BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area();
            let r: std::result::Result<(), Box<dyn std::error::Error>> = (|| {
                $body;
                $root.present()?;
                Ok(())
            })();
            r.map_err(|e| $crate::error::Error::stage(format!("plotting {name}.png: {e}")))?;
        }
        $crate::report::figure::save($dir, name, if $svg { Some(svg_text.as_str()) } else { None }, &rgb, w, h)?
    }};
}

/// Writes figures/<name>.png (and .svg); returns their paths relative to `dir`.
pub fn save(dir: &Path, name: &str, svg: Option<&str>, rgb: &[u8], w: u32, h: u32) -> Result<(String, Option<String>)> {
    let fig_dir = dir.join("figures");
    std::fs::create_dir_all(&fig_dir).map_err(|e| Error::io(&fig_dir, e))?;
    let png = encode_png(rgb, w, h, name)?;
    write_atomic(&fig_dir.join(format!("{name}.png")), &png)?;
    let svg_path = match svg {
        Some(s) => {
            write_atomic(&fig_dir.join(format!("{name}.svg")), s.as_bytes())?;
            Some(format!("figures/{name}.svg"))
        }
        None => None,
    };
    Ok((format!("figures/{name}.png"), svg_path))
}

/// PNG bytes of an RGB buffer at zlib's default deflate level: the image
/// crate's `Fast` made committed figures ~3× larger (a 3384×2306 confusion
/// grid 473 KB instead of ~150 KB); `Best` saves another 7–14 % but spent 17 %
/// of a cached re-run (measured with `perf` on a 6-cell suite: the no-op went
/// 0.33 → 0.24 s with `Default`; reports/ 33.7 → 35.4 MB).
pub fn encode_png(rgb: &[u8], w: u32, h: u32, name: &str) -> Result<Vec<u8>> {
    use image::codecs::png::{CompressionType, FilterType, PngEncoder};
    let mut png = Vec::new();
    image::ImageEncoder::write_image(
        PngEncoder::new_with_quality(&mut png, CompressionType::Default, FilterType::Adaptive),
        rgb,
        w,
        h,
        image::ExtendedColorType::Rgb8,
    )
    .map_err(|e| Error::stage(format!("encoding {name}.png: {e}")))?;
    Ok(png)
}

/// Viridis, interpolated between five of its anchors: perceptually uniform and
/// readable in grey, for heatmaps in [0, 1].
pub fn heat(v: f64) -> RGBColor {
    const A: [(f64, f64, f64); 5] =
        [(68.0, 1.0, 84.0), (59.0, 82.0, 139.0), (33.0, 145.0, 140.0), (94.0, 201.0, 98.0), (253.0, 231.0, 37.0)];
    let v = if v.is_finite() { v.clamp(0.0, 1.0) } else { 0.0 } * 4.0;
    let i = (v.floor() as usize).min(3);
    let t = v - i as f64;
    let mix = |a: f64, b: f64| (a + (b - a) * t).round() as u8;
    RGBColor(mix(A[i].0, A[i + 1].0), mix(A[i].1, A[i + 1].1), mix(A[i].2, A[i + 1].2))
}

/// Ten distinct colours for classes (Tableau 10), separate from the
/// representation palette.
pub fn class_color(c: i64) -> RGBColor {
    const T: [(u8, u8, u8); 10] = [
        (31, 119, 180),
        (255, 127, 14),
        (44, 160, 44),
        (214, 39, 40),
        (148, 103, 189),
        (140, 86, 75),
        (227, 119, 194),
        (127, 127, 127),
        (188, 189, 34),
        (23, 190, 207),
    ];
    let (r, g, b) = T[c.rem_euclid(10) as usize];
    RGBColor(r, g, b)
}

/// A file-name-safe version of a name.
pub fn slug(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect()
}
