//! The optimiser's hyper-parameters and their checks (the suite's
//! `train.optimizer` block): which update rule, its learning rate, decay,
//! momentum or Adam betas.
use crate::checks::{Checker, Validate};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    Sgd,
    Adam,
    Adamw,
    Lars,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OptimizerParams {
    pub kind: OptimizerKind,
    /// Peak learning rate (after warm-up).
    pub lr: f64,
    pub weight_decay: f64,
    /// SGD / LARS momentum.
    pub momentum: f64,
    pub nesterov: bool,
    /// Adam / AdamW.
    pub betas: [f64; 2],
    pub eps: f64,
    /// LARS trust coefficient η.
    pub trust_coefficient: f64,
}

impl Default for OptimizerParams {
    fn default() -> Self {
        OptimizerParams {
            kind: OptimizerKind::Adamw,
            lr: 1e-3,
            weight_decay: 1e-4,
            momentum: 0.9,
            nesterov: false,
            betas: [0.9, 0.999],
            eps: 1e-8,
            trust_coefficient: 0.001,
        }
    }
}

impl Validate for OptimizerParams {
    fn validate(&self, path: &str, c: &mut Checker) {
        c.positive_f(&format!("{path}.lr"), self.lr);
        c.non_negative_f(&format!("{path}.weight_decay"), self.weight_decay);
        if !(0.0..1.0).contains(&self.momentum) {
            c.push(&format!("{path}.momentum"), format!("must be in [0, 1) (got {})", self.momentum));
        }
        if !self.betas.iter().all(|b| (0.0..1.0).contains(b)) {
            c.push(&format!("{path}.betas"), "must be in [0, 1)");
        }
        c.positive_f(&format!("{path}.eps"), self.eps);
    }
}
