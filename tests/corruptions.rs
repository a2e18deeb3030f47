//! The robustness corruptions against the reference code's outputs
//! (tests/fixtures/corruptions/reference.npz, made by its make_fixtures.py with
//! scikit-image, OpenCV and Pillow as CIFAR-10-C and MNIST-C call them).
use repbench::corrupt::{corrupt_batch, geometric, Corruption, Planes};
use std::collections::HashMap;
use tch::{Kind, Tensor};

fn reference() -> HashMap<String, Tensor> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/corruptions/reference.npz");
    Tensor::read_npz(path).unwrap().into_iter().collect()
}

/// The inputs as planes: gray 28×28 and RGB 32×32 (stored H×W×C).
fn inputs(r: &HashMap<String, Tensor>, which: &str) -> Vec<Planes> {
    let t = &r[which];
    let t = if t.dim() == 3 { t.unsqueeze(-1) } else { t.shallow_clone() };
    let (n, h, w, c) = (t.size()[0], t.size()[1] as usize, t.size()[2] as usize, t.size()[3] as usize);
    (0..n)
        .map(|i| {
            let px: Vec<u8> = Vec::try_from(t.get(i).permute([2, 0, 1]).contiguous().view([-1])).unwrap();
            Planes::from_u8(c, h, w, &px)
        })
        .collect()
}

/// The reference's bytes (`np.uint8` truncates) for image i, as C×H×W, keeping
/// the first `c` channels (its brightness returns three for a gray input).
fn expected(r: &HashMap<String, Tensor>, key: &str, i: i64, c: i64) -> Vec<i64> {
    let t = r.get(key).unwrap_or_else(|| panic!("no {key} in the reference"));
    let t = t.get(i).narrow(2, 0, c).permute([2, 0, 1]).contiguous().view([-1]);
    Vec::try_from(t.to_kind(Kind::Uint8).to_kind(Kind::Int64)).unwrap()
}

fn max_diff(ours: &[u8], theirs: &[i64]) -> i64 {
    assert_eq!(ours.len(), theirs.len());
    ours.iter().zip(theirs).map(|(&a, &b)| (a as i64 - b).abs()).max().unwrap()
}

#[test]
fn deterministic_corruptions_are_within_one_grey_level_of_the_reference() {
    let r = reference();
    let mut worst = Vec::new();
    for (input, deterministic) in [
        (
            "gray",
            vec![
                Corruption::DefocusBlur,
                Corruption::GaussianBlur,
                Corruption::Contrast,
                Corruption::Brightness,
                Corruption::Pixelate,
                Corruption::Jpeg,
            ],
        ),
        (
            "rgb",
            vec![
                Corruption::DefocusBlur,
                Corruption::GaussianBlur,
                Corruption::Contrast,
                Corruption::Brightness,
                Corruption::Pixelate,
            ],
        ),
    ] {
        let imgs = inputs(&r, input);
        for c in deterministic {
            for s in 1..=5u8 {
                let key = format!("{}_{s}_{input}", c.name());
                let mut d = 0;
                for (i, img) in imgs.iter().enumerate() {
                    let mut rng = repbench::runtime::seeding::rng(0, "unused");
                    let ours = c.apply(img, s, &mut rng).unwrap().to_u8();
                    d = d.max(max_diff(&ours, &expected(&r, &key, i as i64, img.c as i64)));
                }
                worst.push((key, d));
            }
        }
    }
    let bad: Vec<_> = worst.iter().filter(|(_, d)| *d > 1).collect();
    assert!(bad.is_empty(), "more than one grey level from the reference: {bad:?}");
}

/// JPEG goes through libjpeg's own lossy arithmetic (`corrupt::jpeg_gray`,
/// `corrupt::jpeg_color`: YCbCr 4:2:0, fancy upsampling): every pixel equals
/// Pillow's at every severity, gray and colour.
#[test]
fn jpeg_equals_pillows_bit_for_bit() {
    let r = reference();
    for input in ["gray", "rgb"] {
        let imgs = inputs(&r, input);
        for s in 1..=5u8 {
            let key = format!("jpeg_{s}_{input}");
            for (i, img) in imgs.iter().enumerate() {
                let mut rng = repbench::runtime::seeding::rng(0, "unused");
                let ours = Corruption::Jpeg.apply(img, s, &mut rng).unwrap().to_u8();
                let d = max_diff(&ours, &expected(&r, &key, i as i64, img.c as i64));
                assert_eq!(d, 0, "{input}, severity {s}, image {i}");
            }
        }
    }
}

