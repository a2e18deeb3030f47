//! CSV manifests, as medical and remote-sensing sets ship: one row per image,
//! `path,label[,split][,…]`. Paths are relative to the CSV's folder; labels
//! are integers (0-based) or class names (then sorted for the label order);
//! `split` is `train`, `val` or `test`. Every other column is kept as the
//! image's metadata (a hospital, a scanner, a region) for group analyses.
//!
//! Without a `split` column, `dataset.test_fraction` of each class goes to
//! test, chosen by the sha256 of the path (so the split does not move when
//! rows are reordered or added elsewhere).
use super::listing::{Item, Listing, Loc, Part};
use super::parquet::Columns;
use crate::error::{Error, Result};
use polars::prelude::*;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// The rows of a manifest as strings (the first `rows`, or all), with the header.
fn read_strings(path: &Path, rows: Option<usize>) -> Result<(Vec<String>, Vec<Vec<String>>)> {
    let bad = |e: PolarsError| Error::data(path, format!("cannot read as CSV: {e}"));
    let df = CsvReadOptions::default()
        .with_has_header(true)
        .with_n_rows(rows)
        // Every column as text: labels and splits are parsed here, with line numbers.
        .with_infer_schema_length(Some(0))
        .try_into_reader_with_file_path(Some(path.to_path_buf()))
        .map_err(bad)?
        .finish()
        .map_err(bad)?;
    let header: Vec<String> = df.get_column_names().iter().map(|s| s.to_string()).collect();
    let mut cols = Vec::new();
    for name in &header {
        let c = df.column(name).map_err(bad)?.str().map_err(bad)?.clone();
        cols.push(c.into_iter().map(|v| v.unwrap_or("").to_string()).collect::<Vec<_>>());
    }
    Ok((header, cols))
}

/// The manifest's extra columns (all but path, label and split), from its
/// header alone: what `dataset.groups` may name, checked before a run.
pub fn extra_columns(csv: &Path, columns: &Columns) -> Result<Vec<String>> {
    let (header, _) = read_strings(csv, Some(0))?;
    let used = [&columns.path, &columns.label, &columns.split];
    Ok(header.into_iter().filter(|h| !used.contains(&h)).collect())
}

/// Lists the manifest at `csv`. `test_fraction` applies only without a split column.
pub fn list(csv: &Path, columns: &Columns, test_fraction: Option<f64>) -> Result<Listing> {
    let (header, cols) = read_strings(csv, None)?;
    let find = |name: &str| header.iter().position(|h| h == name);
    let need = |name: &str, field: &str| {
        find(name).ok_or_else(|| {
            Error::data(
                csv,
                format!("no `{name}` column (dataset.columns.{field}); the header is: {}", header.join(",")),
            )
        })
    };
    let (pi, li) = (need(&columns.path, "path")?, need(&columns.label, "label")?);
    let si = find(&columns.split);
    if si.is_none() && test_fraction.is_none() {
        return Err(Error::data(
            csv,
            format!("no `{}` column: add one (train, val or test per row) or set dataset.test_fraction", columns.split),
        ));
    }
    let meta_idx: Vec<usize> = (0..header.len()).filter(|&i| i != pi && i != li && Some(i) != si).collect();
    let base = csv.parent().unwrap_or(Path::new("."));
    let n = cols.first().map(Vec::len).unwrap_or(0);
    if n == 0 {
        return Err(Error::data(csv, "the manifest has no rows"));
    }
    let labels = &cols[li];
    // Integer labels, or names sorted into labels.
    let as_int: Option<Vec<i64>> = labels.iter().map(|l| l.trim().parse::<i64>().ok()).collect();
    let (label_of, class_names): (Vec<i64>, Option<Vec<String>>) = match as_int {
        Some(v) => (v, None),
        None => {
            let mut names: Vec<String> = labels.iter().map(|l| l.trim().to_string()).collect();
            names.sort();
            names.dedup();
            let v = labels.iter().map(|l| names.binary_search(&l.trim().to_string()).unwrap_or(0) as i64).collect();
            (v, Some(names))
        }
    };
    let mut listing =
        Listing { meta_columns: meta_idx.iter().map(|&i| header[i].clone()).collect(), ..Default::default() };
    for row in 0..n {
        let line = row + 2;
        let rel = cols[pi][row].trim();
        if rel.is_empty() {
            return Err(Error::data(csv, format!("line {line}: empty `{}`", columns.path)));
        }
        let p: PathBuf = base.join(rel);
        if !p.is_file() {
            return Err(Error::data(
                csv,
                format!("line {line}: `{rel}` does not exist (paths are relative to the CSV's folder)"),
            ));
        }
        let part = match si {
            Some(si) => match cols[si][row].trim() {
                "train" => Part::Train,
                "val" | "valid" | "validation" => Part::Val,
                "test" => Part::Test,
                other => {
                    return Err(Error::data(
                        csv,
                        format!("line {line}: split `{other}` is not one of train, val, test"),
                    ))
                }
            },
            None => Part::Train,
        };
        let meta = meta_idx.iter().map(|&i| cols[i][row].clone()).collect();
        listing.part_mut(part).push(Item { loc: Loc::File(p), label: label_of[row], meta });
    }
    if let (None, Some(f)) = (si, test_fraction) {
        hash_split(&mut listing, f);
    }
    listing.class_names = super::listing::int_class_names(&[&listing.train, &listing.val, &listing.test], class_names);
    listing.check(csv)?;
    Ok(listing)
}

