//! Stage keys: sha256 over canonical JSON.
//!
//! Canonical means object keys sorted at every level and numbers printed by
//! serde_json (shortest round-trip form), so `1e-4` and `0.0001` in a suite give
//! the same key, and the order keys are written in does not matter.
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Bumped whenever the layout or meaning of a stored artifact changes, so old
/// entries are never read as new ones.
pub const CACHE_FORMAT: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Key(pub String);

impl Key {
    pub fn short(&self) -> &str {
        &self.0[..12.min(self.0.len())]
    }
}

impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Writes `v` as JSON with object keys sorted recursively.
pub fn canonical_json(v: &Value) -> String {
    let mut out = String::new();
    write_canonical(v, &mut out);
    out
}

fn write_canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String((*k).clone()).to_string());
                out.push(':');
                write_canonical(&m[*k], out);
            }
            out.push('}');
        }
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(x, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// The key of a stage from its name, resolved config and upstream keys.
pub fn stage_key(stage: &str, config: &Value, upstream: &[&Key]) -> Key {
    let doc = serde_json::json!({
        "format": CACHE_FORMAT,
        "stage": stage,
        "config": config,
        "upstream": upstream.iter().map(|k| k.0.clone()).collect::<Vec<_>>(),
    });
    Key(hex::encode(Sha256::digest(canonical_json(&doc).as_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn key_order_and_float_spelling_do_not_change_the_key() {
        let a: Value = serde_json::from_str(r#"{"b": 1, "a": {"y": 0.0001, "x": [1, 2]}}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"a": {"x": [1, 2], "y": 1e-4}, "b": 1}"#).unwrap();
        assert_eq!(stage_key("fit", &a, &[]), stage_key("fit", &b, &[]));
        // The same through YAML, as a suite is read.
        let y: Value = serde_yaml::from_str("a: {x: [1, 2], y: 1.0e-4}\nb: 1\n").unwrap();
        assert_eq!(stage_key("fit", &a, &[]), stage_key("fit", &y, &[]));
    }

    #[test]
    fn any_change_changes_the_key() {
        let base = json!({"k": [20], "temperature": 0.07});
        let k0 = stage_key("eval", &base, &[]);
        assert_ne!(k0, stage_key("eval", &json!({"k": [10], "temperature": 0.07}), &[]));
        assert_ne!(k0, stage_key("eval", &json!({"k": [20], "temperature": 0.08}), &[]));
        assert_ne!(k0, stage_key("fit", &base, &[]));
        let up = Key("ab".into());
        assert_ne!(k0, stage_key("eval", &base, &[&up]));
    }
}
