//! Hugging Face `datasets` parquet: files `<split>-*.parquet` (or
//! `<split>/*.parquet`) anywhere under the dataset folder, an image struct
//! column `{bytes, path}` and an integer label column. Class names come from
//! the `huggingface` schema metadata's `ClassLabel` when the file has one.
//!
//! Listing reads only the label columns; the store reads one file's image
//! column at a time (`read_image_bytes`).
use super::listing::{Item, Listing, Loc, Part};
use crate::error::{Error, Result};
use polars::prelude::*;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// `dataset.columns`: the column names of a parquet file or a CSV manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Columns {
    /// Parquet: the image column (a `{bytes, path}` struct, or plain bytes).
    pub image: String,
    pub label: String,
    /// CSV: the image's path.
    pub path: String,
    /// CSV: `train`, `val` or `test`.
    pub split: String,
}

impl Default for Columns {
    fn default() -> Self {
        Columns { image: "image".into(), label: "label".into(), path: "path".into(), split: "split".into() }
    }
}

fn perr(path: &Path) -> impl Fn(PolarsError) -> Error + '_ {
    move |e| Error::data(path, format!("cannot read as parquet: {e}"))
}

/// Which part a file belongs to, by the Hugging Face naming: `train-…`,
/// `test-…`, `validation-…` file names or folders named so.
fn part_of(path: &Path) -> Option<Part> {
    let name = path.file_name()?.to_string_lossy().to_string();
    let dir = path.parent().and_then(|p| p.file_name()).map(|d| d.to_string_lossy().to_string()).unwrap_or_default();
    let matches = |s: &str| name.starts_with(&format!("{s}-")) || name.starts_with(&format!("{s}.")) || dir == s;
    if matches("train") {
        Some(Part::Train)
    } else if matches("test") {
        Some(Part::Test)
    } else if ["validation", "valid", "val"].iter().any(|s| matches(s)) {
        Some(Part::Val)
    } else {
        None
    }
}

/// The parquet files of a dataset folder, sorted, with their parts.
pub fn files(root: &Path) -> Result<Vec<(PathBuf, Part)>> {
    let mut out: Vec<(PathBuf, Part)> = walkdir::WalkDir::new(root)
        .into_iter()
        .filter_map(|e| e.ok())
        .map(|e| e.into_path())
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .filter_map(|p| part_of(&p).map(|s| (p, s)))
        .collect();
    out.sort();
    if out.is_empty() {
        return Err(Error::data(root, "no `train-*.parquet` / `test-*.parquet` files under this folder"));
    }
    Ok(out)
}

/// ClassLabel names from the `huggingface` metadata, if the file carries them.
fn class_label_names(
    path: &Path,
    reader: &mut ParquetReader<std::fs::File>,
    label: &str,
) -> Result<Option<Vec<String>>> {
    let meta = reader.get_metadata().map_err(perr(path))?;
    let Some(kv) = meta.key_value_metadata() else { return Ok(None) };
    let Some(text) = kv.iter().find(|k| k.key == "huggingface").and_then(|k| k.value.clone()) else { return Ok(None) };
    let v: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| Error::data(path, format!("the `huggingface` metadata is not JSON: {e}")))?;
    let names = v.pointer(&format!("/info/features/{label}/names")).and_then(|n| n.as_array());
    Ok(names.map(|a| a.iter().map(|n| n.as_str().unwrap_or("").to_string()).collect()))
}

/// Lists every file's labels.
pub fn list(root: &Path, columns: &Columns) -> Result<Listing> {
    let mut listing = Listing::default();
    let mut names: Option<(PathBuf, Vec<String>)> = None;
    for (path, part) in files(root)? {
        let f = std::fs::File::open(&path).map_err(|e| Error::io(&path, e))?;
        let mut reader = ParquetReader::new(f);
        if let Some(n) = class_label_names(&path, &mut reader, &columns.label)? {
            match &names {
                Some((first, known)) if *known != n => {
                    return Err(Error::data(
                        &path,
                        format!(
                            "its ClassLabel names ({} classes) disagree with {}'s ({} classes)",
                            n.len(),
                            first.display(),
                            known.len()
                        ),
                    ))
                }
                Some(_) => {}
                None => names = Some((path.clone(), n)),
            }
        }
        let df = reader.with_columns(Some(vec![columns.label.clone()])).finish().map_err(perr(&path))?;
        let col = df
            .column(&columns.label)
            .map_err(|_| Error::data(&path, format!("no `{}` column (dataset.columns.label)", columns.label)))?
            .cast(&DataType::Int64)
            .map_err(perr(&path))?;
        let file: Arc<Path> = Arc::from(path.as_path());
        for (row, v) in col.i64().map_err(perr(&path))?.into_iter().enumerate() {
            let label = v.ok_or_else(|| Error::data(&path, format!("row {row}: the label is null")))?;
            listing.part_mut(part).push(Item { loc: Loc::Row { file: file.clone(), row }, label, meta: vec![] });
        }
    }
    listing.class_names =
        super::listing::int_class_names(&[&listing.train, &listing.val, &listing.test], names.map(|(_, n)| n));
    listing.check(root)?;
    Ok(listing)
}

/// The image bytes of every row of one file: the `bytes` field of an image
/// struct column, or a plain binary column.
pub fn read_image_bytes(path: &Path, columns: &Columns) -> Result<Vec<Option<Vec<u8>>>> {
    let f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let df = ParquetReader::new(f).with_columns(Some(vec![columns.image.clone()])).finish().map_err(perr(path))?;
    let col = df
        .column(&columns.image)
        .map_err(|_| Error::data(path, format!("no `{}` column (dataset.columns.image)", columns.image)))?;
    let bytes = match col.dtype() {
        DataType::Struct(_) => col
            .struct_()
            .map_err(perr(path))?
            .field_by_name("bytes")
            .map_err(|_| Error::data(path, format!("the `{}` struct has no `bytes` field", columns.image)))?,
        _ => col.as_materialized_series().clone(),
    };
    let bin = bytes
        .binary()
        .map_err(|_| Error::data(path, format!("`{}` holds {}, not image bytes", columns.image, bytes.dtype())))?;
    Ok(bin.into_iter().map(|b| b.map(<[u8]>::to_vec)).collect())
}
