//! Corruptions of test images for `kind: robustness`: the standard corruptions
//! that apply to gray and colour images, with CIFAR-10-C's severity parameters
//! (noise, blur, photometric, digital) and MNIST-C's affine ones, computed on
//! the fly from a seed (no stored corrupted copies).
//!
//! Each corruption is checked against the reference code's output
//! (tests/corruptions.rs, arrays made by tests/fixtures/corruptions/make_fixtures.py):
//! deterministic ones within one grey level, random ones in mean and spread
//! over 10,000 draws. docs/robustness.md lists the parameters.
mod blur;
mod digital;
pub mod geometric;
mod jpeg_color;
mod jpeg_gray;
mod noise;
mod photometric;

use crate::error::{Error, Result};
use crate::runtime::seeding;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

/// One image as channel planes of values in [0, 1] (C×H×W, row-major), the
/// scale at which the reference code computes every corruption.
#[derive(Debug, Clone, PartialEq)]
pub struct Planes {
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub v: Vec<f64>,
}

impl Planes {
    pub fn from_u8(c: usize, h: usize, w: usize, px: &[u8]) -> Planes {
        Planes { c, h, w, v: px.iter().map(|&p| p as f64 / 255.0).collect() }
    }
    /// Back to bytes as the reference scripts do (`np.uint8(np.clip(x, 0, 1) * 255)`):
    /// clipped, then truncated toward zero.
    pub fn to_u8(&self) -> Vec<u8> {
        // The 1e-9 keeps a value that is exactly k/255 (pixelate, JPEG) at k.
        self.v.iter().map(|&x| (x.clamp(0.0, 1.0) * 255.0 + 1e-9) as u8).collect()
    }
    /// The same shape with other values.
    fn with(&self, v: Vec<f64>) -> Planes {
        Planes { c: self.c, h: self.h, w: self.w, v }
    }
    fn plane(&self, ch: usize) -> &[f64] {
        &self.v[ch * self.h * self.w..(ch + 1) * self.h * self.w]
    }
}

/// The families the report groups corruptions by (ImageNet-C's grouping, with
/// MNIST-C's affine corruptions as "geometric").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    Noise,
    Blur,
    Photometric,
    Digital,
    Geometric,
}

impl Family {
    pub const ALL: [Family; 5] = [Family::Noise, Family::Blur, Family::Photometric, Family::Digital, Family::Geometric];
    /// The metric prefix (`noise@3`).
    pub fn name(self) -> &'static str {
        match self {
            Family::Noise => "noise",
            Family::Blur => "blur",
            Family::Photometric => "photometric",
            Family::Digital => "digital",
            Family::Geometric => "geometric",
        }
    }
}

/// A corruption as named in a suite (`corruptions: [gaussian_noise, …]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Corruption {
    GaussianNoise,
    ShotNoise,
    ImpulseNoise,
    DefocusBlur,
    GaussianBlur,
    Contrast,
    Brightness,
    Pixelate,
    Jpeg,
    Rotate,
    Shear,
    Translate,
    Scale,
}

/// Severities run from 1 (mildest) to this.
pub const SEVERITIES: u8 = 5;

impl Corruption {
    pub const ALL: [Corruption; 13] = [
        Corruption::GaussianNoise,
        Corruption::ShotNoise,
        Corruption::ImpulseNoise,
        Corruption::DefocusBlur,
        Corruption::GaussianBlur,
        Corruption::Contrast,
        Corruption::Brightness,
        Corruption::Pixelate,
        Corruption::Jpeg,
        Corruption::Rotate,
        Corruption::Shear,
        Corruption::Translate,
        Corruption::Scale,
    ];