#[test]
fn affine_corruptions_are_within_one_grey_level_of_scikit_image() {
    let r = reference();
    let imgs = inputs(&r, "gray");
    let mut bad = Vec::new();
    for s in 1..=5usize {
        for (sign, tag) in [(1.0, "pos"), (-1.0, "neg")] {
            for (name, f) in [
                ("rotate", &(|p: &Planes| geometric::rotate(p, s - 1, sign)) as &dyn Fn(&Planes) -> Planes),
                ("shear", &|p: &Planes| geometric::shear(p, s - 1, sign)),
                ("scale", &|p: &Planes| geometric::scale(p, s - 1)),
                ("translate", &|p: &Planes| geometric::translate(p, s - 1, (sign, sign))),
            ] {
                let key = format!("{name}_{s}_{tag}_gray");
                let d = imgs
                    .iter()
                    .enumerate()
                    .map(|(i, img)| max_diff(&f(img).to_u8(), &expected(&r, &key, i as i64, 1)))
                    .max()
                    .unwrap();
                if d > 1 {
                    bad.push((key, d));
                }
            }
        }
    }
    assert!(bad.is_empty(), "more than one grey level from scikit-image's warp: {bad:?}");
}

/// 10,000 draws of each noise at each severity on a ramp through every grey
/// level: per pixel, the mean and the variance within five standard errors
/// (plus 0.05 grey levels, 0.5 squared levels) of the reference's, the
/// standard errors of the difference of two samples of 10,000 (the variance's
/// from the draws' fourth moment, since salt-and-pepper is far from normal).
#[test]
fn random_corruptions_match_the_reference_in_mean_and_spread() {
    let r = reference();
    let img = &inputs(&r, "gray")[1];
    const DRAWS: usize = 10_000;
    let mut bad = Vec::new();
    for c in [Corruption::GaussianNoise, Corruption::ShotNoise, Corruption::ImpulseNoise] {
        for s in 1..=5u8 {
            let n = img.v.len();
            let mut draws = vec![Vec::with_capacity(DRAWS); n];
            for d in 0..DRAWS {
                let mut rng = repbench::runtime::seeding::rng(d as u64, "draw");
                let out = c.apply(img, s, &mut rng).unwrap();
                for (j, &v) in out.v.iter().enumerate() {
                    draws[j].push(v * 255.0);
                }
            }
            let key = |k: &str| format!("{}_{s}_{k}", c.name());
            let ref_mean: Vec<f32> = Vec::try_from(r[&key("mean")].view([-1])).unwrap();
            let ref_std: Vec<f32> = Vec::try_from(r[&key("std")].view([-1])).unwrap();
            for j in 0..n {
                let nd = DRAWS as f64;
                let mean = draws[j].iter().sum::<f64>() / nd;
                let var = draws[j].iter().map(|v| (v - mean).powi(2)).sum::<f64>() / nd;
                let m4 = draws[j].iter().map(|v| (v - mean).powi(4)).sum::<f64>() / nd;
                let std = var.sqrt();
                let (rm, rs) = (ref_mean[j] as f64, ref_std[j] as f64);
                let se_mean = (2.0 * var.max(rs * rs) / nd).sqrt();
                let se_var = (2.0 * (m4 - var * var).max(0.0) / nd).sqrt();
                if (mean - rm).abs() > 5.0 * se_mean + 0.05 || (var - rs * rs).abs() > 5.0 * se_var + 0.5 {
                    bad.push(format!(
                        "{} s{s} pixel {j}: mean {mean:.2} vs {rm:.2}, std {std:.2} vs {rs:.2}",
                        c.name()
                    ));
                }
            }
        }
    }
    assert!(bad.is_empty(), "{} pixels off, first: {:?}", bad.len(), &bad[..bad.len().min(5)]);
}

#[test]
fn a_batch_is_the_same_whatever_its_chunks() {
    let r = reference();
    let gray = r["gray"].unsqueeze(1);
    for c in [Corruption::ShotNoise, Corruption::Rotate, Corruption::Jpeg] {
        let whole = corrupt_batch(&gray, c, 3, 7, 0).unwrap();
        let parts = Tensor::cat(
            &[
                corrupt_batch(&gray.narrow(0, 0, 2), c, 3, 7, 0).unwrap(),
                corrupt_batch(&gray.narrow(0, 2, 4), c, 3, 7, 2).unwrap(),
            ],
            0,
        );
        assert!(whole.equal(&parts), "{c:?}");
        assert_ne!(whole.size(), vec![0]);
        // Another seed draws other noise (the random ones).
        if c.is_random() {
            let other = corrupt_batch(&gray, c, 3, 8, 0).unwrap();
            assert!(!whole.equal(&other), "{c:?} ignores its seed");
        }
    }
}

#[test]
fn bad_severities_and_large_images_are_refused() {
    let img = Planes::from_u8(1, 4, 4, &[10; 16]);
    let mut rng = repbench::runtime::seeding::rng(0, "x");
    let err = Corruption::Contrast.apply(&img, 6, &mut rng).unwrap_err().to_string();
    assert!(err.contains("severity 6"), "{err}");
    let big = Tensor::zeros([1, 3, 224, 224], (Kind::Uint8, tch::Device::Cpu));
    let err = corrupt_batch(&big, Corruption::Contrast, 1, 0, 0).unwrap_err().to_string();
    assert!(err.contains("224×224") && err.contains("CIFAR-10-C"), "{err}");
}
