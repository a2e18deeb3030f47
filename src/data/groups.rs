//! Groups of test images for worst-group accuracy (`dataset.groups`): a group
//! is one combination of the listed keys — `label` (the class) and extra
//! columns of a CSV manifest (a hospital, a scanner). `[site]` asks how the
//! worst site fares; `[label, site]` gives Sagawa et al.'s class × attribute
//! groups (Waterbirds' bird × background).
//!
//! The groups of a matrix point's test split are computed once from the
//! stored metadata and its split, recorded in the run's manifest, and read by
//! the report with each evaluation's per-image correctness (`test_correct`):
//! a change of `groups` re-reports, it never re-fits or re-evaluates.
use super::Dataset;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The key that groups by class.
pub const LABEL: &str = "label";

/// Every test image's group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestGroups {
    /// What defines a group, as `dataset.groups` lists it.
    pub by: Vec<String>,
    /// Each group's name (`Coat, site=A`), classes in label order, values sorted.
    pub names: Vec<String>,
    /// Test images per group.
    pub counts: Vec<usize>,
    /// Each test image's group (an index into `names`), base64 of `u16` LE, in
    /// the test split's order — the order of every evaluation's `test_correct`.
    pub codes: String,
}

/// One part of a group's sort key: a class by its label, a value by its text.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Part {
    Class(i64),
    Value(String),
}

impl TestGroups {
    /// The groups of the test images `test` (indices into `ds.test`).
    pub fn of(ds: &Dataset, test: &[usize], by: &[String]) -> Result<TestGroups> {
        let cols: Vec<Option<usize>> = by.iter().map(|k| column_of(ds, k)).collect::<Result<_>>()?;
        let meta = ds.metadata.as_deref();
        let mut key_of: BTreeMap<Vec<Part>, Vec<usize>> = BTreeMap::new();
        for (i, &t) in test.iter().enumerate() {
            let row = ds.test.official_index(t);
            let key: Vec<Part> = cols
                .iter()
                .map(|c| match (c, meta) {
                    (None, _) => Ok(Part::Class(ds.test.labels[t])),
                    (Some(c), Some(m)) => m
                        .test_value(row, *c)
                        .map(|v| Part::Value(v.to_string()))
                        .ok_or_else(|| Error::data(&ds.name, format!("test row {row} has no stored metadata"))),
                    (Some(_), None) => Err(Error::data(&ds.name, "the data has no stored metadata")),
                })
                .collect::<Result<_>>()?;
            key_of.entry(key).or_default().push(i);
        }
        if key_of.len() > u16::MAX as usize {
            return Err(Error::data(
                &ds.name,
                format!("dataset.groups {by:?} makes {} groups (at most 65,535)", key_of.len()),
            ));
        }
        let mut codes = vec![0u16; test.len()];
        let (mut names, mut counts) = (Vec::new(), Vec::new());
        for (g, (key, members)) in key_of.iter().enumerate() {
            let parts: Vec<String> = key
                .iter()
                .zip(by)
                .map(|(p, k)| match p {
                    Part::Class(l) => ds.class_name(*l as usize),
                    Part::Value(v) => format!("{k}={v}"),
                })
                .collect();
            names.push(parts.join(", "));
            counts.push(members.len());
            for &i in members {
                codes[i] = g as u16;
            }
        }
        use base64::Engine;
        let bytes: Vec<u8> = codes.iter().flat_map(|c| c.to_le_bytes()).collect();
        Ok(TestGroups {
            by: by.to_vec(),
            names,
            counts,
            codes: base64::engine::general_purpose::STANDARD.encode(bytes),
        })
    }

    /// Each test image's group, or `None` when the stored codes are not readable.
    pub fn codes(&self) -> Option<Vec<usize>> {
        use base64::Engine;
        let bytes = base64::engine::general_purpose::STANDARD.decode(&self.codes).ok()?;
        if bytes.len() % 2 != 0 {
            return None;
        }
        let codes: Vec<usize> = bytes.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]]) as usize).collect();
        codes.iter().all(|&c| c < self.names.len()).then_some(codes)
    }
}