    /// The suite's name (also the metric's: `top1:gaussian_noise@3`).
    pub fn name(self) -> &'static str {
        match self {
            Corruption::GaussianNoise => "gaussian_noise",
            Corruption::ShotNoise => "shot_noise",
            Corruption::ImpulseNoise => "impulse_noise",
            Corruption::DefocusBlur => "defocus_blur",
            Corruption::GaussianBlur => "gaussian_blur",
            Corruption::Contrast => "contrast",
            Corruption::Brightness => "brightness",
            Corruption::Pixelate => "pixelate",
            Corruption::Jpeg => "jpeg",
            Corruption::Rotate => "rotate",
            Corruption::Shear => "shear",
            Corruption::Translate => "translate",
            Corruption::Scale => "scale",
        }
    }

    pub fn from_name(name: &str) -> Option<Corruption> {
        Corruption::ALL.into_iter().find(|c| c.name() == name)
    }

    pub fn family(self) -> Family {
        use Corruption::*;
        match self {
            GaussianNoise | ShotNoise | ImpulseNoise => Family::Noise,
            DefocusBlur | GaussianBlur => Family::Blur,
            Contrast | Brightness => Family::Photometric,
            Pixelate | Jpeg => Family::Digital,
            Rotate | Shear | Translate | Scale => Family::Geometric,
        }
    }

    /// Whether the corruption draws random numbers (noise; the direction of an
    /// affine one); the others are functions of the image.
    pub fn is_random(self) -> bool {
        matches!(self.family(), Family::Noise)
            || matches!(self, Corruption::Rotate | Corruption::Shear | Corruption::Translate)
    }

    /// Corrupts one image at `severity` (1..=5). Errors on a severity out of range.
    pub fn apply(self, img: &Planes, severity: u8, rng: &mut ChaCha8Rng) -> Result<Planes> {
        if !(1..=SEVERITIES).contains(&severity) {
            return Err(Error::stage(format!("{}: severity {severity} is not in 1..={SEVERITIES}", self.name())));
        }
        let s = (severity - 1) as usize;
        use Corruption::*;
        Ok(match self {
            GaussianNoise => noise::gaussian(img, s, rng),
            ShotNoise => noise::shot(img, s, rng),
            ImpulseNoise => noise::impulse(img, s, rng),
            DefocusBlur => blur::defocus(img, s),
            GaussianBlur => blur::gaussian(img, s),
            Contrast => photometric::contrast(img, s),
            Brightness => photometric::brightness(img, s),
            Pixelate => digital::pixelate(img, s)?,
            Jpeg => digital::jpeg(img, s)?,
            Rotate => geometric::rotate(img, s, geometric::sign(rng)),
            Shear => geometric::shear(img, s, geometric::sign(rng)),
            Translate => geometric::translate(img, s, (geometric::sign(rng), geometric::sign(rng))),
            Scale => geometric::scale(img, s),
        })
    }
}

/// The largest image side the CIFAR-10-C / MNIST-C parameters are used for:
/// they were set for 28–32 pixel images; at 224 pixels the same blur radius
/// or noise would be a different, milder corruption (ImageNet-C has its own
/// parameters, not implemented).
pub const MAX_SIDE: i64 = 64;

/// Corrupts a batch of u8 images (N×C×H×W) at one severity. Image i draws from
/// its own generator, derived from `seed`, the corruption, the severity and i,
/// so the result does not depend on the number of threads or on the batch.
pub fn corrupt_batch(
    images: &Tensor,
    corruption: Corruption,
    severity: u8,
    seed: u64,
    first_index: usize,
) -> Result<Tensor> {
    let size = images.size();
    let [n, c, h, w] = size[..] else {
        return Err(Error::stage(format!("corrupt: images must be N×C×H×W, got {size:?}")));
    };
    if h.max(w) > MAX_SIDE {
        return Err(Error::stage(format!(
            "robustness uses CIFAR-10-C's corruption parameters, made for images of 28–32 pixels; these are {h}×{w} (at most {MAX_SIDE} allowed)"
        )));
    }
    let px: Vec<u8> = Vec::try_from(images.to_kind(Kind::Uint8).contiguous().view([-1]))?;
    let per = (c * h * w) as usize;
    let label = format!("corrupt/{}/{severity}", corruption.name());
    let out: Vec<Vec<u8>> = px
        .par_chunks(per.max(1))
        .enumerate()
        .map(|(i, one)| {
            let mut rng = seeding::rng(seed, &format!("{label}/{}", first_index + i));
            let img = Planes::from_u8(c as usize, h as usize, w as usize, one);
            Ok(corruption.apply(&img, severity, &mut rng)?.to_u8())
        })
        .collect::<Result<_>>()?;
    let flat: Vec<u8> = out.concat();
    Ok(Tensor::from_slice(&flat).view([n, c, h, w]))
}
