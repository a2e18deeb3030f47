//! ViT attention maps: for a few fixed test images (the first test image of each
//! of the first classes, so every representation shows the same pictures), the
//! last block's CLS-token attention to every patch, per head. The report draws
//! them as image grids; the metric is the mean normalised entropy of those maps
//! (1 = uniform attention, lower = more focused), a number for what they show.
//!
//! `attention_foreground` measures whether attention lands on the object (the
//! analogue of DINO's segmentation overlap): over up to `foreground_images`
//! test images, the share of each head's last-block CLS attention (renormalised
//! over the patches) that falls on object patches, divided by the share of the
//! image such patches cover — 1 is no better than uniform, 1 / share is all
//! attention on the object. A patch is an object patch when at least half its
//! pixels exceed `foreground_threshold` in some channel (default 0: Fashion-MNIST's
//! background is exactly 0; for other data set a threshold, e.g. for dark
//! objects on light ground invert first). Images whose patches are all object
//! or all background say nothing and are skipped. Reported per head and as the
//! mean over heads; the per-image values (mean over heads, `null` for a skipped
//! image) are stored so the report can compare two ViTs on the same images
//! (paired bootstrap CI of the difference, paired t over images) instead of
//! printing two numbers side by side.
use super::{EvalContext, EvalOutput, Evaluation, FigureKind, Headline, Input, ModelInputs, Scope};
use crate::checks::{Checker, Validate};
use crate::error::{Error, Result};
use crate::represent::RepresentationSpec;
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AttentionMapsParams {
    /// Number of test images shown: the first of each class, then the next in
    /// order (10 = one of each Fashion-MNIST class).
    pub images: usize,
    /// Test images `attention_foreground` averages over (0 turns it off).
    pub foreground_images: usize,
    /// A pixel above this value (u8, any channel) belongs to the object.
    pub foreground_threshold: u8,
}

impl Default for AttentionMapsParams {
    fn default() -> Self {
        AttentionMapsParams { images: 10, foreground_images: 1000, foreground_threshold: 0 }
    }
}

impl Validate for AttentionMapsParams {
    fn validate(&self, path: &str, c: &mut Checker) {
        c.positive(&format!("{path}.images"), self.images);
    }
}

/// Indices of the first test image of each class, classes in order, then the
/// next images in order until `n` are chosen.
pub fn pick_images(labels: &[i64], n: usize) -> Vec<usize> {
    let mut seen = std::collections::BTreeMap::new();
    for (i, &l) in labels.iter().enumerate() {
        seen.entry(l).or_insert(i);
    }
    let mut out: Vec<usize> = seen.values().copied().take(n).collect();
    for i in 0..labels.len() {
        if out.len() >= n {
            break;
        }
        if !out.contains(&i) {
            out.push(i);
        }
    }
    out
}

/// Version of this evaluation's arithmetic; bump it when what it computes
/// changes (it enters the evaluation's key, see `Evaluation::version`).
pub const VERSION: u32 = 3;

impl Evaluation for AttentionMapsParams {
    /// Its own version plus the encoders' (the ViT's attention): the sum changes
    /// with either bump.
    fn version(&self) -> u32 {
        VERSION + crate::methods::SHARED_VERSION
    }
    fn scope(&self) -> Scope {
        Scope::Model
    }
    fn evaluate(&self, input: &Input, ctx: &EvalContext) -> Result<EvalOutput> {
        self.run(input.model()?, ctx.device)
    }
    /// `attention_foreground` when it is computed: more attention on the object
    /// is what the DINO picture claims, so representations are ranked and tested
    /// on it; the entropy only describes (focused is not necessarily on the object).
    fn headline(&self) -> Headline {
        if self.foreground_images > 0 {
            Headline::ranked_ratio("attention_foreground")
        } else {
            Headline::descriptive("attention_entropy")
        }
    }
    fn figures(&self) -> &'static [FigureKind] {
        &[FigureKind::AttentionGrid]
    }
    fn applies_to(&self, rep: &RepresentationSpec) -> std::result::Result<(), String> {
        super::needs_encoder(rep, true)
    }
}

