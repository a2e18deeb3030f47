//! What every classification evaluation reports beyond top-1: accuracy per
//! class, balanced (macro) accuracy and the worst class's accuracy from the
//! confusion matrix; and, for predictions with probabilities, calibration —
//! the expected calibration error over 15 equal-width confidence bins (as
//! torchmetrics' `MulticlassCalibrationError(n_bins=15, norm="l1")` bins it),
//! the negative log-likelihood, and the bins for a reliability diagram.
use crate::error::Result;
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

/// Recall of each class (`None` for a class without test images).
pub fn per_class_accuracy(confusion: &[Vec<i64>]) -> Vec<Option<f64>> {
    confusion
        .iter()
        .enumerate()
        .map(|(k, row)| {
            let n: i64 = row.iter().sum();
            (n > 0).then(|| row.get(k).copied().unwrap_or(0) as f64 / n as f64)
        })
        .collect()
}

/// (balanced accuracy, worst-class accuracy) over the classes with test images.
pub fn balanced_and_worst(confusion: &[Vec<i64>]) -> (f64, f64) {
    let acc: Vec<f64> = per_class_accuracy(confusion).into_iter().flatten().collect();
    if acc.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    (acc.iter().sum::<f64>() / acc.len() as f64, acc.iter().copied().fold(f64::INFINITY, f64::min))
}

/// The metrics `balanced_top1` and `worst_class_top1` of a confusion matrix.
pub fn class_metrics(confusion: &[Vec<i64>]) -> Vec<(String, f64)> {
    let (balanced, worst) = balanced_and_worst(confusion);
    vec![("balanced_top1".into(), balanced), ("worst_class_top1".into(), worst)]
}

/// One confidence bin of a reliability diagram.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bin {
    pub count: i64,
    /// Mean confidence (top probability) of the bin's predictions.
    pub confidence: f64,
    /// Share of the bin's predictions that are right.
    pub accuracy: f64,
}

/// Calibration of predicted class probabilities.
#[derive(Debug, Clone, PartialEq)]
pub struct Calibration {
    pub ece: f64,
    pub nll: f64,
    pub bins: Vec<Bin>,
}

pub const BINS: i64 = 15;

/// ECE, NLL and the bins of `logits` [N, C] against labels [N]. A confidence
/// c falls in bin ⌊c·15⌋ (bins [b/15, (b+1)/15)), as torchmetrics'
/// `bucketize(c, linspace(0, 1, 16), right=True) - 1` puts it — which gives a
/// confidence of exactly 1 a sixteenth bin of its own; so does this.
pub fn calibration(logits: &Tensor, y: &Tensor) -> Result<Calibration> {
    let logp = logits.to_kind(Kind::Double).log_softmax(-1, Kind::Double);
    let y = y.to_device(logp.device());
    let nll = -logp.gather(1, &y.unsqueeze(1), false).mean(Kind::Double).double_value(&[]);
    let (top, pred) = logp.exp().max_dim(1, false);
    let right = pred.eq_tensor(&y).to_kind(Kind::Double);
    let slots = BINS + 1;
    let bin = (&top * BINS as f64).floor().clamp(0.0, BINS as f64).to_kind(Kind::Int64);
    let count = bin.bincount::<Tensor>(None, slots);
    let conf_sum = bin.bincount(Some(&top), slots);
    let right_sum = bin.bincount(Some(&right), slots);
    let (count, conf_sum, right_sum): (Vec<i64>, Vec<f64>, Vec<f64>) = (
        Vec::try_from(count.to_device(tch::Device::Cpu))?,
        Vec::try_from(conf_sum.to_device(tch::Device::Cpu))?,
        Vec::try_from(right_sum.to_device(tch::Device::Cpu))?,
    );
    let n: i64 = count.iter().sum();
    let mut ece = 0.0;
    let mut bins = Vec::new();
    for b in 0..slots as usize {
        let k = count[b];
        let (c, a) = if k > 0 { (conf_sum[b] / k as f64, right_sum[b] / k as f64) } else { (0.0, 0.0) };
        if k > 0 {
            ece += k as f64 / n as f64 * (a - c).abs();
        }
        bins.push(Bin { count: k, confidence: c, accuracy: a });
    }
    Ok(Calibration { ece, nll, bins })
}

