//! Imported embeddings: features computed elsewhere, one row per image of the
//! dataset's official train and test parts, put through the same protocol as
//! every other representation.
//!
//! Rows align with the official parts by index (row i = image i in the files'
//! order), or by `<split>_ids` arrays that give each row's image index; a `val`
//! array needs `val_ids`, which index the official train part (repbench carves
//! its validation split from it). repbench's own subsetting then selects rows
//! exactly as it selects images. Nothing is fitted: the "fit" reads and checks
//! the files, whose content (not name) keys the cache.
use super::imported::read_arrays;
use super::{FitContext, Fitted, Part, Representation};
use crate::checks::Checker;
use crate::error::{Error, Result};
use crate::state::NamedTensors;
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tch::{Device, Kind, Tensor};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmbeddingsParams {
    /// A `.npz` or `.safetensors` file with arrays `train`, `test`, optional
    /// `val` and `<split>_ids`.
    pub path: Option<PathBuf>,
    /// Or one `.npy` file per array: `train: a.npy`, `test: b.npy`, `train_ids: …`.
    pub npy: IndexMap<String, PathBuf>,
}

/// Version of the import (row alignment, precision conversion).
pub const VERSION: u32 = 1;

/// The arrays a file may hold; `<split>_labels` (written by `repbench export`
/// for Python users) are not read: labels come from the dataset.
const ARRAYS: [&str; 9] =
    ["train", "test", "val", "train_ids", "test_ids", "val_ids", "train_labels", "test_labels", "val_labels"];

impl Representation for EmbeddingsParams {
    fn version(&self) -> u32 {
        VERSION
    }
    fn fit(&self, _train: &Tensor, _ctx: &FitContext) -> Result<Box<dyn Fitted>> {
        Ok(Box::new(self.load()?))
    }
    fn restore(&self, _state: &NamedTensors, _device: Device) -> Result<Box<dyn Fitted>> {
        Ok(Box::new(self.load()?))
    }
    fn reads_pixels(&self) -> bool {
        false
    }
    fn check(&self, path: &str, c: &mut Checker) {
        match (&self.path, self.npy.is_empty()) {
            (Some(_), false) => {
                c.push(path, "give either `path` (.npz/.safetensors) or `npy` (one file per array), not both")
            }
            (None, true) => {
                c.push(path, "needs `path` (a .npz or .safetensors file) or `npy` (one .npy file per array)")
            }
            _ => {}
        }
        if let Some(p) = &self.path {
            super::imported::check_file(&format!("{path}.path"), p, c);
        }
        for (k, p) in &self.npy {
            let field = format!("{path}.npy.{k}");
            if !ARRAYS.contains(&k.as_str()) {
                c.push(&field, format!("unknown array `{k}` (expected one of {})", ARRAYS.join(", ")));
            }
            super::imported::check_file(&field, p, c);
        }
        let has_both = self.npy.contains_key("train") && self.npy.contains_key("test");
        if !self.npy.is_empty() && !has_both {
            c.push(&format!("{path}.npy"), "needs both `train` and `test`");
        }
    }
    fn files_mut(&mut self) -> Vec<(String, &mut PathBuf)> {
        let mut v: Vec<(String, &mut PathBuf)> = self.path.iter_mut().map(|p| ("/path".to_string(), p)).collect();
        v.extend(self.npy.iter_mut().map(|(k, p)| (format!("/npy/{k}"), p)));
        v
    }
}

/// The rows of one official part: features and, with ids, where each image's row is.
struct PartTable {
    x: Tensor,
    /// image index → row; None = row i is image i.
    rows: Option<HashMap<usize, usize>>,
    /// Where the rows came from, for errors.
    source: String,
}

pub struct FittedEmbeddings {
    train: PartTable,
    test: PartTable,
}

impl EmbeddingsParams {
    /// Reads every array, named with the file it came from.
    fn arrays(&self) -> Result<Vec<(String, Tensor, PathBuf)>> {
        let mut out = Vec::new();
        if let Some(p) = &self.path {
            for (n, t) in read_arrays(p, "")? {
                out.push((n, t, p.clone()));
            }
        }
        for (k, p) in &self.npy {
            let t = read_arrays(p, k)?.pop().map(|(_, t)| t).ok_or_else(|| Error::data(p, "holds no array"))?;
            out.push((k.clone(), t, p.clone()));
        }
        Ok(out)
    }

