//! Saved states as named tensors — a fitted representation's state, a training
//! checkpoint, an EMA teacher — with one lookup whose errors name what is missing.
use crate::error::{Error, Result};
use tch::Tensor;

/// Tensors by name, in the order they were saved.
#[derive(Debug, Default)]
pub struct NamedTensors(pub Vec<(String, Tensor)>);

impl NamedTensors {
    /// The tensor saved under `name` (a shallow clone sharing its storage).
    pub fn get(&self, name: &str) -> Option<Tensor> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, t)| t.shallow_clone())
    }

    /// The tensor saved under `name`, or an error naming it and `what` lacks it.
    pub fn require(&self, name: &str, what: &str) -> Result<Tensor> {
        self.get(name).ok_or_else(|| Error::stage(format!("{what} lacks tensor `{name}`")))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<Vec<(String, Tensor)>> for NamedTensors {
    fn from(v: Vec<(String, Tensor)>) -> Self {
        NamedTensors(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_by_name_and_error_names_the_missing_tensor() {
        let s = NamedTensors::from(vec![("a".to_string(), Tensor::from_slice(&[1i64, 2]))]);
        assert_eq!(s.get("a").map(|t| t.int64_value(&[1])), Some(2));
        assert!(s.get("b").is_none());
        let e = s.require("b", "fitted pca state").unwrap_err().to_string();
        assert!(e.contains("fitted pca state lacks tensor `b`"), "{e}");
    }
}
