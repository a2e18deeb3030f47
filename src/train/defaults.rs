//! A method's own training defaults under the suite's `train:`.
//!
//! `TrainParams::default()` is the generic recipe. A method whose paper trains
//! differently (DINO: AdamW at 5e-4 per 256 images, weight decay 0.04 → 0.4,
//! per-parameter clipping at 3) declares its own defaults, and a suite's partial
//! `train:` is laid over them key by key (nested maps such as `optimizer:` too),
//! so `train: {epochs: 30}` keeps the paper's optimiser rather than falling back
//! to the generic one field by field.
use super::trainer::TrainParams;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer};
use serde_yaml::Value;

/// Deserializes a `train:` given in a suite over `base`.
pub fn train_over<'de, D: Deserializer<'de>>(d: D, base: &TrainParams) -> Result<TrainParams, D::Error> {
    let given = Value::deserialize(d)?;
    let mut v = serde_yaml::to_value(base).map_err(D::Error::custom)?;
    overlay(&mut v, given);
    TrainParams::deserialize(v).map_err(D::Error::custom)
}

/// Lays `over` onto `base`: maps merge key by key, anything else replaces.
fn overlay(base: &mut Value, over: Value) {
    match (base, over) {
        (Value::Mapping(b), Value::Mapping(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(slot) => overlay(slot, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, o) => *b = o,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::optim::OptimizerKind;

    #[derive(Deserialize)]
    struct Holder {
        #[serde(deserialize_with = "own")]
        train: TrainParams,
    }

    fn own<'de, D: Deserializer<'de>>(d: D) -> Result<TrainParams, D::Error> {
        let mut base = TrainParams { weight_decay_end: Some(0.4), ..Default::default() };
        base.optimizer.kind = OptimizerKind::Sgd;
        base.optimizer.weight_decay = 0.04;
        train_over(d, &base)
    }

    #[test]
    fn partial_train_keeps_the_other_defaults_nested_too() {
        let h: Holder = serde_yaml::from_str("train: {epochs: 3, optimizer: {lr: 0.5}}").unwrap();
        assert_eq!(h.train.epochs, 3);
        assert_eq!(h.train.optimizer.lr, 0.5);
        assert_eq!(h.train.optimizer.kind, OptimizerKind::Sgd);
        assert_eq!(h.train.optimizer.weight_decay, 0.04);
        assert_eq!(h.train.weight_decay_end, Some(0.4));
        let h: Holder = serde_yaml::from_str("train: {weight_decay_end: null}").unwrap();
        assert_eq!(h.train.weight_decay_end, None);
    }

    #[test]
    fn unknown_keys_are_still_refused() {
        let e = serde_yaml::from_str::<Holder>("train: {epoch: 3}").err().unwrap().to_string();
        assert!(e.contains("unknown field `epoch`"), "{e}");
    }
}
