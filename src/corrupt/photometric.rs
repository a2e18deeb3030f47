//! Photometric: contrast and brightness, with CIFAR-10-C's severities.
use super::Planes;

const CONTRAST: [f64; 5] = [0.75, 0.5, 0.4, 0.3, 0.15];
const BRIGHTNESS: [f64; 5] = [0.05, 0.1, 0.15, 0.2, 0.3];

/// Each channel pulled toward its own mean: `clip((x − μ_c)·k + μ_c, 0, 1)`.
pub fn contrast(img: &Planes, s: usize) -> Planes {
    let k = CONTRAST[s];
    let n = img.h * img.w;
    let mut v = img.v.clone();
    for ch in 0..img.c {
        let mean = img.plane(ch).iter().sum::<f64>() / n as f64;
        v[ch * n..(ch + 1) * n].iter_mut().for_each(|x| *x = ((*x - mean) * k + mean).clamp(0.0, 1.0));
    }
    img.with(v)
}

/// The reference adds to HSV's value and converts back (scikit-image's
/// `rgb2hsv` / `hsv2rgb`). Hue and saturation kept, that round trip scales the
/// pixel's channels by `v' / v` with `v` its largest channel and
/// `v' = clip(v + b, 0, 1)`; a black pixel (v = 0, saturation 0) becomes grey
/// `v'`. A gray image is its own value channel.
pub fn brightness(img: &Planes, s: usize) -> Planes {
    let b = BRIGHTNESS[s];
    let mut out = img.clone();
    let n = img.h * img.w;
    for i in 0..n {
        let v = (0..img.c).map(|ch| img.v[ch * n + i]).fold(0.0, f64::max);
        let v2 = (v + b).clamp(0.0, 1.0);
        for ch in 0..img.c {
            let x = &mut out.v[ch * n + i];
            *x = if v > 0.0 { *x * v2 / v } else { v2 };
        }
    }
    out
}
