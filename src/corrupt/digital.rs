//! Digital: pixelation (Pillow's BOX resize down and back up) and JPEG
//! re-encoding at a quality, with CIFAR-10-C's severities.
use super::Planes;
use crate::error::{Error, Result};
use fast_image_resize as fr;

const PIXELATE: [f64; 5] = [0.95, 0.9, 0.85, 0.75, 0.65];
const JPEG_QUALITY: [u8; 5] = [80, 65, 58, 50, 40];

/// Interleaved bytes (H×W×C) of the planes, as Pillow and the encoders take them.
fn interleaved(img: &Planes) -> Vec<u8> {
    let n = img.h * img.w;
    let px = img.to_u8();
    (0..n * img.c).map(|i| px[(i % img.c) * n + i / img.c]).collect()
}

fn from_interleaved(c: usize, h: usize, w: usize, px: &[u8]) -> Planes {
    let n = h * w;
    Planes { c, h, w, v: (0..n * c).map(|i| px[(i % n) * c + i / n] as f64 / 255.0).collect() }
}

fn resize_box(px: &[u8], c: usize, (w, h): (u32, u32), (rw, rh): (u32, u32)) -> Result<Vec<u8>> {
    let pt = if c == 3 { fr::PixelType::U8x3 } else { fr::PixelType::U8 };
    let err = |e: &dyn std::fmt::Display| Error::stage(format!("pixelate: {e}"));
    let src = fr::images::ImageRef::new(w, h, px, pt).map_err(|e| err(&e))?;
    let mut dst = fr::images::Image::new(rw, rh, pt);
    let opts = fr::ResizeOptions::new().resize_alg(fr::ResizeAlg::Convolution(fr::FilterType::Box));
    fr::Resizer::new().resize(&src, &mut dst, &opts).map_err(|e| err(&e))?;
    Ok(dst.into_vec())
}

fn check_channels(img: &Planes, what: &str) -> Result<()> {
    if img.c == 1 || img.c == 3 {
        Ok(())
    } else {
        Err(Error::stage(format!("{what} needs 1 or 3 channels, got {}", img.c)))
    }
}

/// `resize((⌊w·k⌋, ⌊h·k⌋), BOX)` then back to (w, h) with BOX.
pub fn pixelate(img: &Planes, s: usize) -> Result<Planes> {
    check_channels(img, "pixelate")?;
    let (w, h) = (img.w as u32, img.h as u32);
    let k = PIXELATE[s];
    let small = ((w as f64 * k) as u32, (h as f64 * k) as u32);
    let down = resize_box(&interleaved(img), img.c, (w, h), small)?;
    let up = resize_box(&down, img.c, small, (w, h))?;
    Ok(from_interleaved(img.c, img.h, img.w, &up))
}

/// Encoded at the severity's quality and decoded again, through libjpeg's own
/// lossy arithmetic as Pillow runs it: gray images in `jpeg_gray`, colour ones
/// (YCbCr 4:2:0, Pillow's default) in `jpeg_color`. Entropy coding is lossless
/// and skipped.
pub fn jpeg(img: &Planes, s: usize) -> Result<Planes> {
    check_channels(img, "jpeg")?;
    let q = JPEG_QUALITY[s];
    let px = if img.c == 1 {
        super::jpeg_gray::round_trip_gray(&img.to_u8(), img.w, img.h, q)
    } else {
        super::jpeg_color::round_trip_rgb(&interleaved(img), img.w, img.h, q)
    };
    Ok(from_interleaved(img.c, img.h, img.w, &px))
}
