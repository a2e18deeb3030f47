//! Range checks on a parsed suite. Each problem names its field path
//! (`representations.pca.components`) and, where it can be found, its line.
use super::Suite;
use crate::checks::{Checker, Validate};
use crate::error::Result;
use std::path::Path;

fn check_dataset(path: &str, d: &crate::spec::DatasetSpec, c: &mut Checker) {
    if d.name.is_none() && d.path.is_none() {
        c.push(path, "needs `name` (fashion-mnist) or `path` with `format`");
    }
    if d.path.is_some() && d.format.is_none() {
        c.push(
            &format!("{path}.format"),
            "is required with `path` (idx, cifar10, cifar100, cifar100-coarse, folder, csv, parquet or webdataset)",
        );
    }
    check_photo_options(path, d, c);
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
    check_label_map(path, d, c);
    check_groups(path, d, c);
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

/// `groups`: `label` or a manifest's extra columns (which columns the CSV has
/// is checked against its header before the run, `app::check_groups`), each once.
fn check_groups(path: &str, d: &crate::spec::DatasetSpec, c: &mut Checker) {
    for (i, g) in d.groups.iter().enumerate() {
        let p = format!("{path}.groups[{i}]");
        if g.trim().is_empty() {
            c.push(&p, "is empty");
        } else if d.groups[..i].contains(g) {
            c.push(&p, format!("`{g}` is listed twice"));
        } else if g != crate::data::groups::LABEL && d.format != Some(crate::data::named::Format::Csv) {
            c.push(&p, format!("`{g}`: only a CSV manifest has extra columns to group by (`label` groups by class)"));
        }
    }
}

/// A coarser task's groups: named, non-empty, each class once, not with
/// `classes`, at least two groups. Whether every class of the data is listed
/// is checked when the data is read (`Dataset::with_label_map`).
fn check_label_map(path: &str, d: &crate::spec::DatasetSpec, c: &mut Checker) {
    if d.label_map.is_empty() {
        return;
    }
    if !d.classes.is_empty() {
        c.push(&format!("{path}.label_map"), "cannot be combined with `classes` (map the classes you keep instead)");
    }
    if d.label_map.len() < 2 {
        c.push(&format!("{path}.label_map"), "needs at least 2 groups");
    }
    let mut seen: Vec<(usize, &str)> = Vec::new();
    for (group, members) in &d.label_map {
        let p = format!("{path}.label_map.{group}");
        if group.trim().is_empty() {
            c.push(&p, "a group needs a name");
        }
        if members.is_empty() {
            c.push(&p, "lists no class");
        }
        for m in members {
            match seen.iter().find(|(x, _)| x == m) {
                Some((_, other)) => c.push(&p, format!("class {m} is already in group `{other}`")),
                None => seen.push((*m, group)),
            }
        }
    }
    for (i, h) in d.holdout_classes.iter().enumerate() {
        if *h >= d.label_map.len() {
            c.push(
                &format!("{path}.holdout_classes[{i}]"),
                format!("{h} is not a label after `label_map` (0..{})", d.label_map.len()),
            );
        }
    }
}

/// The photo settings apply to photo formats only, each to its own.
fn check_photo_options(path: &str, d: &crate::spec::DatasetSpec, c: &mut Checker) {
    use crate::data::named::Format;
    let photo = d.format.is_some_and(Format::uses_store);
    if let Some(img) = &d.image {
        if photo {
            img.validate(&format!("{path}.image"), c);
        } else {
            c.push(&format!("{path}.image"), "applies to photo formats (folder, csv, parquet, webdataset); IDX and CIFAR images are used at their size");
        }
    }
    if !photo && d.on_bad_image != Default::default() {
        c.push(&format!("{path}.on_bad_image"), "applies to photo formats (folder, csv, parquet, webdataset)");
    }
    if d.columns != Default::default() && !matches!(d.format, Some(Format::Csv | Format::Parquet)) {
        c.push(&format!("{path}.columns"), "applies to the csv and parquet formats");
    }
    if let Some(shards) = &d.shards {
        if d.format != Some(Format::Webdataset) {
            c.push(&format!("{path}.shards"), "applies to the webdataset format");
        }
        for k in shards.keys().filter(|k| !["train", "val", "test"].contains(&k.as_str())) {
            c.push(&format!("{path}.shards.{k}"), "is not a part: train, val or test");
        }
    }
    if let Some(f) = d.test_fraction {
        if d.format != Some(Format::Csv) {
            c.push(&format!("{path}.test_fraction"), "applies to a CSV manifest without a `split` column");
        } else if !(f > 0.0 && f < 1.0) {
            c.push(&format!("{path}.test_fraction"), format!("must be in (0, 1) (got {f})"));
        }
    }
}

/// A baseline must name a representation; a margin must be a positive number.
fn check_comparison(prefix: &str, baseline: Option<&str>, margin: Option<f64>, s: &Suite, c: &mut Checker) {
    if let Some(b) = baseline {
        if !s.representations.contains_key(b) {
            let names = s.representations.keys().cloned().collect::<Vec<_>>().join(", ");
            c.push(&format!("{prefix}baseline"), format!("`{b}` names no representation (representations: {names})"));
        }
    }
    if let Some(m) = margin {
        if !(m.is_finite() && m > 0.0) {
            c.push(&format!("{prefix}margin"), format!("must be a positive number in the headline's units, got {m}"));
        }
    }
}

/// Checks the whole suite; all problems are reported together.
pub fn check(file: &Path, text: &str, s: &Suite) -> Result<()> {
    let mut c = Checker { base_dir: Some(file.parent().unwrap_or(Path::new(".")).to_path_buf()), ..Default::default() };
    c.name("suite", &s.suite);
    let d = &s.dataset;
    if s.datasets.is_empty() {
        check_dataset("dataset", d, &mut c);
    } else {
        if *d != crate::spec::DatasetSpec::default() {
            c.push("dataset", "give either `dataset:` (one task) or `datasets:` (many), not both");
        }
        if s.matrix.keys().any(|k| k == "dataset" || k.starts_with("dataset.")) {
            c.push(
                "matrix",
                "with `datasets:`, vary each dataset in its own entry, not through `matrix: {dataset...}`",
            );
        }
        for (name, ds) in &s.datasets {
            let p = format!("datasets.{name}");
            c.name(&p, name);
            check_dataset(&p, ds, &mut c);
        }
    }
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
        // With `datasets:`, each expanded point checks against its own dataset.
        if let (crate::eval::EvaluationSpec::Anomaly(a), true) = (e, s.datasets.is_empty()) {
            match a.class {
                Some(class) if !d.holdout_classes.contains(&class) => c.push(
                    &format!("{p}.class"),
                    format!("class {class} must be held out of fitting: add it to dataset.holdout_classes"),
                ),
                None if d.holdout_classes.is_empty() && !s.matrix.contains_key("dataset.holdout_classes") => c.push(
                    &p,
                    "anomaly detection needs classes held out of fitting: list them in dataset.holdout_classes",
                ),
                _ => {}
            }
        }
    }
    for (k, v) in &s.matrix {
        c.non_empty(&format!("matrix.{k}"), v);
    }
    check_comparison("", s.baseline.as_deref(), s.margin, s, &mut c);
    for (name, o) in &s.comparisons {
        let p = format!("comparisons.{name}.");
        if !s.evaluations.contains_key(name) {
            c.push(
                &format!("comparisons.{name}"),
                format!(
                    "names no evaluation (evaluations: {})",
                    s.evaluations.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            );
        }
        check_comparison(&p, o.baseline.as_deref(), o.margin, s, &mut c);
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
