//! The lossy half of a baseline gray JPEG round trip as libjpeg(-turbo) does it
//! — what Pillow's `save(..., "JPEG", quality=q)` then `open` computes: edges
//! replicated to whole 8×8 blocks, level shift, the integer "islow" forward DCT,
//! quantisation by the Annex K luminance table scaled by quality (baseline,
//! entries clamped to 1..255), dequantisation, the islow inverse DCT and
//! clamping. Entropy coding is lossless, so it is skipped. Written from the
//! published algorithm (Loeffler–Ligtenberg–Moschytz, libjpeg's 13-bit
//! constants and two-pass scaling); tests/corruptions.rs holds it to Pillow.

/// Annex K luminance quantisation table, natural (row-major) order.
const LUMA: [i64; 64] = [
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51,
    87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92, 49, 64, 78, 87, 103, 121, 120, 101,
    72, 92, 95, 98, 112, 100, 103, 99,
];

const CONST_BITS: i64 = 13;
const PASS1_BITS: i64 = 2;
const F0_298: i64 = 2446;
const F0_390: i64 = 3196;
const F0_541: i64 = 4433;
const F0_765: i64 = 6270;
const F0_899: i64 = 7373;
const F1_175: i64 = 9633;
const F1_501: i64 = 12299;
const F1_847: i64 = 15137;
const F1_961: i64 = 16069;
const F2_053: i64 = 16819;
const F2_562: i64 = 20995;
const F3_072: i64 = 25172;

/// Rounded arithmetic right shift.
fn descale(x: i64, n: i64) -> i64 {
    (x + (1 << (n - 1))) >> n
}

/// libjpeg's quality scaling of a base table (`jpeg_set_quality` with force_baseline).
pub(super) fn scaled(base: &[i64; 64], quality: u8) -> [i64; 64] {
    let q = quality.clamp(1, 100) as i64;
    let scale = if q < 50 { 5000 / q } else { 200 - 2 * q };
    base.map(|b| ((b * scale + 50) / 100).clamp(1, 255))
}

/// The luminance table at `quality` (also the colour path's Y plane).
pub(super) fn table(quality: u8) -> [i64; 64] {
    scaled(&LUMA, quality)
}

/// The odd part shared by both transforms: (out1, out3, out5, out7) of the
/// forward DCT from tmp4..tmp7, or the inverse's (tmp0..tmp3) from its inputs.
fn odd(t4: i64, t5: i64, t6: i64, t7: i64) -> (i64, i64, i64, i64) {
    let (z1, z2, z3, z4) = (t4 + t7, t5 + t6, t4 + t6, t5 + t7);
    let z5 = (z3 + z4) * F1_175;
    let (t4, t5, t6, t7) = (t4 * F0_298, t5 * F2_053, t6 * F3_072, t7 * F1_501);
    let (z1, z2) = (z1 * -F0_899, z2 * -F2_562);
    let (z3, z4) = (z3 * -F1_961 + z5, z4 * -F0_390 + z5);
    (t4 + z1 + z3, t5 + z2 + z4, t6 + z2 + z3, t7 + z1 + z4)
}

/// One 1-D forward pass over 8 values at `idx(k)`; `first` is the row pass.
fn fdct_1d(d: &mut [i64; 64], idx: impl Fn(usize) -> usize, first: bool) {
    let v: Vec<i64> = (0..8).map(|k| d[idx(k)]).collect();
    let (t0, t7) = (v[0] + v[7], v[0] - v[7]);
    let (t1, t6) = (v[1] + v[6], v[1] - v[6]);
    let (t2, t5) = (v[2] + v[5], v[2] - v[5]);
    let (t3, t4) = (v[3] + v[4], v[3] - v[4]);
    let (t10, t13, t11, t12) = (t0 + t3, t0 - t3, t1 + t2, t1 - t2);
    let shift = if first { CONST_BITS - PASS1_BITS } else { CONST_BITS + PASS1_BITS };
    if first {
        d[idx(0)] = (t10 + t11) << PASS1_BITS;
        d[idx(4)] = (t10 - t11) << PASS1_BITS;
    } else {
        d[idx(0)] = descale(t10 + t11, PASS1_BITS);
        d[idx(4)] = descale(t10 - t11, PASS1_BITS);
    }
    let z1 = (t12 + t13) * F0_541;
    d[idx(2)] = descale(z1 + t13 * F0_765, shift);
    d[idx(6)] = descale(z1 + t12 * -F1_847, shift);
    let (o7, o5, o3, o1) = odd(t4, t5, t6, t7);
    d[idx(7)] = descale(o7, shift);
    d[idx(5)] = descale(o5, shift);
    d[idx(3)] = descale(o3, shift);
    d[idx(1)] = descale(o1, shift);
}

