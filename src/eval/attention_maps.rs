//! ViT attention maps: for a few fixed test images (the first test image of each
//! of the first classes, so every representation shows the same pictures), the
//! last block's CLS-token attention to every patch, per head. The report draws
//! them as image grids; the metric is the mean normalised entropy of those maps
//! (1 = uniform attention, lower = more focused), a number for what they show.
use super::{Evaluation, Headline, Input, EvalContext, EvalOutput, Scope, FigureKind, ModelInputs};
use crate::represent::RepresentationSpec;
use crate::error::{Error, Result};
use crate::spec::validate::{Checker, Validate};
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AttentionMapsParams {
    /// Number of test images shown.
    pub images: usize,
}

impl Default for AttentionMapsParams {
    fn default() -> Self {
        AttentionMapsParams { images: 6 }
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
pub const VERSION: u32 = 1;

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
    fn headline(&self) -> Headline {
        Headline::descriptive("attention_entropy")
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
        let att = m.fitted.cls_attention(&x, device)?.ok_or_else(|| Error::NotApplicable(format!("{} has no ViT attention", m.spec.kind())))?;
        let att = att.to_device(Device::Cpu).to_kind(Kind::Double);
        let s = att.size();
        let (heads, gh, gw) = (s[1], s[2], s[3]);
        // Normalised entropy of each head's map (the weights sum to < 1 because
        // the CLS token also attends to itself; renormalise over the patches).
        let p = &att / att.sum_dim_intlist([2i64, 3].as_slice(), true, Kind::Double).clamp_min(1e-12);
        let ent = -(&p * p.clamp_min(1e-12).log()).sum_dim_intlist([2i64, 3].as_slice(), false, Kind::Double) / ((gh * gw) as f64).ln().max(1e-12);
        let mean_ent = ent.mean(Kind::Double).double_value(&[]);
        let maps: Vec<f64> = Vec::try_from(att.reshape([-1]))?;
        let pixels: Vec<u8> = Vec::try_from(x.contiguous().reshape([-1]))?;
        let round = |v: f64| (v * 1e5).round() / 1e5;
        Ok(EvalOutput {
            metrics: vec![("attention_entropy".into(), mean_ent)],
            details: serde_json::json!({
                "image_shape": x.size()[1..].to_vec(),
                "images": pixels,
                "labels": idx.iter().map(|&i| labels[i]).collect::<Vec<_>>(),
                "heads": heads,
                "grid": [gh, gw],
                "attention": maps.into_iter().map(round).collect::<Vec<_>>(),
            }),
        })
    }
}
