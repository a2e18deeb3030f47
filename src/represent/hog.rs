//! Histograms of oriented gradients (Dalal & Triggs), following scikit-image's
//! `hog` so numbers are comparable: centred differences with zero borders, the
//! channel with the largest gradient per pixel, unsigned orientations in [0, 180)
//! hard-binned and magnitude-weighted, cell histograms averaged over the cell,
//! overlapping blocks (stride one cell) normalised with L2-Hys.
//!
//! Runs on the CPU over u8 images, in parallel over images with rayon.
use super::{FitContext, Fitted, Representation};
use crate::checks::Checker;
use crate::error::{Error, Result};
use crate::state::NamedTensors;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HogParams {
    /// Cell side in pixels.
    pub cell_size: usize,
    /// Orientation bins over [0, 180).
    pub orientations: usize,
    /// Block side in cells.
    pub block_size: usize,
}

impl Default for HogParams {
    fn default() -> Self {
        HogParams { cell_size: 4, orientations: 9, block_size: 2 }
    }
}

/// Version of the descriptor's arithmetic (see `Representation::version`).
pub const VERSION: u32 = 1;

impl Representation for HogParams {
    fn version(&self) -> u32 {
        VERSION
    }
    fn fit(&self, train: &Tensor, _ctx: &FitContext) -> Result<Box<dyn Fitted>> {
        Ok(Box::new(self.fit_hog(train)?))
    }
    fn restore(&self, _state: &NamedTensors, _device: Device) -> Result<Box<dyn Fitted>> {
        Ok(Box::new(self.fitted()))
    }
    fn check(&self, path: &str, c: &mut Checker) {
        c.positive(&format!("{path}.cell_size"), self.cell_size);
        c.positive(&format!("{path}.orientations"), self.orientations);
        c.positive(&format!("{path}.block_size"), self.block_size);
    }
}

/// HOG has nothing to fit; the "fitted" value only carries the parameters.
pub struct FittedHog {
    params: HogParams,
}

/// Geometry of the descriptor for one image size.
#[derive(Debug, Clone, Copy)]
pub struct Layout {
    pub cells_y: usize,
    pub cells_x: usize,
    pub blocks_y: usize,
    pub blocks_x: usize,
    pub dims: usize,
}

impl HogParams {
    /// Checks that the images hold at least one block.
    pub fn fit_hog(&self, train: &Tensor) -> Result<FittedHog> {
        let s = train.size();
        self.layout(s[2] as usize, s[3] as usize)?;
        Ok(self.fitted())
    }
    pub fn fitted(&self) -> FittedHog {
        FittedHog { params: self.clone() }
    }

    pub fn layout(&self, h: usize, w: usize) -> Result<Layout> {
        let (cy, cx) = (h / self.cell_size, w / self.cell_size);
        if cy < self.block_size || cx < self.block_size {
            return Err(Error::stage(format!(
                "hog: a {h}x{w} image has {cy}x{cx} cells of {} px, fewer than one block of {} cells",
                self.cell_size, self.block_size
            )));
        }
        let (by, bx) = (cy - self.block_size + 1, cx - self.block_size + 1);
        Ok(Layout {
            cells_y: cy,
            cells_x: cx,
            blocks_y: by,
            blocks_x: bx,
            dims: by * bx * self.block_size * self.block_size * self.orientations,
        })
    }

