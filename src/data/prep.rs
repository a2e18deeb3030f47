//! `dataset.image:` — how decoded photos become the fixed-size `u8` images the
//! store holds, with torchvision's meaning so a suite reads like the
//! `Resize(resize)` + `CenterCrop(size)` a user would write in PyTorch.
//!
//! Order: EXIF orientation → channel conversion (PIL's `convert("RGB")` /
//! `convert("L")` arithmetic) → resize of the shorter side to `resize`
//! (antialiased bilinear, Pillow's convolution, which torchvision calls on PIL
//! images) → centre crop to `size` (torchvision's rounding of the offsets).
use crate::checks::{Checker, Validate};
use crate::error::{Error, Result};
use fast_image_resize as fr;
use image::DynamicImage;
use serde::{Deserialize, Serialize};

/// Version of the preprocessing arithmetic; it enters the image store's key.
pub const VERSION: u32 = 1;

/// `dataset.image: {size, resize, crop, channels}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImagePrep {
    /// The stored images are `size`×`size`.
    pub size: u32,
    /// The shorter side is resized to this first (torchvision `Resize(resize)`);
    /// default `size` (resize, then crop the longer side to a square).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resize: Option<u32>,
    /// `center` (default) or `none`: without a crop, images are resized to
    /// `size`×`size` directly (the aspect ratio is not kept).
    #[serde(default)]
    pub crop: Crop,
    /// 1 (gray, PIL's `L` weights) or 3 (RGB); default 3.
    #[serde(default = "default_channels")]
    pub channels: u8,
    /// JPEG only: decode at 1/2, 1/4 or 1/8 scale in the DCT when the image is
    /// still at least the resize target (as PIL's `draft` and FFCV do). Off by
    /// default: the stored images then equal torchvision's within a fraction
    /// of a grey level (0.22–0.26 on average, docs/datasets.md); on, decoding
    /// 500×375 photos to 64×64 is 1.4× faster and the images differ from
    /// torchvision's by 1.85 grey levels on average (slightly softer).
    #[serde(default)]
    pub jpeg_dct_scaling: bool,
}