/// One 1-D inverse pass: 8 inputs → 8 outputs descaled by `shift`.
fn idct_1d(v: [i64; 8], shift: i64) -> [i64; 8] {
    let (z2, z3) = (v[2], v[6]);
    let z1 = (z2 + z3) * F0_541;
    let (t2, t3) = (z1 + z3 * -F1_847, z1 + z2 * F0_765);
    let (t0, t1) = ((v[0] + v[4]) << CONST_BITS, (v[0] - v[4]) << CONST_BITS);
    let (t10, t13, t11, t12) = (t0 + t3, t0 - t3, t1 + t2, t1 - t2);
    let (o0, o1, o2, o3) = odd(v[7], v[5], v[3], v[1]);
    [
        descale(t10 + o3, shift),
        descale(t11 + o2, shift),
        descale(t12 + o1, shift),
        descale(t13 + o0, shift),
        descale(t13 - o0, shift),
        descale(t12 - o1, shift),
        descale(t11 - o2, shift),
        descale(t10 - o3, shift),
    ]
}

/// One block: samples (0..255) in, decoded samples out.
pub(super) fn round_trip(block: &[i64; 64], q: &[i64; 64]) -> [i64; 64] {
    let mut d = block.map(|s| s - 128);
    for r in 0..8 {
        fdct_1d(&mut d, |k| r * 8 + k, true);
    }
    for c in 0..8 {
        fdct_1d(&mut d, |k| k * 8 + c, false);
    }
    // Quantise (the DCT output is scaled by 8, as libjpeg's divisors are), round half away from zero.
    let coef: Vec<i64> = (0..64)
        .map(|i| {
            let qv = q[i] << 3;
            let t = d[i];
            let m = (t.abs() + (qv >> 1)) / qv;
            if t < 0 {
                -m
            } else {
                m
            }
        })
        .collect();
    let deq: Vec<i64> = (0..64).map(|i| coef[i] * q[i]).collect();
    let mut ws = [0i64; 64];
    for c in 0..8 {
        let col = idct_1d(std::array::from_fn(|k| deq[k * 8 + c]), CONST_BITS - PASS1_BITS);
        for k in 0..8 {
            ws[k * 8 + c] = col[k];
        }
    }
    let mut out = [0i64; 64];
    for r in 0..8 {
        let row = idct_1d(std::array::from_fn(|k| ws[r * 8 + k]), CONST_BITS + PASS1_BITS + 3);
        for k in 0..8 {
            out[r * 8 + k] = (row[k] + 128).clamp(0, 255);
        }
    }
    out
}

/// A w×h gray image (row-major bytes) through JPEG at `quality`.
pub fn round_trip_gray(px: &[u8], w: usize, h: usize, quality: u8) -> Vec<u8> {
    round_trip_plane(px, w, h, &table(quality))
}

/// A w×h plane through the block transform with table `q`, edges replicated.
pub(super) fn round_trip_plane(px: &[u8], w: usize, h: usize, q: &[i64; 64]) -> Vec<u8> {
    let q = *q;
    let at = |y: usize, x: usize| px[y.min(h - 1) * w + x.min(w - 1)] as i64;
    let mut out = vec![0u8; w * h];
    for by in (0..h).step_by(8) {
        for bx in (0..w).step_by(8) {
            let block: [i64; 64] = std::array::from_fn(|i| at(by + i / 8, bx + i % 8));
            let dec = round_trip(&block, &q);
            for (i, &v) in dec.iter().enumerate() {
                let (y, x) = (by + i / 8, bx + i % 8);
                if y < h && x < w {
                    out[y * w + x] = v as u8;
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A flat image stays flat (only its DC coefficient is non-zero), moved by
    /// the DC's quantisation: at quality 40 the step is 20·8 on a DC of
    /// (77 − 128)·64 = −3264, which rounds to −20 steps = −3200, i.e. 78.
    #[test]
    fn a_flat_image_stays_flat_up_to_the_dc_step() {
        let px = vec![77u8; 10 * 10];
        assert_eq!(round_trip_gray(&px, 10, 10, 40), vec![78u8; 100]);
    }

    #[test]
    fn quality_scales_the_table_as_libjpeg() {
        assert_eq!(table(50), LUMA);
        assert_eq!(table(80)[0], 6); // (16·40 + 50) / 100
        assert_eq!(table(10)[63], 255); // 99·500 clamped to baseline
    }
}
