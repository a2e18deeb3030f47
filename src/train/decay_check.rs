//! Refuses a weight decay strong enough to erase the weights by itself.
//!
//! Why: DINO's schedule (0.04 → 0.4 on a cosine) is meant for AdamW, whose
//! decoupled decay shrinks a weight by lr × wd per step (≈ 1e-4 at DINO's rates).
//! A suite that switches the optimiser to SGD but not the schedule inherits it,
//! and SGD's decay is coupled and amplified by momentum: lr × wd / (1 − momentum)
//! per step, ≈ 3 % mid-run at lightly's lr 0.03. That collapsed a DINO ConvNet's
//! teacher to uniform at 10k images (docs/dino_investigation.md, "The ConvNet recipe
//! collapses with a longer run"), and it would collapse any method the same way;
//! the run finishes and prints numbers, so it is refused at the field instead.

use super::optim::{lr_at, OptimizerKind};
use super::trainer::TrainParams;
use crate::checks::Checker;

/// Largest per-step shrink allowed: at 1 % a weight the loss does not hold up
/// halves in 69 steps. Ordinary settings sit 20–100× below (AdamW 1e-3 × 0.05 =
/// 5e-5; SGD 0.1 × 5e-4 / 0.1 = 5e-4; DINO's AdamW at batch 128: ≤ 1e-4).
pub const MAX_SHRINK_PER_STEP: f64 = 0.01;

/// The largest per-step shrink the decay applies over the run, and where (as a
/// fraction of the run). None for the optimisers whose shrink is not a simple
/// product: Adam (coupled decay rescaled per parameter) and LARS (per-layer rate).
pub fn max_shrink(t: &TrainParams) -> Option<(f64, f64)> {
    let factor = match t.optimizer.kind {
        OptimizerKind::Adamw => 1.0,
        OptimizerKind::Sgd => 1.0 / (1.0 - t.optimizer.momentum),
        OptimizerKind::Adam | OptimizerKind::Lars => return None,
    };
    // The schedules depend on the run only through fractions of it, so a grid of
    // 1,000 steps stands for any length (warm-up rounded to the grid).
    let total = 1000;
    let warmup = ((t.warmup_epochs / t.epochs.max(1) as f64) * total as f64).round() as i64;
    let peak = t.peak_lr(t.batch_size as i64);
    (0..total)
        .map(|s| {
            let shrink = lr_at(s, total, warmup, peak, t.min_lr) * t.weight_decay_at(s, total) * factor;
            (shrink, s as f64 / total as f64)
        })
        .max_by(|a, b| a.0.total_cmp(&b.0))
}

/// Pushes an error at the decay's field when its shrink passes the limit.
pub fn check(t: &TrainParams, path: &str, c: &mut Checker) {
    let Some((shrink, at)) = max_shrink(t) else { return };
    if shrink.is_nan() || shrink <= MAX_SHRINK_PER_STEP {
        return;
    }
    let (field, how) = match t.weight_decay_end {
        Some(end) => ("weight_decay_end", format!("the schedule {} → {end}", t.optimizer.weight_decay)),
        None => ("optimizer.weight_decay", format!("{}", t.optimizer.weight_decay)),
    };
    let rule = match t.optimizer.kind {
        OptimizerKind::Sgd => format!("lr × weight decay / (1 − momentum {})", t.optimizer.momentum),
        _ => "lr × weight decay".to_string(),
    };
    let hint = if t.weight_decay_end.is_some() && t.optimizer.kind == OptimizerKind::Sgd {
        " — DINO's 0.04 → 0.4 schedule is AdamW's; for SGD write `weight_decay_end: null` (constant decay, lightly's 5e-4)"
    } else {
        " — lower the weight decay or the learning rate"
    };
    c.push(
        &format!("{path}.{field}"),
        format!(
            "with {how}, {} weight decay alone shrinks every weight by {:.1} % per step ({rule}) at {:.0} % of the run, more than the {} % at which weights the loss does not hold up vanish within a few hundred steps{hint}",
            if t.optimizer.kind == OptimizerKind::Sgd { "sgd's" } else { "adamw's" },
            shrink * 100.0,
            at * 100.0,
            MAX_SHRINK_PER_STEP * 100.0
        ),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::optim::OptimizerParams;

    fn errors(t: &TrainParams) -> Vec<crate::checks::FieldError> {
        let mut c = Checker::default();
        check(t, "representations.d.train", &mut c);
        c.errors
    }

    fn sgd(weight_decay: f64, weight_decay_end: Option<f64>) -> TrainParams {
        TrainParams {
            epochs: 60,
            batch_size: 128,
            warmup_epochs: 1.0,
            lr_reference_batch: Some(256),
            weight_decay_end,
            optimizer: OptimizerParams {
                kind: OptimizerKind::Sgd,
                lr: 0.06,
                momentum: 0.9,
                weight_decay,
                ..Default::default()
            },
            ..crate::methods::dino::train_defaults()
        }
    }

    /// The ConvNet row that collapsed: SGD 0.06 per 256 (0.03 at batch 128),
    /// momentum 0.9, decay 5e-4 → 0.4 inherited from DINO. By hand, half-way
    /// through (after a 1-epoch warm-up of 60): lr = 0.03 · (1 + cos(π · 483/983)) / 2
    /// = 0.01541, wd = 0.4 − 0.3995 · (1 + cos(π/2)) / 2 = 0.20025, shrink =
    /// 0.01541 · 0.20025 / 0.1 = 3.085 %, which is also the largest over the run.
    #[test]
    fn sgd_with_dinos_adamw_schedule_is_refused_and_lightlys_constant_decay_is_not() {
        let (shrink, at) = max_shrink(&sgd(5e-4, Some(0.4))).unwrap();
        assert!((shrink - 0.03085).abs() < 1e-4, "{shrink}");
        assert!((at - 0.5).abs() < 0.01, "{at}");
        let e = errors(&sgd(5e-4, Some(0.4)));
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].path, "representations.d.train.weight_decay_end");
        assert!(e[0].msg.contains("weight_decay_end: null"), "{}", e[0].msg);
        // lightly's recipe: constant 5e-4 → 0.03 · 5e-4 / 0.1 = 1.5e-4 at the peak.
        let (shrink, _) = max_shrink(&sgd(5e-4, None)).unwrap();
        assert!((shrink - 1.5e-4).abs() < 1e-9, "{shrink}");
        assert!(errors(&sgd(5e-4, None)).is_empty());
        // A constant decay that is too strong names optimizer.weight_decay.
        let e = errors(&sgd(0.5, None));
        assert_eq!(e[0].path, "representations.d.train.optimizer.weight_decay");
    }

    /// DINO's defaults (AdamW 5e-4 per 256, decay 0.04 → 0.4) are far below the
    /// limit at any batch size a CPU or one GPU runs; Adam and LARS are not judged.
    #[test]
    fn dinos_own_adamw_schedule_passes() {
        for batch_size in [64, 128, 1024] {
            let t = TrainParams { epochs: 100, batch_size, ..crate::methods::dino::train_defaults() };
            let (shrink, _) = max_shrink(&t).unwrap();
            assert!(shrink < 1e-3, "batch {batch_size}: {shrink}");
            assert!(errors(&t).is_empty());
        }
        let mut adam = sgd(0.5, Some(0.4));
        adam.optimizer.kind = OptimizerKind::Adam;
        assert_eq!(max_shrink(&adam), None);
    }
}
