//! Field checks, the leaf every settings type uses: a `Checker` collects
//! errors by field path (`representations.pca.components`) and each parameter
//! type checks its own values through `Validate` (linfa's hyper-parameter
//! checks). A leaf module so that `spec/` (which checks whole suites) can
//! depend on `eval/`, `represent/`, `methods/` and `train/`, and not the reverse.
use std::path::Path;

/// One out-of-range value.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    pub path: String,
    pub msg: String,
}

/// Collects field errors; the parameter types push into it.
#[derive(Debug, Default)]
pub struct Checker {
    pub errors: Vec<FieldError>,
    /// The suite's folder, which relative file paths are resolved against;
    /// None where no file is read (unit tests), and then files are not checked.
    pub base_dir: Option<std::path::PathBuf>,
}

impl Checker {
    /// `file` resolved against the suite's folder, if it exists; otherwise an
    /// error at `path`. None too when there is no folder to resolve against.
    pub fn resolve(&mut self, path: &str, file: &Path) -> Option<std::path::PathBuf> {
        let abs = self.base_dir.as_ref()?.join(file);
        if abs.is_file() {
            return Some(abs);
        }
        self.push(path, format!("file {} does not exist (paths are relative to the suite's folder)", abs.display()));
        None
    }
    pub fn push(&mut self, path: &str, msg: impl Into<String>) {
        self.errors.push(FieldError { path: path.to_string(), msg: msg.into() });
    }
    /// `value` must be ≥ 1.
    pub fn positive(&mut self, path: &str, value: usize) {
        if value == 0 {
            self.push(path, "must be at least 1");
        }
    }
    pub fn positive_f(&mut self, path: &str, value: f64) {
        if !(value.is_finite() && value > 0.0) {
            self.push(path, format!("must be a positive number (got {value})"));
        }
    }
    pub fn non_negative_f(&mut self, path: &str, value: f64) {
        if !(value.is_finite() && value >= 0.0) {
            self.push(path, format!("must be ≥ 0 (got {value})"));
        }
    }
    /// A fraction in (0, 1], e.g. a label fraction.
    pub fn fraction(&mut self, path: &str, value: f64) {
        if !(value > 0.0 && value <= 1.0) {
            self.push(path, format!("must be in (0, 1] (got {value})"));
        }
    }
    pub fn non_empty<T>(&mut self, path: &str, list: &[T]) {
        if list.is_empty() {
            self.push(path, "must not be empty");
        }
    }
    /// A non-empty list of widths, each at least 1 (`path[i]` names a bad one).
    pub fn widths(&mut self, path: &str, list: &[usize]) {
        self.non_empty(path, list);
        for (i, &w) in list.iter().enumerate() {
            self.positive(&format!("{path}[{i}]"), w);
        }
    }
    /// Names become file names: letters, digits, `-`, `_`, `.`, not starting with `.`.
    pub fn name(&mut self, path: &str, name: &str) {
        let ok = !name.is_empty()
            && !name.starts_with('.')
            && name.len() <= 100
            && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !ok {
            self.push(
                path,
                format!("`{name}` is not a valid name (letters, digits, `-`, `_`, `.`; not starting with `.`)"),
            );
        }
    }
}

/// Something in a suite that can check its own values.
pub trait Validate {
    fn validate(&self, path: &str, c: &mut Checker);
}

/// The valid key closest to `bad`, if it is close enough to be a typo.
pub fn nearest(bad: &str, valid: &[String]) -> Option<String> {
    valid
        .iter()
        .map(|v| (strsim::jaro_winkler(bad, v), v))
        .filter(|(s, _)| *s >= 0.8)
        .max_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(std::cmp::Ordering::Equal))
        .map(|(_, v)| v.clone())
}
