//! Decoding one image's bytes: format by content, allocation limits, EXIF
//! orientation applied, and (for JPEG) DCT scaling when the target is much
//! smaller than the photo.
//!
//! Every error names the image's origin (a file, a shard member, a parquet
//! row), which the caller passes in as `origin`.
use crate::error::{Error, Result};
use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder};
use std::io::Cursor;

/// The image crate's limits: a header declaring a gigantic image fails
/// cleanly instead of allocating. 64 megapixels and 512 MiB are far above any
/// dataset image.
fn limits() -> image::Limits {
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(8192);
    limits.max_image_height = Some(8192);
    limits.max_alloc = Some(512 << 20);
    limits
}

fn is_jpeg(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0xFF, 0xD8, 0xFF])
}

/// Decodes `bytes` with EXIF orientation applied. With `min_short_side`, a
/// JPEG is decoded at the smallest DCT scale (1/8…1) whose shorter side is
/// still at least that many pixels.
pub fn decode(origin: &str, bytes: &[u8], min_short_side: Option<u32>) -> Result<DynamicImage> {
    if let (Some(target), true) = (min_short_side, is_jpeg(bytes) && ends_its_scan(bytes)) {
        // jpeg-decoder panics on a few malformed streams; a panic is a bad image.
        match std::panic::catch_unwind(|| decode_jpeg_scaled(bytes, target)) {
            Ok(Ok(Some(img))) => return Ok(img),
            // Not scalable (CMYK, 16-bit, no gain): the full decoder below.
            Ok(Ok(None)) => {}
            Ok(Err(e)) => return Err(Error::data(origin, format!("cannot decode image: {e}"))),
            Err(_) => return Err(Error::data(origin, "cannot decode image: the JPEG decoder failed on it")),
        }
    }
    decode_full(origin, bytes)
}

/// Full-size decode by the image crate (PNG, JPEG, and what else it is built
/// with), oriented.
pub fn decode_full(origin: &str, bytes: &[u8]) -> Result<DynamicImage> {
    if is_jpeg(bytes) && !ends_its_scan(bytes) {
        // zune-jpeg decodes a truncated file without an error, filling the
        // missing rows with grey; Pillow refuses it ("image file is
        // truncated"), and so does repbench, rather than store a half image.
        return Err(Error::data(
            origin,
            "cannot decode image: truncated JPEG (no end-of-image marker after its scan data)",
        ));
    }
    let mut reader = image::ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| Error::data(origin, format!("cannot read image: {e}")))?;
    reader.limits(limits());
    let bad = |e: image::ImageError| Error::data(origin, format!("cannot decode image: {e}"));
    let mut decoder = reader.into_decoder().map_err(bad)?;
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let mut img = DynamicImage::from_decoder(decoder).map_err(bad)?;
    img.apply_orientation(orientation);
    Ok(img)
}

/// Whether an end-of-image marker (FF D9) follows the first start-of-scan
/// (FF DA). Entropy-coded data cannot contain FF D9 (an FF in it is followed
/// by 00 or a restart marker), and an EXIF thumbnail's own markers come
/// before the scan, so this finds truncation without parsing the stream.
fn ends_its_scan(bytes: &[u8]) -> bool {
    let Some(sos) = bytes.windows(2).position(|w| w == [0xFF, 0xDA]) else { return false };
    bytes[sos..].windows(2).any(|w| w == [0xFF, 0xD9])
}

/// A JPEG decoded at a reduced DCT scale, or `None` when no scale helps or the
/// pixel format is not 8-bit gray or RGB.
fn decode_jpeg_scaled(bytes: &[u8], target: u32) -> std::result::Result<Option<DynamicImage>, String> {
    let mut d = jpeg_decoder::Decoder::new(Cursor::new(bytes));
    d.read_info().map_err(|e| e.to_string())?;
    let info = d.info().ok_or("no JPEG header")?;
    if !matches!(info.pixel_format, jpeg_decoder::PixelFormat::L8 | jpeg_decoder::PixelFormat::RGB24) {
        return Ok(None);
    }
    let (w, h) = (info.width as u32, info.height as u32);
    if w.min(h) < 2 * target || w > 8192 || h > 8192 {
        return Ok(None);
    }
    // The decoder picks the smallest scale whose size is at least the request;
    // asking for the shorter side at `target` keeps both sides ≥ their share.
    let scale = w.min(h) as f64 / target as f64;
    let (rw, rh) = ((w as f64 / scale).ceil() as u16, (h as f64 / scale).ceil() as u16);
    let (sw, sh) = d.scale(rw, rh).map_err(|e| e.to_string())?;
    let pixels = d.decode().map_err(|e| e.to_string())?;
    let orientation = d.exif_data().and_then(Orientation::from_exif_chunk).unwrap_or(Orientation::NoTransforms);
    let (sw, sh) = (sw as u32, sh as u32);
    let mut img = match info.pixel_format {
        jpeg_decoder::PixelFormat::L8 => image::GrayImage::from_raw(sw, sh, pixels).map(DynamicImage::ImageLuma8),
        _ => image::RgbImage::from_raw(sw, sh, pixels).map(DynamicImage::ImageRgb8),
    }
    .ok_or("the JPEG decoder returned fewer pixels than its header declares")?;
    img.apply_orientation(orientation);
    Ok(Some(img))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jpeg(w: u32, h: u32) -> Vec<u8> {
        let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb([(x % 256) as u8, (y % 256) as u8, 128]));
        let mut out = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90).encode_image(&img).unwrap();
        out
    }

    #[test]
    fn dct_scaling_keeps_the_short_side_at_least_the_target() {
        let b = jpeg(400, 300);
        let img = decode("x.jpg", &b, Some(64)).unwrap();
        // 300 / 4 = 75 ≥ 64; 1/8 would give 37.5.
        assert_eq!((img.width(), img.height()), (100, 75));
        let full = decode("x.jpg", &b, Some(200)).unwrap();
        assert_eq!((full.width(), full.height()), (400, 300));
    }

    #[test]
    fn a_truncated_jpeg_is_refused_at_any_scale() {
        let b = jpeg(400, 300);
        let cut = &b[..b.len() / 2];
        for scale in [None, Some(64)] {
            let e = decode("x.jpg", cut, scale).unwrap_err().to_string();
            assert!(e.contains("x.jpg") && e.contains("cannot decode"), "{e}");
        }
        assert!(decode("x.jpg", &b, None).is_ok());
    }

    #[test]
    fn garbage_names_its_origin() {
        let e = decode("shard-0.tar:key7.jpg", &[0xFF, 0xD8, 0xFF, 0, 1, 2], Some(8)).unwrap_err().to_string();
        assert!(e.contains("shard-0.tar:key7.jpg") && e.contains("cannot decode"), "{e}");
        let e = decode("a.png", b"not an image", None).unwrap_err().to_string();
        assert!(e.starts_with("a.png: cannot"), "{e}");
    }
}
