//! The k-NN monitor: how good a representation is *while* it trains, the curve
//! DINO's and solo-learn's logs show beside the loss.
//!
//! Every `every` epochs (and after the last) the learner embeds the training
//! split (the neighbour bank, with its labels) and the validation split (the
//! queries) in eval mode, and the weighted k-NN of `eval::knn` (DINO's
//! `eval_knn.py` vote) classifies the queries. The accuracy goes into the epoch's
//! diagnostics as `val_knn_top1`, so it is plotted with the training curves.
//!
//! Why the validation split: the test split must not steer anything, and the
//! training images themselves would flatter a supervised encoder (it has fitted
//! their labels); the validation split is disjoint from both, and fixed by the
//! data key that the fit key already includes. Labels are read only here: a
//! self-supervised method still trains without them. The monitor embeds under
//! `no_grad` and draws no random numbers, so the trained weights are the same
//! with or without it (a test checks this bit for bit).
use crate::checks::{Checker, Validate};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MonitorParams {
    /// Epochs between two measurements; the last epoch is always measured.
    pub every: usize,
    /// Neighbours that vote.
    pub k: usize,
    /// Temperature of the vote weights (DINO: 0.07).
    pub temperature: f64,
}

impl Default for MonitorParams {
    fn default() -> Self {
        MonitorParams { every: 1, k: 20, temperature: 0.07 }
    }
}

impl MonitorParams {
    /// Whether the epoch numbered `epoch` (from 1) of `epochs` is measured.
    pub fn measures(&self, epoch: usize, epochs: usize) -> bool {
        epoch == epochs || epoch.is_multiple_of(self.every)
    }
}

impl Validate for MonitorParams {
    fn validate(&self, path: &str, c: &mut Checker) {
        c.positive(&format!("{path}.every"), self.every);
        c.positive(&format!("{path}.k"), self.k);
        c.positive_f(&format!("{path}.temperature"), self.temperature);
    }
}

/// The key of the monitor's accuracy in an epoch's diagnostics.
pub const KEY: &str = "val_knn_top1";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_nth_epoch_and_the_last() {
        let m = MonitorParams { every: 4, ..Default::default() };
        let measured: Vec<usize> = (1..=10).filter(|&e| m.measures(e, 10)).collect();
        assert_eq!(measured, vec![4, 8, 10]);
        let every = MonitorParams::default();
        assert!((1..=3).all(|e| every.measures(e, 3)));
    }

    #[test]
    fn zero_every_and_k_are_refused() {
        let mut c = Checker::default();
        MonitorParams { every: 0, k: 0, temperature: 0.0 }.validate("r.train.monitor", &mut c);
        let paths: Vec<&str> = c.errors.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["r.train.monitor.every", "r.train.monitor.k", "r.train.monitor.temperature"]);
    }
}
