//! Geometric: MNIST-C's affine corruptions (rotate, shear, scale about the
//! image centre; translate), sampled bilinearly with black outside the image
//! as scikit-image's `warp(..., inverse_map=...)` samples them.
use super::Planes;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// Radians.
const ROTATE: [f64; 5] = [0.2, 0.4, 0.6, 0.8, 1.0];
/// Radians.
const SHEAR: [f64; 5] = [0.2, 0.4, 0.6, 0.8, 1.0];
/// The inverse map's scale: output pixels read an area this much larger (the digit shrinks).
const SCALE: [f64; 5] = [1.0 / 0.9, 1.0 / 0.8, 1.0 / 0.7, 1.0 / 0.6, 1.0 / 0.5];
/// Pixels at 28×28, scaled with the image side.
const TRANSLATE: [f64; 5] = [1.0, 2.0, 3.0, 4.0, 5.0];

/// The random direction, −1 or +1 with equal odds.
pub fn sign(rng: &mut ChaCha8Rng) -> f64 {
    if rng.random::<bool>() {
        1.0
    } else {
        -1.0
    }
}

/// Bilinear sample of plane `p` at (row r, column c), 0 outside (scikit-image's
/// `bilinear_interpolation` with mode "constant").
fn sample(p: &[f64], h: usize, w: usize, r: f64, c: f64) -> f64 {
    let at = |y: f64, x: f64| -> f64 {
        if y < 0.0 || x < 0.0 || y > (h - 1) as f64 || x > (w - 1) as f64 {
            0.0
        } else {
            p[y as usize * w + x as usize]
        }
    };
    let (r0, c0) = (r.floor(), c.floor());
    let (r1, c1) = (r.ceil(), c.ceil());
    let (dr, dc) = (r - r0, c - c0);
    let top = (1.0 - dc) * at(r0, c0) + dc * at(r0, c1);
    let bottom = (1.0 - dc) * at(r1, c0) + dc * at(r1, c1);
    (1.0 - dr) * top + dr * bottom
}

/// Output pixel (x = column, y = row) reads the input at `m·(x, y) + t`.
fn warp(img: &Planes, m: [[f64; 2]; 2], t: [f64; 2]) -> Planes {
    let (h, w) = (img.h, img.w);
    let mut v = Vec::with_capacity(img.v.len());
    for ch in 0..img.c {
        let p = img.plane(ch);
        for y in 0..h {
            for x in 0..w {
                let (xf, yf) = (x as f64, y as f64);
                let xi = m[0][0] * xf + m[0][1] * yf + t[0];
                let yi = m[1][0] * xf + m[1][1] * yf + t[1];
                v.push(sample(p, h, w, yi, xi).clamp(0.0, 1.0));
            }
        }
    }
    img.with(v)
}

/// A linear map about the image centre (MNIST-C: `13.5·(1 − a1 − a2)` at 28×28).
fn about_centre(img: &Planes, m: [[f64; 2]; 2]) -> Planes {
    let (cx, cy) = ((img.w - 1) as f64 / 2.0, (img.h - 1) as f64 / 2.0);
    let t = [cx - m[0][0] * cx - m[0][1] * cy, cy - m[1][0] * cx - m[1][1] * cy];
    warp(img, m, t)
}

pub fn rotate(img: &Planes, s: usize, sign: f64) -> Planes {
    let a = ROTATE[s] * sign;
    about_centre(img, [[a.cos(), -a.sin()], [a.sin(), a.cos()]])
}

/// MNIST-C's shear matrix as scikit-image built it then (before 0.19):
/// `[[1, −sin a], [0, cos a]]`.
pub fn shear(img: &Planes, s: usize, sign: f64) -> Planes {
    let a = SHEAR[s] * sign;
    about_centre(img, [[1.0, -a.sin()], [0.0, a.cos()]])
}

pub fn scale(img: &Planes, s: usize) -> Planes {
    let k = SCALE[s];
    about_centre(img, [[k, 0.0], [0.0, k]])
}

/// Shifted by the severity's pixels (scaled from 28 to the image's width) in
/// each direction, the signs drawn independently as MNIST-C draws them.
pub fn translate(img: &Planes, s: usize, (sx, sy): (f64, f64)) -> Planes {
    let d = TRANSLATE[s] * img.w as f64 / 28.0;
    warp(img, [[1.0, 0.0], [0.0, 1.0]], [d * sx, d * sy])
}