    /// The descriptor of one image (`img` is C×H×W u8) written into `out`.
    pub fn describe(&self, img: &[u8], c: usize, h: usize, w: usize, lay: &Layout, out: &mut [f32]) {
        let nb = self.orientations;
        let cs = self.cell_size;
        let mut hist = vec![0f32; lay.cells_y * lay.cells_x * nb];
        let bin_width = 180.0 / nb as f32;
        // Only pixels inside whole cells contribute, as in scikit-image.
        for y in 0..lay.cells_y * cs {
            for x in 0..lay.cells_x * cs {
                let (mut gr, mut gc, mut best) = (0f32, 0f32, -1f32);
                for ch in 0..c {
                    let p = |yy: usize, xx: usize| img[ch * h * w + yy * w + xx] as f32 / 255.0;
                    let r = if y == 0 || y + 1 == h { 0.0 } else { p(y + 1, x) - p(y - 1, x) };
                    let q = if x == 0 || x + 1 == w { 0.0 } else { p(y, x + 1) - p(y, x - 1) };
                    let m = r * r + q * q;
                    if m > best {
                        (gr, gc, best) = (r, q, m);
                    }
                }
                let mag = best.sqrt();
                if mag == 0.0 {
                    continue;
                }
                let mut ang = gr.atan2(gc).to_degrees();
                ang = ang.rem_euclid(180.0);
                let bin = ((ang / bin_width) as usize).min(nb - 1);
                hist[((y / cs) * lay.cells_x + x / cs) * nb + bin] += mag;
            }
        }
        let norm = 1.0 / (cs * cs) as f32;
        hist.iter_mut().for_each(|v| *v *= norm);
        let b = self.block_size;
        let block_len = b * b * nb;
        for by in 0..lay.blocks_y {
            for bx in 0..lay.blocks_x {
                let o = &mut out[(by * lay.blocks_x + bx) * block_len..][..block_len];
                let mut k = 0;
                for cy in by..by + b {
                    for cx in bx..bx + b {
                        o[k..k + nb].copy_from_slice(&hist[(cy * lay.cells_x + cx) * nb..][..nb]);
                        k += nb;
                    }
                }
                l2_hys(o);
            }
        }
    }
}

/// L2-Hys: L2-normalise, clip at 0.2, L2-normalise again (eps = 1e-5, as skimage).
fn l2_hys(v: &mut [f32]) {
    const EPS: f32 = 1e-5;
    let n = (v.iter().map(|x| x * x).sum::<f32>() + EPS * EPS).sqrt();
    v.iter_mut().for_each(|x| *x = (*x / n).min(0.2));
    let n = (v.iter().map(|x| x * x).sum::<f32>() + EPS * EPS).sqrt();
    v.iter_mut().for_each(|x| *x /= n);
}