impl AttentionMapsParams {
    pub fn run(&self, m: &ModelInputs, device: Device) -> Result<EvalOutput> {
        let labels: Vec<i64> = Vec::try_from(&m.images.test.1)?;
        let idx = pick_images(&labels, self.images);
        let sel = Tensor::from_slice(&idx.iter().map(|&i| i as i64).collect::<Vec<_>>());
        let x = m.images.test.0.index_select(0, &sel);
        let att = m
            .fitted
            .cls_attention(&x, device)?
            .ok_or_else(|| Error::NotApplicable(format!("{} has no ViT attention", m.spec.kind())))?;
        let att = att.to_device(Device::Cpu).to_kind(Kind::Double);
        let s = att.size();
        let (heads, gh, gw) = (s[1], s[2], s[3]);
        // Normalised entropy of each head's map (the weights sum to < 1 because
        // the CLS token also attends to itself; renormalise over the patches).
        let p = &att / att.sum_dim_intlist([2i64, 3].as_slice(), true, Kind::Double).clamp_min(1e-12);
        let ent = -(&p * p.clamp_min(1e-12).log()).sum_dim_intlist([2i64, 3].as_slice(), false, Kind::Double)
            / ((gh * gw) as f64).ln().max(1e-12);
        let mean_ent = ent.mean(Kind::Double).double_value(&[]);
        let maps: Vec<f64> = Vec::try_from(att.reshape([-1]))?;
        let pixels: Vec<u8> = Vec::try_from(x.contiguous().reshape([-1]))?;
        let round = |v: f64| (v * 1e5).round() / 1e5;
        let mut metrics = vec![("attention_entropy".into(), mean_ent)];
        let mut per_image = serde_json::Value::Null;
        if self.foreground_images > 0 {
            let n = (self.foreground_images as i64).min(m.images.test.0.size()[0]);
            let imgs = m.images.test.0.narrow(0, 0, n);
            let att = attention_in_batches(m, &imgs, device)?;
            let mask = object_patches(&imgs, att.size()[2], att.size()[3], self.foreground_threshold);
            let fg = foreground_ratio(&att, &mask)?;
            if fg.used > 0 {
                metrics
                    .push(("attention_foreground".into(), fg.per_head.iter().sum::<f64>() / fg.per_head.len() as f64));
                for (h, v) in fg.per_head.iter().enumerate() {
                    metrics.push((format!("attention_foreground_head{}", h + 1), *v));
                }
                per_image = serde_json::json!({ "attention_foreground": fg.per_image });
            }
            metrics.push(("foreground_images_used".into(), fg.used as f64));
        }
        let mut details = serde_json::json!({ "per_image": per_image });
        super::figure_data::put(
            &mut details,
            &super::figure_data::AttentionGridData {
                image_shape: x.size()[1..].to_vec(),
                images: pixels,
                labels: idx.iter().map(|&i| labels[i]).collect(),
                heads,
                grid: [gh, gw],
                attention: maps.into_iter().map(round).collect(),
            },
        )?;
        Ok(EvalOutput { metrics, details })
    }
}

/// The last block's CLS attention [N, heads, gh, gw] of `images`, 256 at a time.
fn attention_in_batches(m: &ModelInputs, images: &Tensor, device: Device) -> Result<Tensor> {
    crate::represent::pixels::in_batches(images, 256, |b| {
        m.fitted
            .cls_attention(b, device)?
            .map(|t| t.to_device(Device::Cpu))
            .ok_or_else(|| Error::NotApplicable(format!("{} has no ViT attention", m.spec.kind())))
    })
}

/// Object patches [N, gh, gw]: at least half of a patch's pixels exceed
/// `threshold` in some channel.
pub fn object_patches(images: &Tensor, gh: i64, gw: i64, threshold: u8) -> Tensor {
    let on = images.to_device(Device::Cpu).gt(threshold as i64).any_dim(1, false).to_kind(Kind::Double);
    let s = on.size();
    let (ph, pw) = (s[1] / gh, s[2] / gw);
    let cropped = on.narrow(1, 0, ph * gh).narrow(2, 0, pw * gw);
    cropped.view([s[0], gh, ph, gw, pw]).mean_dim([2i64, 4].as_slice(), false, Kind::Double).ge(0.5)
}

/// `attention_foreground` of a set of images.
#[derive(Debug, Clone, PartialEq)]
pub struct Foreground {
    /// Per head: the mean over the images used of (attention on object
    /// patches) / (object patches' share of the image).
    pub per_head: Vec<f64>,
    /// Per image, the mean over heads of the same ratio; None for an image
    /// with only object or only background patches. The mean of the `Some`s
    /// is the mean of `per_head`.
    pub per_image: Vec<Option<f64>>,
    /// Images with both object and background patches.
    pub used: usize,
}