/// The test labels as base64 bytes (one per image; two, little-endian, above
/// 256 classes): with `test_correct`, the report tests per class.
pub fn labels_b64(y: &Tensor, classes: i64) -> Result<String> {
    use base64::Engine;
    let v: Vec<i64> = Vec::try_from(y.to_device(tch::Device::Cpu).to_kind(Kind::Int64))?;
    let bytes: Vec<u8> = if classes <= 256 {
        v.iter().map(|&k| k as u8).collect()
    } else {
        v.iter().flat_map(|&k| (k as u16).to_le_bytes()).collect()
    };
    Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// Reads `labels_b64` back.
pub fn labels_from_b64(s: &str, classes: usize) -> Option<Vec<usize>> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD.decode(s).ok()?;
    Some(if classes <= 256 {
        bytes.iter().map(|&b| b as usize).collect()
    } else {
        bytes.chunks(2).map(|c| u16::from_le_bytes([c[0], *c.get(1).unwrap_or(&0)]) as usize).collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn balanced_and_worst_class_accuracy_come_from_the_confusion_rows() {
        let conf = vec![vec![8, 2, 0], vec![0, 5, 5], vec![0, 0, 0]];
        assert_eq!(per_class_accuracy(&conf), vec![Some(0.8), Some(0.5), None]);
        let (b, w) = balanced_and_worst(&conf);
        assert!((b - 0.65).abs() < 1e-12 && (w - 0.5).abs() < 1e-12);
    }

    /// Hand-computed: four predictions with top probabilities 0.95 (right),
    /// 0.95 (wrong), 0.6 (right), 0.5 (right).
    #[test]
    fn ece_and_nll_match_a_hand_computation() {
        let p = Tensor::from_slice(&[0.95f64, 0.05, 0.05, 0.95, 0.6, 0.4, 0.5, 0.5]).view([4, 2]);
        let logits = p.log();
        let y = Tensor::from_slice(&[0i64, 0, 0, 0]);
        let c = calibration(&logits, &y).unwrap();
        // Bins: ⌊0.95·15⌋ = 14 holds two (conf 0.95, acc 0.5); ⌊0.6·15⌋ = 9 (0.6, 1); ⌊0.5·15⌋ = 7 (0.5, 1).
        let want = 0.5 * 0.45 + 0.25 * 0.4 + 0.25 * 0.5;
        assert!((c.ece - want).abs() < 1e-12, "{} vs {want}", c.ece);
        let nll = -(0.95f64.ln() + 0.05f64.ln() + 0.6f64.ln() + 0.5f64.ln()) / 4.0;
        assert!((c.nll - nll).abs() < 1e-12);
        assert_eq!(c.bins[14].count, 2);
        // A confidence of exactly 1 has a bin of its own (torchmetrics' sixteenth).
        let sure =
            calibration(&Tensor::from_slice(&[0.0f64, -1e9]).view([1, 2]), &Tensor::from_slice(&[1i64])).unwrap();
        assert_eq!(sure.bins.len(), 16);
        assert_eq!(sure.bins[15].count, 1);
        assert!((sure.ece - 1.0).abs() < 1e-12);
        assert_eq!(c.bins.iter().map(|b| b.count).sum::<i64>(), 4);
    }

    #[test]
    fn labels_round_trip() {
        let y = Tensor::from_slice(&[0i64, 3, 9, 2]);
        assert_eq!(labels_from_b64(&labels_b64(&y, 10).unwrap(), 10).unwrap(), vec![0, 3, 9, 2]);
        let y = Tensor::from_slice(&[0i64, 300, 999]);
        assert_eq!(labels_from_b64(&labels_b64(&y, 1000).unwrap(), 1000).unwrap(), vec![0, 300, 999]);
    }
}