    /// Reads and checks the files: features are 2-d floats without NaN/Inf,
    /// ids are 1-d integers, one per row, never repeated within a part.
    pub fn load(&self) -> Result<FittedEmbeddings> {
        let mut arrays: IndexMap<String, (Tensor, PathBuf)> =
            self.arrays()?.into_iter().map(|(n, t, p)| (n, (t, p))).collect();
        if let Some((n, (_, p))) = arrays.iter().find(|(n, _)| !ARRAYS.contains(&n.as_str())) {
            return Err(Error::data(
                p,
                format!("has an array `{n}` repbench does not know (expected {})", ARRAYS.join(", ")),
            ));
        }
        let mut feats = |name: &str| -> Result<Option<(Tensor, PathBuf)>> {
            arrays.shift_remove(name).map(|(t, p)| Ok((features(&p, name, t)?, p))).transpose()
        };
        let missing =
            |name: &str| Error::data(self.where_(), format!("has no `{name}` array (the {name} part's features)"));
        let (train, train_file) = feats("train")?.ok_or_else(|| missing("train"))?;
        let (test, test_file) = feats("test")?.ok_or_else(|| missing("test"))?;
        let val = feats("val")?;
        let id_arrays: Vec<(String, (Tensor, PathBuf))> = arrays.into_iter().collect();
        let ids_of = |name: &str, rows: i64, file: &Path| -> Result<Option<Vec<usize>>> {
            let key = format!("{name}_ids");
            match id_arrays.iter().find(|(n, _)| *n == key) {
                Some((_, (t, p))) => ids(p, &key, t, rows, file).map(Some),
                None => Ok(None),
            }
        };
        let train_ids = ids_of("train", train.size()[0], &train_file)?;
        let test_ids = ids_of("test", test.size()[0], &test_file)?;
        let d = train.size()[1];
        for (name, t, p) in [("test", &test, &test_file)].into_iter().chain(val.as_ref().map(|(v, p)| ("val", v, p))) {
            if t.size()[1] != d {
                return Err(Error::data(p, format!("array `{name}` has {} columns but `train` has {d}", t.size()[1])));
            }
        }
        let train_part = match val {
            None => PartTable::new(train, train_ids, &train_file, "train")?,
            Some((v, vp)) => {
                let vids = ids_of("val", v.size()[0], &vp)?.ok_or_else(|| {
                    Error::data(&vp, "has a `val` array but no `val_ids`: validation rows must say which images of the official train part they are")
                })?;
                let tids = train_ids.unwrap_or_else(|| (0..train.size()[0] as usize).collect());
                let all: Vec<usize> = tids.into_iter().chain(vids).collect();
                PartTable::new(Tensor::cat(&[train, v], 0), Some(all), &train_file, "train + val")?
            }
        };
        Ok(FittedEmbeddings { train: train_part, test: PartTable::new(test, test_ids, &test_file, "test")? })
    }

    fn where_(&self) -> PathBuf {
        self.path.clone().or_else(|| self.npy.values().next().cloned()).unwrap_or_default()
    }
}

/// Checks a feature array (2-d, float, finite) and returns it as f32.
fn features(file: &Path, name: &str, t: Tensor) -> Result<Tensor> {
    let dims = t.size();
    if dims.len() != 2 {
        return Err(Error::data(
            file,
            format!("array `{name}` has shape {dims:?}: features must be 2-d (rows × features)"),
        ));
    }
    match t.kind() {
        Kind::Half | Kind::BFloat16 | Kind::Float | Kind::Double => {}
        k => {
            return Err(Error::data(
                file,
                format!("array `{name}` holds {k:?}: features must be float16, float32 or float64"),
            ))
        }
    }
    let bad = t.isfinite().logical_not().any_dim(1, false);
    if bad.any().int64_value(&[]) != 0 {
        let row = bad.nonzero().int64_value(&[0, 0]);
        return Err(Error::data(file, format!("array `{name}` has NaN or Inf values, first in row {row}")));
    }
    Ok(t.to_kind(Kind::Float).contiguous())
}