impl Fitted for FittedHog {
    fn embed(&self, images: &Tensor, device: Device) -> Result<Tensor> {
        let s = images.size();
        let (n, c, h, w) = (s[0] as usize, s[1] as usize, s[2] as usize, s[3] as usize);
        let lay = self.params.layout(h, w)?;
        let pixels: Vec<u8> =
            Vec::try_from(images.to_device(Device::Cpu).to_kind(Kind::Uint8).contiguous().flatten(0, -1))?;
        let mut out = vec![0f32; n * lay.dims];
        let img_len = c * h * w;
        out.par_chunks_mut(lay.dims)
            .zip(pixels.par_chunks(img_len))
            .for_each(|(o, img)| self.params.describe(img, c, h, w, &lay, o));
        Ok(Tensor::from_slice(&out).view([n as i64, lay.dims as i64]).to_device(device))
    }
    fn state(&self) -> Vec<(String, Tensor)> {
        Vec::new()
    }
    fn counted(&self) -> super::Counted {
        super::Counted::not_counted(
            Some(0),
            "gradients, histograms and block norms, not multiply-accumulates: timed only",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 4×4 image, 2 orientations, 2×2 cells, one 2×2 block. Column 2 and 3 are
    /// bright (255): the only gradients are horizontal, at x = 1 and x = 2, where
    /// the centred difference is (255 - 0)/255 = 1 → angle 0° → bin 0.
    #[test]
    fn matches_hand_computed_values() {
        let img: Vec<u8> = (0..16).map(|i| if i % 4 >= 2 { 255 } else { 0 }).collect();
        let p = HogParams { cell_size: 2, orientations: 2, block_size: 2 };
        let lay = p.layout(4, 4).unwrap();
        assert_eq!(lay.dims, 8);
        let mut out = vec![0f32; 8];
        p.describe(&img, 1, 4, 4, &lay, &mut out);
        // Cell histograms (bin0, bin1), each averaged over 4 pixels:
        // top-left: pixels (0,1),(1,1) have magnitude 1 → 2/4 = 0.5; likewise
        // top-right (x = 2), bottom-left, bottom-right. Block = [.5,0,.5,0,.5,0,.5,0];
        // L2 norm 1 → 0.5 each, clipped to 0.2, renormalised → 0.5 each.
        let expect = [0.5, 0.0, 0.5, 0.0, 0.5, 0.0, 0.5, 0.0];
        for (a, b) in out.iter().zip(expect) {
            assert!((a - b).abs() < 1e-4, "{out:?}");
        }
    }

    #[test]
    fn vertical_gradient_goes_to_the_90_degree_bin() {
        // Bright bottom half: gradient along rows → atan2(1, 0) = 90° → bin 1 of 2.
        let img: Vec<u8> = (0..16).map(|i| if i / 4 >= 2 { 255 } else { 0 }).collect();
        let p = HogParams { cell_size: 2, orientations: 2, block_size: 1 };
        let lay = p.layout(4, 4).unwrap();
        let mut out = vec![0f32; lay.dims];
        p.describe(&img, 1, 4, 4, &lay, &mut out);
        // Each 1-cell block normalises its 2 bins: (0, x) → (0, 1) after L2-Hys
        // clip+renorm, where the cell had any gradient.
        assert_eq!(out.len(), 8);
        for cell in out.chunks(2) {
            assert!(cell[0].abs() < 1e-6);
            assert!((cell[1] - 1.0).abs() < 1e-4 || cell[1].abs() < 1e-6, "{out:?}");
        }
    }

    #[test]
    fn embed_shape_and_too_small_image() {
        let x = Tensor::zeros([3, 1, 28, 28], (Kind::Uint8, Device::Cpu));
        let f = HogParams::default().fit_hog(&x).unwrap();
        assert_eq!(f.embed(&x, Device::Cpu).unwrap().size(), vec![3, 6 * 6 * 4 * 9]);
        let tiny = Tensor::zeros([1, 1, 4, 4], (Kind::Uint8, Device::Cpu));
        assert!(HogParams::default().fit_hog(&tiny).is_err());
    }
}

#[cfg(test)]
mod reference {
    use super::*;

    /// scikit-image 0.26.0 `hog(img, 9, (4, 4), (2, 2), "L2-Hys")` of the image in
    /// tests/reference/hog_skimage.py (printed there to 8 decimals).
    const SKIMAGE: &[f64] = &[
        0.05424414, 0.00000000, 0.23013839, 0.00000000, 0.05424414, 0.00000000, 0.00000000, 0.00000000, 0.00000000,
        0.07232552, 0.00000000, 0.25570933, 0.00000000, 0.47492456, 0.00000000, 0.00000000, 0.00000000, 0.00000000,
        0.00000000, 0.00000000, 0.30685119, 0.00000000, 0.07232552, 0.00000000, 0.00000000, 0.00000000, 0.00000000,
        0.47492456, 0.00000000, 0.47492456, 0.00000000, 0.30738346, 0.00000000, 0.00000000, 0.00000000, 0.00000000,
        0.05348902, 0.00000000, 0.18911224, 0.00000000, 0.42386055, 0.00000000, 0.00000000, 0.00000000, 0.00000000,
        0.05348902, 0.00000000, 0.15128979, 0.00000000, 0.42386055, 0.00000000, 0.00000000, 0.00000000, 0.00000000,
        0.42386055, 0.00000000, 0.40659139, 0.00000000, 0.22732833, 0.00000000, 0.00000000, 0.00000000, 0.00000000,
        0.00000000, 0.00000000, 0.00000000, 0.00000000, 0.42386055, 0.00000000, 0.00000000, 0.00000000, 0.00000000,
        0.07138874, 0.00000000, 0.20191786, 0.00000000, 0.40822881, 0.00000000, 0.00000000, 0.00000000, 0.00000000,
        0.05354156, 0.00000000, 0.20191786, 0.00000000, 0.32184359, 0.00000000, 0.00000000, 0.00000000, 0.00000000,
        0.00000000, 0.00000000, 0.00000000, 0.00000000, 0.40822881, 0.00000000, 0.00000000, 0.00000000, 0.00000000,
        0.40822881, 0.00000000, 0.10095893, 0.00000000, 0.07138874, 0.00000000, 0.35358155, 0.00000000, 0.40822881,
        0.00000000, 0.00000000, 0.24897443, 0.00000000, 0.05868384, 0.00000000, 0.00000000, 0.00000000, 0.00000000,
        0.41728760, 0.00000000, 0.41728760, 0.00000000, 0.24940631, 0.00000000, 0.00000000, 0.00000000, 0.00000000,
        0.00000000, 0.00000000, 0.22822656, 0.04639365, 0.05868384, 0.00000000, 0.00000000, 0.00000000, 0.00000000,
        0.41728760, 0.00000000, 0.16598296, 0.00000000, 0.41728760, 0.00000000, 0.30102292, 0.00000000, 0.00000000,
        0.39641739, 0.00000000, 0.33224515, 0.00000000, 0.18576078, 0.00000000, 0.00000000, 0.00000000, 0.00000000,
        0.00000000, 0.00000000, 0.00000000, 0.00000000, 0.39641739, 0.00000000, 0.00000000, 0.00000000, 0.00000000,
        0.39641739, 0.00000000, 0.12362608, 0.00000000, 0.39641739, 0.00000000, 0.22420545, 0.00000000, 0.00000000,
        0.00000000, 0.00000000, 0.06181304, 0.00000000, 0.39641739, 0.00000000, 0.00000000, 0.00000000, 0.00000000,
        0.00000000, 0.00000000, 0.00000000, 0.00000000, 0.39090834, 0.00000000, 0.00000000, 0.00000000, 0.00000000,
        0.39090834, 0.00000000, 0.08027263, 0.00000000, 0.05676132, 0.00000000, 0.28113334, 0.00000000, 0.39090834,
        0.00000000, 0.00000000, 0.08027263, 0.00000000, 0.39090834, 0.00000000, 0.00000000, 0.00000000, 0.00000000,
        0.16318880, 0.00000000, 0.36122684, 0.00000000, 0.20643399, 0.00000000, 0.00000000, 0.00000000, 0.30640999,
        0.00000000, 0.00000000, 0.39330283, 0.08734476, 0.11048336, 0.00000000, 0.00000000, 0.00000000, 0.00000000,
        0.39330283, 0.00000000, 0.31249412, 0.00000000, 0.39330283, 0.00000000, 0.39330283, 0.00000000, 0.00000000,
        0.17020728, 0.00000000, 0.23437059, 0.00000000, 0.08286252, 0.00000000, 0.07812353, 0.00000000, 0.00000000,
        0.11048336, 0.00000000, 0.39330283, 0.00000000, 0.00000000, 0.00000000, 0.00000000, 0.00000000, 0.00000000,
        0.44347368, 0.00000000, 0.21008857, 0.00000000, 0.44347368, 0.00000000, 0.38101186, 0.00000000, 0.00000000,
        0.00000000, 0.00000000, 0.10504429, 0.00000000, 0.44347368, 0.00000000, 0.00000000, 0.00000000, 0.00000000,
        0.07427753, 0.00000000, 0.31513286, 0.00000000, 0.00000000, 0.00000000, 0.00000000, 0.00000000, 0.00000000,
        0.07427753, 0.00000000, 0.31513286, 0.00000000, 0.00000000, 0.00000000, 0.00000000, 0.00000000, 0.00000000,
        0.00000000, 0.00000000, 0.12042341, 0.00000000, 0.45104269, 0.00000000, 0.00000000, 0.00000000, 0.00000000,
        0.24481261, 0.00000000, 0.45104269, 0.00000000, 0.30968819, 0.00000000, 0.00000000, 0.00000000, 0.45104269,
        0.08515221, 0.00000000, 0.36127024, 0.00000000, 0.00000000, 0.00000000, 0.00000000, 0.00000000, 0.00000000,
        0.06386416, 0.00000000, 0.27095268, 0.00000000, 0.06386416, 0.00000000, 0.00000000, 0.00000000, 0.00000000,
    ];

    #[test]
    fn matches_scikit_image() {
        let mut img = vec![0u8; 256];
        for y in 0..16 {
            for x in 0..16 {
                img[y * 16 + x] = ((y + x) * 5) as u8;
            }
        }
        for y in 4..10 {
            for x in 6..13 {
                img[y * 16 + x] = 220;
            }
        }
        img[12 * 16 + 2] = 90;
        let p = HogParams::default();
        let lay = p.layout(16, 16).unwrap();
        assert_eq!(lay.dims, SKIMAGE.len());
        let mut out = vec![0f32; lay.dims];
        p.describe(&img, 1, 16, 16, &lay, &mut out);
        let worst = out.iter().zip(SKIMAGE).map(|(&a, b)| (a as f64 - b).abs()).fold(0f64, f64::max);
        assert!(worst < 1e-5, "max abs difference {worst}");
    }
}