/// Moves `fraction` of each class (rounded, at least one when the class has
/// two or more images) from train to test, the images with the smallest
/// sha256 of their path.
fn hash_split(listing: &mut Listing, fraction: f64) {
    let mut all = std::mem::take(&mut listing.train);
    let digest = |it: &Item| match &it.loc {
        Loc::File(p) => Sha256::digest(p.to_string_lossy().as_bytes()).to_vec(),
        other => Sha256::digest(other.to_string().as_bytes()).to_vec(),
    };
    all.sort_by_cached_key(|it| (it.label, digest(it)));
    let mut i = 0;
    while i < all.len() {
        let j = i + all[i..].iter().take_while(|it| it.label == all[i].label).count();
        let n = j - i;
        let t = if n >= 2 { ((n as f64 * fraction).round() as usize).clamp(1, n - 1) } else { 0 };
        listing.test.extend_from_slice(&all[i..i + t]);
        listing.train.extend_from_slice(&all[i + t..j]);
        i = j;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup(csv: &str) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        for f in ["a.png", "b.png", "c.png", "d.png"] {
            std::fs::create_dir_all(d.path().join("img")).unwrap();
            image::GrayImage::new(2, 2).save(d.path().join("img").join(f)).unwrap();
        }
        std::fs::write(d.path().join("m.csv"), csv).unwrap();
        d
    }

    #[test]
    fn names_become_sorted_labels_and_extra_columns_metadata() {
        let d = setup("path,label,split,site\nimg/a.png,dog,train,A\nimg/b.png,cat,train,B\nimg/c.png,cat,test,A\nimg/d.png,dog,val,B\n");
        let l = list(&d.path().join("m.csv"), &Columns::default(), None).unwrap();
        assert_eq!(l.class_names, ["cat", "dog"]);
        assert_eq!(l.train.iter().map(|i| i.label).collect::<Vec<_>>(), [1, 0]);
        assert_eq!((l.val.len(), l.test.len()), (1, 1));
        assert_eq!(l.meta_columns, ["site"]);
        assert_eq!(l.test[0].meta, ["A"]);
    }

    #[test]
    fn errors_name_the_line() {
        let d = setup("path,label,split\nimg/a.png,0,train\nimg/zz.png,1,train\n");
        let e = list(&d.path().join("m.csv"), &Columns::default(), None).unwrap_err().to_string();
        assert!(e.contains("m.csv: line 3: `img/zz.png` does not exist"), "{e}");
        let d = setup("path,label,split\nimg/a.png,0,tarin\n");
        let e = list(&d.path().join("m.csv"), &Columns::default(), None).unwrap_err().to_string();
        assert!(e.contains("line 2: split `tarin` is not one of train, val, test"), "{e}");
        let d = setup("path,label\nimg/a.png,0\n");
        let e = list(&d.path().join("m.csv"), &Columns::default(), None).unwrap_err().to_string();
        assert!(e.contains("no `split` column") && e.contains("test_fraction"), "{e}");
    }

    #[test]
    fn without_a_split_column_a_fraction_of_each_class_is_test() {
        let d = setup("path,label\nimg/a.png,0\nimg/b.png,0\nimg/c.png,1\nimg/d.png,1\n");
        let l = list(&d.path().join("m.csv"), &Columns::default(), Some(0.5)).unwrap();
        assert_eq!((l.train.len(), l.test.len()), (2, 2));
        assert_eq!(l.test.iter().map(|i| i.label).collect::<Vec<_>>(), [0, 1]);
    }
}
