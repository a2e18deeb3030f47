//! Probes by depth: the output of every encoder block (pooled to one vector per
//! image) gets its own linear probe, so a curve of accuracy against depth shows
//! where class information appears; the linear CKA between the blocks (on test
//! images) shows how much each block changes the representation.
//!
//! The headline is the test accuracy of the block the **validation** accuracy
//! selects (`selected_block`, ties to the shallower block), never the best
//! test accuracy: a maximum over test scores is biased upward, and differently
//! per seed.
use super::linear_probe::LinearProbeParams;
use super::{EvalContext, EvalOutput, Evaluation, Features, FigureKind, Headline, Input, ModelInputs, Scope};
use crate::checks::{Checker, Validate};
use crate::error::{Error, Result};
use crate::represent::RepresentationSpec;
use serde::{Deserialize, Serialize};
use tch::Device;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DepthProbeParams {
    /// The probe trained on each block (same protocol as `linear_probe`).
    pub probe: LinearProbeParams,
    /// Test images used for the block-to-block CKA (0 turns it off).
    pub cka_samples: usize,
}

impl Default for DepthProbeParams {
    fn default() -> Self {
        DepthProbeParams { probe: LinearProbeParams::default(), cka_samples: 2000 }
    }
}

impl Validate for DepthProbeParams {
    fn validate(&self, path: &str, c: &mut Checker) {
        self.probe.validate(&format!("{path}.probe"), c);
    }
}

/// Version of this evaluation's arithmetic; bump it when what it computes
/// changes (it enters the evaluation's key, see `Evaluation::version`).
pub const VERSION: u32 = 5;

impl Evaluation for DepthProbeParams {
    /// Its own version plus those of the probe, the CKA and the encoders' block
    /// outputs it reads (versions only grow, so the sum changes with any bump).
    fn version(&self) -> u32 {
        VERSION + super::linear_probe::VERSION + super::similarity::VERSION + crate::methods::SHARED_VERSION
    }
    fn scope(&self) -> Scope {
        Scope::Model
    }
    fn evaluate(&self, input: &Input, ctx: &EvalContext) -> Result<EvalOutput> {
        self.run(input.model()?, ctx)
    }
    fn choices(&self) -> &'static [&'static str] {
        &["selected_block"]
    }
    fn headline(&self) -> Headline {
        Headline::ranked("selected_block_top1")
    }
    fn figures(&self) -> &'static [FigureKind] {
        &[FigureKind::DepthCurve, FigureKind::BlockCka]
    }
    fn applies_to(&self, rep: &RepresentationSpec) -> std::result::Result<(), String> {
        super::needs_encoder(rep, false)
    }
}

impl DepthProbeParams {
    pub fn run(&self, m: &ModelInputs, ctx: &EvalContext) -> Result<EvalOutput> {
        let img = m.images;
        let embed = |x: &tch::Tensor| -> Result<Vec<tch::Tensor>> {
            m.fitted
                .embed_blocks(x, ctx.device)?
                .ok_or_else(|| Error::NotApplicable(format!("{} has no blocks to probe", m.spec.kind())))
        };
        let (train, val, test) = (embed(&img.train.0)?, embed(&img.val.0)?, embed(&img.test.0)?);
        let mut metrics = Vec::new();
        let mut per_block = Vec::new();
        let mut selection = Vec::new();
        let mut correct = Vec::new();
        for (i, ((tr, va), te)) in train.iter().zip(&val).zip(&test).enumerate() {
            let f = Features {
                train_x: tr.shallow_clone(),
                train_y: img.train.1.to_device(ctx.device),
                val_x: va.shallow_clone(),
                val_y: img.val.1.to_device(ctx.device),
                test_x: te.shallow_clone(),
                test_y: img.test.1.to_device(ctx.device),
                num_classes: img.num_classes,
            };
            let out = self.probe.run(
                &f,
                &EvalContext {
                    device: ctx.device,
                    seed: crate::runtime::seeding::derive(ctx.seed, &format!("block{i}")),
                },
            )?;
            let get = |name: &str| out.metrics.iter().find(|(k, _)| k == name).map(|(_, v)| *v).unwrap_or(f64::NAN);
            let (top1, val) = (get("top1"), get("val_top1"));
            metrics.push((format!("top1_block{}", i + 1), top1));
            metrics.push((format!("val_top1_block{}", i + 1), val));
            per_block.push(serde_json::json!({ "block": i + 1, "dim": tr.size()[1], "top1": top1, "val_top1": val }));
            selection.push((val, top1));
            correct.push(out.details.get("test_correct").cloned());
        }
        let (block, (_, top1)) = select_on_validation(&selection)
            .ok_or_else(|| Error::stage("no block has a finite validation accuracy to select by"))?;
        metrics.push(("selected_block".into(), (block + 1) as f64));
        metrics.push(("selected_block_top1".into(), top1));
        let layer_cka = if self.cka_samples > 0 {
            let n = (self.cka_samples as i64).min(img.test.0.size()[0]);
            let feats: Vec<tch::Tensor> = test.iter().map(|t| t.narrow(0, 0, n).to_device(Device::Cpu)).collect();
            Some(super::similarity::cka_matrix(&feats)?)
        } else {
            None
        };
        // The selected block's per-example predictions: the headline's paired test.
        let mut details = serde_json::json!({
            "blocks": per_block,
            "test_correct": correct[block],
            "test_images": img.test.1.size()[0],
            "test_correct_metric": "selected_block_top1",
        });
        super::figure_data::put(
            &mut details,
            &super::figure_data::BlockCkaData { layer_cka, estimator: Some(super::similarity::CkaEstimator::Debiased) },
        )?;
        Ok(EvalOutput { metrics, details })
    }
}

/// The (index, (val, test)) of the block with the highest validation accuracy;
/// ties go to the shallower block. Test accuracies take no part.
pub fn select_on_validation(blocks: &[(f64, f64)]) -> Option<(usize, (f64, f64))> {
    let mut best: Option<(usize, (f64, f64))> = None;
    for (i, &(val, test)) in blocks.iter().enumerate() {
        if val.is_finite() && best.is_none_or(|(_, (b, _))| val > b) {
            best = Some((i, (val, test)));
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selection_reads_validation_only() {
        // Block 3 has the best test accuracy, block 2 the best validation accuracy.
        let blocks = [(0.70, 0.71), (0.80, 0.78), (0.79, 0.90)];
        assert_eq!(select_on_validation(&blocks), Some((1, (0.80, 0.78))));
        // Any change of the test accuracies changes no selection.
        let permuted = [(0.70, 0.90), (0.80, 0.10), (0.79, 0.71)];
        assert_eq!(select_on_validation(&permuted).map(|s| s.0), Some(1));
        // Ties go to the shallower block; NaN never wins.
        assert_eq!(select_on_validation(&[(f64::NAN, 1.0), (0.5, 0.2), (0.5, 0.9)]).map(|s| s.0), Some(1));
    }
}
