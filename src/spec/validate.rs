//! Range checks on a parsed suite. Each problem names its field path
//! (`representations.pca.components`) and, where it can be found, its line.
use super::Suite;
use crate::error::Result;
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

fn check_dataset(path: &str, d: &crate::spec::DatasetSpec, c: &mut Checker) {
    if d.name.is_none() && d.path.is_none() {
        c.push(path, "needs `name` (fashion-mnist) or `path` with `format`");
    }
    if d.path.is_some() && d.format.is_none() {
        c.push(&format!("{path}.format"), "is required with `path` (idx, cifar10, cifar100 or folder)");
    }
    if let Some(n) = d.train_size {
        c.positive(&format!("{path}.train_size"), n);
    }
    if let Some(n) = d.test_size {
        c.positive(&format!("{path}.test_size"), n);
    }
    if !(d.val_fraction > 0.0 && d.val_fraction < 1.0) {
        c.push(&format!("{path}.val_fraction"), format!("must be in (0, 1) (got {})", d.val_fraction));
    }
    for (i, cl) in d.classes.iter().enumerate() {
        if d.classes[..i].contains(cl) {
            c.push(&format!("{path}.classes[{i}]"), format!("class {cl} is listed twice"));
        }
    }
    if let Some(names) = &d.class_names {
        for (i, n) in names.iter().enumerate() {
            if n.trim().is_empty() {
                c.push(&format!("{path}.class_names[{i}]"), "is empty");
            } else if names[..i].contains(n) {
                c.push(&format!("{path}.class_names[{i}]"), format!("`{n}` is listed twice"));
            }
        }
        if d.name.as_deref() == Some("fashion-mnist") && d.path.is_none() && names.len() != 10 {
            c.push(
                &format!("{path}.class_names"),
                format!("Fashion-MNIST has 10 classes; {} names given", names.len()),
            );
        }
    }
    if !d.classes.is_empty() && d.classes.len() < 2 {
        c.push(&format!("{path}.classes"), "needs at least 2 classes");
    }
    if !d.classes.is_empty() {
        for (i, h) in d.holdout_classes.iter().enumerate() {
            if *h >= d.classes.len() {
                c.push(
                    &format!("{path}.holdout_classes[{i}]"),
                    format!("{h} is not a label after `classes` (0..{})", d.classes.len()),
                );
            }
        }
    }
}

/// Checks the whole suite; all problems are reported together.
pub fn check(file: &Path, text: &str, s: &Suite) -> Result<()> {
    let mut c = Checker { base_dir: Some(file.parent().unwrap_or(Path::new(".")).to_path_buf()), ..Default::default() };
    c.name("suite", &s.suite);
    let d = &s.dataset;
    check_dataset("dataset", d, &mut c);
    if let Some(p) = &s.pretrain {
        check_dataset("pretrain", p, &mut c);
    }
    if let Some(t) = s.threads {
        c.positive("threads", t);
    }
    if s.representations.is_empty() {
        c.push("representations", "must not be empty");
    }
    for (name, r) in &s.representations {
        let p = format!("representations.{name}");
        c.name(&p, name);
        r.validate(&p, &mut c);
    }
    if s.evaluations.is_empty() {
        c.push("evaluations", "must not be empty");
    }
    for (name, e) in &s.evaluations {
        let p = format!("evaluations.{name}");
        c.name(&p, name);
        e.validate(&p, &mut c);
        if let crate::eval::EvaluationSpec::Anomaly(a) = e {
            if !d.holdout_classes.contains(&a.class) {
                c.push(
                    &format!("{p}.class"),
                    format!("class {} must be held out of fitting: add it to dataset.holdout_classes", a.class),
                );
            }
        }
    }
    for (k, v) in &s.matrix {
        c.non_empty(&format!("matrix.{k}"), v);
    }
    if c.errors.is_empty() {
        return Ok(());
    }
    let first = super::load::find_path(text, &c.errors[0].path);
    let msg = c
        .errors
        .iter()
        .map(|e| match super::load::find_path(text, &e.path) {
            Some((l, _)) if c.errors.len() > 1 => format!("{}: {} (line {l})", e.path, e.msg),
            _ => format!("{}: {}", e.path, e.msg),
        })
        .collect::<Vec<_>>()
        .join("\n  ");
    Err(super::load::spec_err(file, first, msg))
}
