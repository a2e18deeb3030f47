//! The lossy half of a baseline colour JPEG round trip as libjpeg(-turbo) does
//! it for Pillow's `save(..., "JPEG", quality=q)` then `open` of an RGB image:
//! RGB → YCbCr in libjpeg's 16-bit fixed point, chroma downsampled 2×2 (4:2:0,
//! Pillow's default) with libjpeg's alternating 1, 2 rounding bias, each plane
//! through `jpeg_gray`'s islow DCT and quantisation (Annex K luminance table for
//! Y, chrominance for Cb and Cr, both scaled by quality), then the decoder's
//! "fancy" triangle-filter upsampling and YCbCr → RGB in fixed point. Edges are
//! replicated to whole 16-pixel MCUs, as libjpeg expands them. Written from the
//! published algorithms; tests/corruptions.rs holds it to Pillow.
use super::jpeg_gray::{round_trip_plane, scaled, table as luma_table};

/// Annex K chrominance quantisation table, natural (row-major) order.
const CHROMA: [i64; 64] = [
    17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99, 99, 47, 66, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99,
];

const SCALEBITS: i64 = 16;
const ONE_HALF: i64 = 1 << (SCALEBITS - 1);

/// libjpeg's FIX(x): x in 16-bit fixed point, rounded.
fn fix(x: f64) -> i64 {
    (x * (1i64 << SCALEBITS) as f64 + 0.5) as i64
}

/// `rgb_ycc_convert`: (Y, Cb, Cr) of one pixel.
fn rgb_to_ycc(r: i64, g: i64, b: i64) -> (u8, u8, u8) {
    let offset = 128 << SCALEBITS;
    let y = (fix(0.29900) * r + fix(0.58700) * g + fix(0.11400) * b + ONE_HALF) >> SCALEBITS;
    let cb = (-fix(0.16874) * r - fix(0.33126) * g + fix(0.5) * b + offset + ONE_HALF - 1) >> SCALEBITS;
    let cr = (fix(0.5) * r - fix(0.41869) * g - fix(0.08131) * b + offset + ONE_HALF - 1) >> SCALEBITS;
    (y as u8, cb as u8, cr as u8)
}

/// `ycc_rgb_convert`: (R, G, B) of one pixel, clamped.
fn ycc_to_rgb(y: i64, cb: i64, cr: i64) -> [u8; 3] {
    let (cb, cr) = (cb - 128, cr - 128);
    let r = y + ((fix(1.40200) * cr + ONE_HALF) >> SCALEBITS);
    let g = y + ((-fix(0.34414) * cb + ONE_HALF - fix(0.71414) * cr) >> SCALEBITS);
    let b = y + ((fix(1.77200) * cb + ONE_HALF) >> SCALEBITS);
    [r, g, b].map(|v| v.clamp(0, 255) as u8)
}

/// `h2v2_downsample`: the mean of each 2×2 block, the rounding bias 1, 2, 1, 2…
/// along a row so that it does not drift one way.
fn downsample(p: &[u8], w: usize, h: usize) -> Vec<u8> {
    let (ow, oh) = (w / 2, h / 2);
    let mut out = vec![0u8; ow * oh];
    for y in 0..oh {
        for x in 0..ow {
            let s = |yy: usize, xx: usize| p[yy * w + xx] as u32;
            let sum = s(2 * y, 2 * x) + s(2 * y, 2 * x + 1) + s(2 * y + 1, 2 * x) + s(2 * y + 1, 2 * x + 1);
            out[y * ow + x] = ((sum + 1 + (x as u32 & 1)) >> 2) as u8;
        }
    }
    out
}

