//! Blur: defocus (an anti-aliased disk, OpenCV's `filter2D` with its default
//! reflect-101 border) and Gaussian (SciPy's `gaussian_filter`, nearest border,
//! truncated at 4σ), with CIFAR-10-C's severities.
use super::Planes;

/// (disk radius, σ of the Gaussian that anti-aliases it).
const DEFOCUS: [(f64, f64); 5] = [(0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1.0, 0.2), (1.5, 0.1)];
const GAUSSIAN: [f64; 5] = [0.4, 0.6, 0.7, 0.8, 1.0];

/// Index into 0..n with the border mirrored without repeating the edge
/// (`dcb|abcd|cba`: OpenCV's BORDER_REFLECT_101).
fn reflect101(i: isize, n: usize) -> usize {
    let n = n as isize;
    if n == 1 {
        return 0;
    }
    let period = 2 * (n - 1);
    let m = i.rem_euclid(period);
    (if m < n { m } else { period - m }) as usize
}

/// Index into 0..n with the border repeating the edge value (SciPy's "nearest").
fn nearest(i: isize, n: usize) -> usize {
    i.clamp(0, n as isize - 1) as usize
}

/// A normalised 1-D Gaussian of 2r+1 taps.
fn gaussian_taps(sigma: f64, r: usize) -> Vec<f64> {
    let k: Vec<f64> = (-(r as isize)..=r as isize).map(|x| (-0.5 * (x * x) as f64 / (sigma * sigma)).exp()).collect();
    let sum: f64 = k.iter().sum();
    k.into_iter().map(|x| x / sum).collect()
}

/// Correlates an h×w plane with a square kernel of odd side, centred.
fn correlate(src: &[f64], h: usize, w: usize, k: &[f64], side: usize, border: fn(isize, usize) -> usize) -> Vec<f64> {
    let r = (side / 2) as isize;
    let mut out = vec![0.0; h * w];
    for y in 0..h {
        for x in 0..w {
            let mut acc = 0.0;
            for ky in 0..side {
                let sy = border(y as isize + ky as isize - r, h);
                for kx in 0..side {
                    let wgt = k[ky * side + kx];
                    if wgt != 0.0 {
                        acc += wgt * src[sy * w + border(x as isize + kx as isize - r, w)];
                    }
                }
            }
            out[y * w + x] = acc;
        }
    }
    out
}

/// Separable filtering of an h×w plane: `taps` along rows, then along columns.
fn separable(src: &[f64], h: usize, w: usize, taps: &[f64], border: fn(isize, usize) -> usize) -> Vec<f64> {
    let r = (taps.len() / 2) as isize;
    let mut tmp = vec![0.0; h * w];
    for y in 0..h {
        for x in 0..w {
            tmp[y * w + x] =
                taps.iter().enumerate().map(|(i, t)| t * src[border(y as isize + i as isize - r, h) * w + x]).sum();
        }
    }
    let mut out = vec![0.0; h * w];
    for y in 0..h {
        for x in 0..w {
            out[y * w + x] =
                taps.iter().enumerate().map(|(i, t)| t * tmp[y * w + border(x as isize + i as isize - r, w)]).sum();
        }
    }
    out
}

/// The reference's `disk(radius, alias_blur)`: the pixels of a 17×17 grid within
/// `radius` of the centre, normalised, then blurred by a 3×3 Gaussian of σ =
/// `alias_blur` (OpenCV's GaussianBlur, reflect-101 border). Radii above 8 are
/// not among the parameters.
fn disk(radius: f64, alias_blur: f64) -> Vec<f64> {
    const SIDE: usize = 17;
    let mut d: Vec<f64> = (0..SIDE * SIDE)
        .map(|i| {
            let (y, x) = ((i / SIDE) as f64 - 8.0, (i % SIDE) as f64 - 8.0);
            if x * x + y * y <= radius * radius {
                1.0
            } else {
                0.0
            }
        })
        .collect();
    let sum: f64 = d.iter().sum();
    d.iter_mut().for_each(|v| *v /= sum);
    separable(&d, SIDE, SIDE, &gaussian_taps(alias_blur, 1), reflect101)
}

pub fn defocus(img: &Planes, s: usize) -> Planes {
    let (radius, alias) = DEFOCUS[s];
    let k = disk(radius, alias);
    per_plane(img, |p| correlate(p, img.h, img.w, &k, 17, reflect101))
}

pub fn gaussian(img: &Planes, s: usize) -> Planes {
    let sigma = GAUSSIAN[s];
    // SciPy: radius = int(truncate·σ + 0.5) with truncate = 4.
    let taps = gaussian_taps(sigma, (4.0 * sigma + 0.5) as usize);
    per_plane(img, |p| separable(p, img.h, img.w, &taps, nearest))
}

fn per_plane(img: &Planes, f: impl Fn(&[f64]) -> Vec<f64>) -> Planes {
    img.with((0..img.c).flat_map(|ch| f(img.plane(ch))).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn borders_mirror_as_opencv_and_scipy_do() {
        let r: Vec<usize> = (-3..7).map(|i| reflect101(i, 4)).collect();
        assert_eq!(r, [3, 2, 1, 0, 1, 2, 3, 2, 1, 0]);
        let n: Vec<usize> = (-2..6).map(|i| nearest(i, 4)).collect();
        assert_eq!(n, [0, 0, 0, 1, 2, 3, 3, 3]);
    }

    #[test]
    fn the_disk_sums_to_one() {
        for (r, a) in DEFOCUS {
            let s: f64 = disk(r, a).iter().sum();
            assert!((s - 1.0).abs() < 1e-12, "{r} {a}: {s}");
        }
    }
}