/// Checks an ids array: 1-d integers, one per row of the features, none repeated.
fn ids(file: &Path, name: &str, t: &Tensor, rows: i64, features_file: &Path) -> Result<Vec<usize>> {
    if t.size().len() != 1 || t.is_floating_point() {
        return Err(Error::data(
            file,
            format!("array `{name}` must be a 1-d integer array (got {:?} of shape {:?})", t.kind(), t.size()),
        ));
    }
    if t.size()[0] != rows {
        return Err(Error::data(
            file,
            format!(
                "array `{name}` has {} entries but its features ({}) have {rows} rows",
                t.size()[0],
                features_file.display()
            ),
        ));
    }
    let v: Vec<i64> =
        Vec::try_from(t.to_kind(Kind::Int64)).map_err(|e| Error::data(file, format!("array `{name}`: {e}")))?;
    let mut seen = std::collections::HashSet::with_capacity(v.len());
    let mut out = Vec::with_capacity(v.len());
    for (row, &id) in v.iter().enumerate() {
        if id < 0 {
            return Err(Error::data(file, format!("array `{name}` row {row}: image index {id} is negative")));
        }
        if !seen.insert(id) {
            return Err(Error::data(file, format!("array `{name}` row {row}: image index {id} is repeated")));
        }
        out.push(id as usize);
    }
    Ok(out)
}

impl PartTable {
    fn new(x: Tensor, ids: Option<Vec<usize>>, file: &Path, what: &str) -> Result<PartTable> {
        let rows = match ids {
            None => None,
            Some(ids) => {
                let mut m = HashMap::with_capacity(ids.len());
                for (row, id) in ids.into_iter().enumerate() {
                    if m.insert(id, row).is_some() {
                        return Err(Error::data(file, format!("{what}: image index {id} has two rows")));
                    }
                }
                Some(m)
            }
        };
        Ok(PartTable { x, rows, source: format!("{} ({what})", file.display()) })
    }

    /// The rows of `images` (official indices into a part of `len` images).
    fn lookup(&self, part: Part, images: &[usize], len: usize) -> Result<Tensor> {
        let n = self.x.size()[0] as usize;
        let rows: Vec<i64> = match &self.rows {
            None if n != len => {
                return Err(Error::data(
                    &self.source,
                    format!(
                        "has {n} rows but the dataset's official {} part holds {len} images; rows align by index unless `{}_ids` says which image each row is",
                        part.name(),
                        part.name()
                    ),
                ))
            }
            None => images.iter().map(|&i| i as i64).collect(),
            Some(m) => {
                if let Some((&id, _)) = m.iter().find(|(&id, _)| id >= len) {
                    return Err(Error::data(&self.source, format!("image index {id} is out of range: the official {} part holds {len} images", part.name())));
                }
                images
                    .iter()
                    .map(|i| m.get(i).map(|&r| r as i64).ok_or_else(|| Error::data(&self.source, format!("has no row for image {i} of the official {} part, which the split selects", part.name()))))
                    .collect::<Result<_>>()?
            }
        };
        Ok(self.x.index_select(0, &Tensor::from_slice(&rows)))
    }
}

impl Fitted for FittedEmbeddings {
    fn embed(&self, _images: &Tensor, _device: Device) -> Result<Tensor> {
        Err(Error::stage(
            "imported embeddings are rows of the dataset's official parts; they cannot embed other images",
        ))
    }
    fn embed_rows(&self, part: Part, rows: &[usize], part_len: usize) -> Option<Result<Tensor>> {
        let table = match part {
            Part::Train => &self.train,
            Part::Test => &self.test,
        };
        Some(table.lookup(part, rows, part_len))
    }
    fn state(&self) -> Vec<(String, Tensor)> {
        Vec::new()
    }
    fn counted(&self) -> super::Counted {
        super::Counted::not_counted(None, "imported embeddings: rows of a file, computed elsewhere")
    }
}