/// `h2v2_fancy_upsample`: each output sample weighs its nearest input 9/16,
/// the two next-nearest 3/16 each and the diagonal 1/16 (rounding +8 / +7
/// alternately); `dw`×`dh` are the real (not padded) input samples, whose
/// edges are replicated. Returns a (2·dw)×(2·dh) plane.
fn upsample(p: &[u8], stride: usize, dw: usize, dh: usize) -> Vec<u8> {
    let (ow, oh) = (2 * dw, 2 * dh);
    let mut out = vec![0u8; ow * oh];
    for iy in 0..dh {
        for v in 0..2 {
            let ny = if v == 0 { iy.saturating_sub(1) } else { (iy + 1).min(dh - 1) };
            let col = |x: usize| 3 * p[iy * stride + x] as i64 + p[ny * stride + x] as i64;
            let row = &mut out[(2 * iy + v) * ow..(2 * iy + v + 1) * ow];
            for x in 0..dw {
                let this = col(x);
                let last = if x == 0 { this } else { col(x - 1) };
                let next = if x + 1 == dw { this } else { col(x + 1) };
                row[2 * x] = ((this * 3 + last + 8) >> 4) as u8;
                row[2 * x + 1] = ((this * 3 + next + 7) >> 4) as u8;
            }
        }
    }
    out
}

/// A w×h RGB image (interleaved bytes) through JPEG at `quality`, 4:2:0.
pub fn round_trip_rgb(px: &[u8], w: usize, h: usize, quality: u8) -> Vec<u8> {
    let (pw, ph) = (w.div_ceil(16) * 16, h.div_ceil(16) * 16);
    let mut planes = [vec![0u8; pw * ph], vec![0u8; pw * ph], vec![0u8; pw * ph]];
    for y in 0..ph {
        for x in 0..pw {
            let i = (y.min(h - 1) * w + x.min(w - 1)) * 3;
            let (yy, cb, cr) = rgb_to_ycc(px[i] as i64, px[i + 1] as i64, px[i + 2] as i64);
            for (plane, v) in planes.iter_mut().zip([yy, cb, cr]) {
                plane[y * pw + x] = v;
            }
        }
    }
    let [luma, cb, cr] = planes;
    let luma = round_trip_plane(&luma, pw, ph, &luma_table(quality));
    let chroma_q = scaled(&CHROMA, quality);
    let (cw, ch) = (pw / 2, ph / 2);
    let (dw, dh) = (w.div_ceil(2), h.div_ceil(2));
    let chroma = [cb, cr].map(|p| {
        let small = round_trip_plane(&downsample(&p, pw, ph), cw, ch, &chroma_q);
        upsample(&small, cw, dw, dh)
    });
    let mut out = vec![0u8; w * h * 3];
    for y in 0..h {
        for x in 0..w {
            let c = y * 2 * dw + x;
            let rgb = ycc_to_rgb(luma[y * pw + x] as i64, chroma[0][c] as i64, chroma[1][c] as i64);
            out[(y * w + x) * 3..(y * w + x) * 3 + 3].copy_from_slice(&rgb);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Gray pixels have Cb = Cr = 128 and come back gray.
    #[test]
    fn gray_stays_gray_through_the_colour_path() {
        assert_eq!(rgb_to_ycc(77, 77, 77), (77, 128, 128));
        assert_eq!(ycc_to_rgb(77, 128, 128), [77, 77, 77]);
        let px: Vec<u8> = (0..20 * 20).flat_map(|_| [90u8, 90, 90]).collect();
        let out = round_trip_rgb(&px, 20, 20, 80);
        assert!(out.chunks(3).all(|p| p[0] == p[1] && p[1] == p[2]), "{:?}", &out[..6]);
    }

    /// The rounding bias alternates 1, 2 along a row (libjpeg's h2v2_downsample).
    #[test]
    fn downsampling_alternates_its_rounding_bias() {
        // Sums of 2 in every 2×2 block: (2 + 1) >> 2 = 0, then (2 + 2) >> 2 = 1.
        let p = [1u8, 1, 1, 1, 0, 0, 0, 0];
        assert_eq!(downsample(&p, 4, 2), vec![0, 1]);
    }
}