/// The foreground ratios of `att` [N, heads, gh, gw] (any scale per map)
/// against the object patches `mask` [N, gh, gw].
pub fn foreground_ratio(att: &Tensor, mask: &Tensor) -> Result<Foreground> {
    let att = att.to_device(Device::Cpu).to_kind(Kind::Double);
    let p = &att / att.sum_dim_intlist([2i64, 3].as_slice(), true, Kind::Double).clamp_min(1e-12);
    let m = mask.to_kind(Kind::Double);
    let cells = (mask.size()[1] * mask.size()[2]) as f64;
    let share = m.sum_dim_intlist([1i64, 2].as_slice(), false, Kind::Double) / cells; // [N]
    let keep = share.gt(0.0).logical_and(&share.lt(1.0));
    let used = keep.sum(Kind::Int64).int64_value(&[]) as usize;
    let heads = att.size()[1];
    let kept: Vec<bool> = Vec::try_from(&keep)?;
    if used == 0 {
        return Ok(Foreground { per_head: vec![f64::NAN; heads as usize], per_image: vec![None; kept.len()], used: 0 });
    }
    let on_obj = (&p * m.unsqueeze(1)).sum_dim_intlist([2i64, 3].as_slice(), false, Kind::Double); // [N, heads]
    let ratio = on_obj / share.unsqueeze(1).clamp_min(1e-12);
    let idx = keep.nonzero().squeeze_dim(1);
    let per_head = Vec::try_from(ratio.index_select(0, &idx).mean_dim(0, false, Kind::Double))?;
    let image_means: Vec<f64> = Vec::try_from(ratio.mean_dim(1, false, Kind::Double))?;
    let per_image = kept.iter().zip(image_means).map(|(&k, v)| k.then_some(v)).collect();
    Ok(Foreground { per_head, per_image, used })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn foreground_ratio_is_one_when_uniform_and_inverse_share_when_all_on_the_object() {
        // 2 images, 4×4 patches of 2×2 pixels; the object is the top-left 2×2 patches (share 1/4).
        let img = Tensor::zeros([2, 1, 8, 8], (Kind::Uint8, Device::Cpu));
        let _ = img.narrow(2, 0, 4).narrow(3, 0, 4).fill_(200);
        let mask = object_patches(&img, 4, 4, 0);
        assert_eq!(mask.sum(Kind::Int64).int64_value(&[]), 8);
        let uniform = Tensor::ones([2, 3, 4, 4], (Kind::Float, Device::Cpu));
        let fg = foreground_ratio(&uniform, &mask).unwrap();
        assert_eq!(fg.used, 2);
        assert!(fg.per_head.iter().all(|v| (v - 1.0).abs() < 1e-9), "{fg:?}");
        let focused = Tensor::zeros([2, 3, 4, 4], (Kind::Float, Device::Cpu)) + mask.unsqueeze(1).to_kind(Kind::Float);
        let fg = foreground_ratio(&focused, &mask).unwrap();
        assert!(fg.per_head.iter().all(|v| (v - 4.0).abs() < 1e-9), "all on the object: 1 / share = 4, {fg:?}");
        // An image that is all background says nothing.
        let blank = Tensor::zeros([1, 1, 8, 8], (Kind::Uint8, Device::Cpu));
        let none = foreground_ratio(&uniform.narrow(0, 0, 1), &object_patches(&blank, 4, 4, 0)).unwrap();
        assert_eq!((none.used, none.per_image), (0, vec![None]));
    }

    #[test]
    fn per_image_values_are_the_head_means_and_skip_images_without_background() {
        // Image 0: object = top-left 2×2 patches (share 1/4); image 1: all object (skipped);
        // image 2: object = the top row of patches (share 1/4).
        let img = Tensor::zeros([3, 1, 8, 8], (Kind::Uint8, Device::Cpu));
        let _ = img.get(0).narrow(1, 0, 4).narrow(2, 0, 4).fill_(200);
        let _ = img.get(1).fill_(200);
        let _ = img.get(2).narrow(1, 0, 2).fill_(200);
        let mask = object_patches(&img, 4, 4, 0);
        // Two heads per image: head 1 all on patch (0, 0), head 2 uniform.
        let att = Tensor::ones([3, 2, 4, 4], (Kind::Double, Device::Cpu));
        let _ = att.narrow(1, 0, 1).fill_(0.0);
        let _ = att.narrow(1, 0, 1).narrow(2, 0, 1).narrow(3, 0, 1).fill_(1.0);
        let fg = foreground_ratio(&att, &mask).unwrap();
        // Head 1: all attention on an object patch, ratio 1 / (1/4) = 4; head 2: 1. Mean 2.5.
        assert_eq!(fg.used, 2);
        assert_eq!(fg.per_image.len(), 3);
        assert!((fg.per_image[0].unwrap() - 2.5).abs() < 1e-12, "{fg:?}");
        assert_eq!(fg.per_image[1], None, "an all-object image says nothing");
        assert!((fg.per_image[2].unwrap() - 2.5).abs() < 1e-12, "{fg:?}");
        assert!((fg.per_head[0] - 4.0).abs() < 1e-12 && (fg.per_head[1] - 1.0).abs() < 1e-12, "{fg:?}");
        let mean_images = fg.per_image.iter().flatten().sum::<f64>() / fg.used as f64;
        assert!((mean_images - fg.per_head.iter().sum::<f64>() / 2.0).abs() < 1e-12, "the two means agree");
    }
}