/// `None` for `label`, else the index of the extra column `key`.
fn column_of(ds: &Dataset, key: &str) -> Result<Option<usize>> {
    if key == LABEL {
        return Ok(None);
    }
    let columns = ds.metadata.as_ref().map(|m| m.columns.clone()).unwrap_or_default();
    match columns.iter().position(|c| c == key) {
        Some(i) => Ok(Some(i)),
        None if columns.is_empty() => Err(Error::data(
            &ds.name,
            format!("dataset.groups: `{key}` is not a column: this data has no extra columns (a CSV manifest's columns besides path, label and split are), only `label`"),
        )),
        None => Err(Error::data(
            &ds.name,
            format!("dataset.groups: `{key}` is not an extra column of the manifest; it has: {} (or `label`)", columns.join(", ")),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::metadata::Metadata;
    use crate::data::{ImageSet, Pixels};
    use std::sync::Arc;

    fn set(labels: &[i64]) -> ImageSet {
        ImageSet {
            images: Pixels::Owned(vec![0; labels.len()]),
            labels: labels.to_vec(),
            channels: 1,
            height: 1,
            width: 1,
            subset_of: None,
        }
    }

    fn data() -> Dataset {
        // Test rows: labels 0 1 2 0 1 2, sites A B A B B A (codes into [A, B]).
        let metadata = Metadata {
            columns: vec!["site".into()],
            values: vec![vec!["B".into(), "A".into()]],
            train: vec![0, 1, 0],
            test: vec![1, 0, 1, 0, 0, 1],
        };
        Dataset {
            name: "d".into(),
            train: set(&[0, 1, 2]),
            test: set(&[0, 1, 2, 0, 1, 2]),
            num_classes: 3,
            class_names: vec!["cat".into(), "dog".into(), "cow".into()],
            files: vec![],
            official_val: None,
            metadata: Some(Arc::new(metadata)),
        }
    }

    #[test]
    fn groups_follow_the_split_and_class_subsets() {
        let ds = data();
        let g = TestGroups::of(&ds, &[0, 1, 2, 3, 4, 5], &["site".into()]).unwrap();
        assert_eq!(g.names, ["site=A", "site=B"]);
        assert_eq!(g.counts, [3, 3]);
        assert_eq!(g.codes().unwrap(), [0, 1, 0, 1, 1, 0]);
        // Class × site, on a test subset: classes in label order, then values.
        let g = TestGroups::of(&ds, &[1, 3, 4, 5], &["label".into(), "site".into()]).unwrap();
        assert_eq!(g.names, ["cat, site=B", "dog, site=B", "cow, site=A"]);
        assert_eq!(g.codes().unwrap(), [1, 0, 1, 2]);
        // After a class subset [2, 1] the rows are the official rows 1 2 4 5.
        let sub = ds.with_classes(&[2, 1]).unwrap();
        let g = TestGroups::of(&sub, &[0, 1, 2, 3], &["site".into()]).unwrap();
        assert_eq!(g.codes().unwrap(), [1, 0, 1, 0]);
        let g = TestGroups::of(&sub, &[0, 1, 2, 3], &["label".into()]).unwrap();
        assert_eq!(g.names, ["cow", "dog"]);
    }

    #[test]
    fn unknown_columns_are_named_with_the_ones_there_are() {
        let e = TestGroups::of(&data(), &[0], &["hospital".into()]).unwrap_err().to_string();
        assert!(e.contains("`hospital`") && e.contains("it has: site"), "{e}");
        let mut plain = data();
        plain.metadata = None;
        let e = TestGroups::of(&plain, &[0], &["site".into()]).unwrap_err().to_string();
        assert!(e.contains("no extra columns"), "{e}");
    }
}
