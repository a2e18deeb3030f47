//! `matrix:` expansion. Each key is a dotted path into the suite
//! (`seed`, `dataset.train_size`, `representations.pca.components`) with a list of
//! values; the cells are the cartesian product, in the order the keys are written.
//! A suite's `datasets:` is one more axis, the first: `dataset` set to each
//! entry, named `dataset=<name>` in the params.
use super::Suite;
use crate::error::Result;
use serde_yaml::Value;
use std::path::Path;

/// One point of the matrix: the overrides applied and the resulting suite.
#[derive(Debug, Clone)]
pub struct MatrixPoint {
    pub overrides: Vec<(String, Value)>,
    pub suite: Suite,
    /// The `datasets:` entry this point evaluates on, by name.
    pub task: Option<String>,
}

impl MatrixPoint {
    /// The overrides other than `seed`, as `path=value` joined by `,` (the
    /// `params` column of the results); empty when only the seed varies.
    pub fn params(&self) -> String {
        self.overrides
            .iter()
            .filter(|(k, _)| k != "seed")
            .map(|(k, v)| match (&self.task, k.as_str()) {
                (Some(t), "dataset") => format!("dataset={t}"),
                _ => format!("{k}={}", value_text(v)),
            })
            .collect::<Vec<_>>()
            .join(",")
    }
}

pub fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => serde_yaml::to_string(other).unwrap_or_default().trim().replace('\n', " "),
    }
}

fn set_path(root: &mut Value, path: &str, value: Value) -> std::result::Result<(), String> {
    let mut cur = root;
    let segs: Vec<&str> = path.split('.').collect();
    for (i, seg) in segs.iter().enumerate() {
        let map = cur.as_mapping_mut().ok_or_else(|| format!("`{}` is not a mapping", segs[..i].join(".")))?;
        let key = Value::String(seg.to_string());
        if !map.contains_key(&key) {
            let valid: Vec<String> = map.keys().filter_map(|k| k.as_str().map(str::to_string)).collect();
            let hint =
                crate::checks::nearest(seg, &valid).map(|b| format!(", did you mean `{b}`?")).unwrap_or_default();
            return Err(format!(
                "no field `{seg}` at `{}`{hint}",
                if i == 0 { "<top>".to_string() } else { segs[..i].join(".") }
            ));
        }
        if i + 1 == segs.len() {
            map.insert(key, value);
            return Ok(());
        }
        cur = map.get_mut(&key).ok_or_else(|| format!("no field `{seg}`"))?;
    }
    Ok(())
}

/// The most matrix points a suite may expand to: far beyond any real study, and
/// small enough that a hostile matrix cannot exhaust memory.
pub const MAX_POINTS: usize = 10_000;

/// Expands `base.matrix` into its cells. A suite without a matrix is one cell.
pub fn expand(file: &Path, text: &str, base: &Suite) -> Result<Vec<MatrixPoint>> {
    let mut template = base.clone();
    let tasks = std::mem::take(&mut template.datasets);
    let mut axes: Vec<(String, Vec<Value>)> = Vec::new();
    if !tasks.is_empty() {
        let specs = tasks.values().map(serde_yaml::to_value).collect::<std::result::Result<Vec<_>, _>>();
        axes.push(("dataset".into(), specs.map_err(|e| super::load::spec_err(file, None, e.to_string()))?));
    }
    axes.extend(std::mem::take(&mut template.matrix));
    let total = axes.iter().try_fold(1usize, |acc, (_, v)| acc.checked_mul(v.len()));
    if total.is_none_or(|n| n > MAX_POINTS) {
        let sizes: Vec<String> = axes.iter().map(|(k, v)| format!("{k}: {}", v.len())).collect();
        return Err(super::load::spec_err(
            file,
            super::load::find_path(text, "matrix"),
            format!("matrix expands to more than {MAX_POINTS} cells ({}); split the suite", sizes.join(" × ")),
        ));
    }
    let tvalue = serde_yaml::to_value(&template).map_err(|e| super::load::spec_err(file, None, e.to_string()))?;
    let mut points: Vec<Vec<(String, Value)>> = vec![Vec::new()];
    for (key, values) in &axes {
        let mut next = Vec::with_capacity(points.len() * values.len());
        for p in &points {
            for v in values {
                let mut q = p.clone();
                q.push((key.clone(), v.clone()));
                next.push(q);
            }
        }
        points = next;
    }
    let points_len = points.len();
    let mut out = Vec::with_capacity(points_len);
    for overrides in points {
        let mut v = tvalue.clone();
        for (k, val) in &overrides {
            let loc = super::load::find_path(text, &format!("matrix.{k}"));
            set_path(&mut v, k, val.clone())
                .map_err(|m| super::load::spec_err(file, loc, format!("matrix.{k}: {m}")))?;
        }
        let suite: Suite = serde_yaml::from_value(v).map_err(|e| {
            let key = overrides.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>().join(", ");
            super::load::spec_err(file, super::load::find_path(text, "matrix"), format!("matrix ({key}): {e}"))
        })?;
        super::validate::check(file, text, &suite)?;
        let task = (!tasks.is_empty())
            .then(|| tasks.get_index(out.len() / (points_len / tasks.len())))
            .flatten()
            .map(|(name, _)| name.clone());
        out.push(MatrixPoint { overrides, suite, task });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: &str = "suite: t\ndataset: {name: fashion-mnist}\nrepresentations:\n  pca: {kind: pca, components: 8}\n  raw: {kind: raw}\nevaluations:\n  knn: {kind: knn}\nmatrix:\n  seed: [0, 1, 2]\n  representations.pca.components: [4, 16]\n";

    #[test]
    fn expands_cartesian_product_in_order() {
        let file = Path::new("t.yaml");
        let base = super::super::load::parse_str(file, SPEC).unwrap();
        let cells = expand(file, SPEC, &base).unwrap();
        assert_eq!(cells.len(), 6);
        let seeds: Vec<u64> = cells.iter().map(|c| c.suite.seed).collect();
        assert_eq!(seeds, vec![0, 0, 1, 1, 2, 2]);
        assert_eq!(cells[1].params(), "representations.pca.components=16");
        match &cells[1].suite.representations["pca"] {
            crate::represent::RepresentationSpec::Pca(p) => assert_eq!(p.components, 16),
            other => panic!("unexpected {other:?}"),
        }
        assert!(cells.iter().all(|c| c.suite.matrix.is_empty()));
    }

    #[test]
    fn unknown_matrix_path_is_an_error_with_suggestion() {
        let text = SPEC.replace("representations.pca.components", "representations.pca.component");
        let file = Path::new("t.yaml");
        let base = super::super::load::parse_str(file, &text).unwrap();
        let err = expand(file, &text, &base).unwrap_err().to_string();
        assert!(err.contains("did you mean `components`"), "{err}");
    }
}