fn default_channels() -> u8 {
    3
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Crop {
    #[default]
    Center,
    None,
}

impl Validate for ImagePrep {
    fn validate(&self, path: &str, c: &mut Checker) {
        if !(8..=1024).contains(&self.size) {
            c.push(&format!("{path}.size"), format!("must be in 8..=1024 pixels (got {})", self.size));
        }
        if let Some(r) = self.resize {
            if r < self.size {
                c.push(
                    &format!("{path}.resize"),
                    format!("{r} is smaller than size {}: the crop would not fit", self.size),
                );
            }
            if self.crop == Crop::None {
                c.push(&format!("{path}.resize"), "has no meaning with `crop: none` (images are resized to size×size)");
            }
        }
        if !matches!(self.channels, 1 | 3) {
            c.push(&format!("{path}.channels"), format!("must be 1 or 3 (got {})", self.channels));
        }
    }
}

impl ImagePrep {
    /// The shorter-side target.
    pub fn resize_to(&self) -> u32 {
        self.resize.unwrap_or(self.size)
    }

    /// The size of `(w, h)` after the shorter side is resized to `s`: the longer
    /// side is `int(s * long / short)`, truncated as torchvision does.
    pub fn resized_dims(&self, w: u32, h: u32) -> (u32, u32) {
        if self.crop == Crop::None {
            return (self.size, self.size);
        }
        let s = self.resize_to();
        if w <= h {
            (s, ((s as u64 * h as u64) / w as u64) as u32)
        } else {
            (((s as u64 * w as u64) / h as u64) as u32, s)
        }
    }

    /// The full preparation of a decoded (already oriented) image, as `u8` C×H×W.
    ///
    /// Only the crop's pixels are computed: the resize samples the source
    /// window that maps onto the centre crop of the fully resized image, with
    /// the full image's scale (so the filter's width and every output pixel's
    /// centre are those of resize-then-crop; taps past the window read the
    /// pixels beyond it, as Pillow's `resize(box=…)` does).
    pub fn apply(&self, img: DynamicImage) -> Result<Vec<u8>> {
        let (w, h) = (img.width(), img.height());
        if w == 0 || h == 0 {
            return Err(Error::stage("image has no pixels"));
        }
        let c = self.channels as usize;
        let interleaved = into_channels(img, self.channels);
        let (rw, rh) = self.resized_dims(w, h);
        let s = self.size;
        // torchvision CenterCrop: top = int(round((h - s) / 2)), Python's round (half to even).
        let (top, left) = (round_half_even(rh - s), round_half_even(rw - s));
        let (sx, sy) = (w as f64 / rw as f64, h as f64 / rh as f64);
        let window = (left as f64 * sx, top as f64 * sy, s as f64 * sx, s as f64 * sy);
        let cropped = resize_window(&interleaved, w, h, window, s, s, c)?;
        Ok(hwc_to_chw(&cropped, c))
    }
}

/// Interleaved H×W×C to planar C×H×W.
pub fn hwc_to_chw(hwc: &[u8], c: usize) -> Vec<u8> {
    if c == 1 {
        return hwc.to_vec();
    }
    let n = hwc.len() / c;
    let mut out = vec![0u8; hwc.len()];
    let (r, rest) = out.split_at_mut(n);
    let (g, b) = rest.split_at_mut(n);
    for (i, px) in hwc.chunks_exact(3).enumerate() {
        r[i] = px[0];
        g[i] = px[1];
        b[i] = px[2];
    }
    out
}

/// `round(d / 2)` with Python's rounding of halves to even.
fn round_half_even(d: u32) -> u32 {
    let half = d / 2;
    if d % 2 == 1 && half % 2 == 1 {
        half + 1
    } else {
        half
    }
}

/// `to_channels`, taking the image: an 8-bit image that already has the
/// channels is not copied.
pub fn into_channels(img: DynamicImage, channels: u8) -> Vec<u8> {
    match (img, channels) {
        (DynamicImage::ImageRgb8(i), 3) => i.into_raw(),
        (DynamicImage::ImageLuma8(i), 1) => i.into_raw(),
        (other, c) => to_channels(&other, c),
    }
}

/// Interleaved `u8` pixels with `channels` channels, converted as PIL converts:
/// alpha is dropped (not composited), palettes expanded, 16-bit samples
/// reduced to 8 bits, gray replicated to RGB; RGB to gray with PIL's integer
/// ITU-R 601 weights (299, 587, 114)/1000, not the image crate's Rec. 709 ones.
pub fn to_channels(img: &DynamicImage, channels: u8) -> Vec<u8> {
    if channels == 3 {
        return img.to_rgb8().into_raw();
    }
    if !img.color().has_color() {
        return img.to_luma8().into_raw();
    }
    let rgb = img.to_rgb8();
    rgb.as_raw()
        .chunks_exact(3)
        .map(|p| ((p[0] as u32 * 19595 + p[1] as u32 * 38470 + p[2] as u32 * 7471 + 0x8000) >> 16) as u8)
        .collect()
}

/// Antialiased bilinear resize of interleaved `u8` pixels (Pillow's convolution
/// with the filter support widened by the scale factor; what torchvision's
/// `Resize` does to a PIL image).
pub fn resize(src: &[u8], w: u32, h: u32, rw: u32, rh: u32, c: usize) -> Result<Vec<u8>> {
    resize_window(src, w, h, (0.0, 0.0, w as f64, h as f64), rw, rh, c)
}

/// Resizes the source window `(left, top, width, height)` (in source pixels)
/// to `rw`×`rh`.
fn resize_window(
    src: &[u8],
    w: u32,
    h: u32,
    window: (f64, f64, f64, f64),
    rw: u32,
    rh: u32,
    c: usize,
) -> Result<Vec<u8>> {
    let whole = window == (0.0, 0.0, w as f64, h as f64);
    if whole && (w, h) == (rw, rh) {
        return Ok(src.to_vec());
    }
    let pt = if c == 3 { fr::PixelType::U8x3 } else { fr::PixelType::U8 };
    let src_img = fr::images::ImageRef::new(w, h, src, pt).map_err(|e| Error::stage(format!("resize: {e}")))?;
    let mut dst = fr::images::Image::new(rw, rh, pt);
    let (l, t, cw, ch) = window;
    let opts =
        fr::ResizeOptions::new().resize_alg(fr::ResizeAlg::Convolution(fr::FilterType::Bilinear)).crop(l, t, cw, ch);
    fr::Resizer::new().resize(&src_img, &mut dst, &opts).map_err(|e| Error::stage(format!("resize: {e}")))?;
    Ok(dst.into_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prep(size: u32, resize: Option<u32>) -> ImagePrep {
        ImagePrep { size, resize, crop: Crop::Center, channels: 3, jpeg_dct_scaling: true }
    }

    /// torchvision: Resize(256) of 500×375 → 341×256; CenterCrop(224) offsets
    /// top 16, left round(58.5) = 58.
    #[test]
    fn sizes_and_offsets_follow_torchvision() {
        assert_eq!(prep(224, Some(256)).resized_dims(500, 375), (341, 256));
        assert_eq!(prep(224, Some(256)).resized_dims(375, 500), (256, 341));
        assert_eq!(round_half_even(341 - 224), 58);
        assert_eq!(round_half_even(256 - 224), 16);
        assert_eq!(round_half_even(3), 2);
        assert_eq!(round_half_even(1), 0);
    }

    #[test]
    fn crop_takes_the_centre() {
        // 6×4 gray image, value = column index; resize 4 (no-op on the short side), crop 4.
        let img = image::GrayImage::from_fn(6, 4, |x, _| image::Luma([x as u8 * 10]));
        let p = ImagePrep { channels: 1, ..prep(4, None) };
        let out = p.apply(DynamicImage::ImageLuma8(img)).unwrap();
        assert_eq!(&out[..4], &[10, 20, 30, 40]);
    }

    #[test]
    fn gray_uses_pil_weights() {
        let img = image::RgbImage::from_pixel(8, 8, image::Rgb([255, 0, 0]));
        let g = to_channels(&DynamicImage::ImageRgb8(img), 1);
        // PIL: L = 255 * 299/1000 = 76.2 → 76.
        assert_eq!(g[0], 76);
    }
}
