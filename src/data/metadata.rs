//! Per-image metadata: the values of a CSV manifest's extra columns (a
//! hospital, a scanner, a region), kept in the image store beside the pixels
//! so a cached run can still say which test image belongs to which group
//! (`dataset.groups`, worst-group accuracy) without reading the CSV again.
//!
//! Each column's values are coded: a vocabulary per column (first-seen order)
//! and one `u32` per image and column, row-major, in the store's row order
//! (`train.meta` holds the training rows then the official validation rows,
//! as `train.u8`; `test.meta` the test rows).
use crate::error::{Error, IoContext, Result};
use std::collections::HashMap;
use std::path::Path;

/// Version of the stored metadata; it enters a CSV store's key.
pub const VERSION: u32 = 1;

/// The metadata of a dataset's official parts, by store row.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Metadata {
    /// The manifest's extra columns, in its order.
    pub columns: Vec<String>,
    /// Each column's distinct values; a code is an index into its column's list.
    pub values: Vec<Vec<String>>,
    /// Codes of the train part's rows (then its official validation rows), row-major.
    pub train: Vec<u32>,
    /// Codes of the test part's rows, row-major.
    pub test: Vec<u32>,
}

impl Metadata {
    /// The index of `name` among the columns.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }

    /// The value of column `col` for official test row `row`.
    pub fn test_value(&self, row: usize, col: usize) -> Option<&str> {
        let code = *self.test.get(row * self.columns.len() + col)?;
        self.values.get(col)?.get(code as usize).map(String::as_str)
    }

    /// Reads the codes a store wrote (`<part>.meta`), checking their count.
    pub fn read(dir: &Path, columns: &[String], values: &[Vec<String>], rows: (usize, usize)) -> Result<Metadata> {
        let part = |file: &str, n: usize| -> Result<Vec<u32>> {
            let path = dir.join(file);
            let raw = std::fs::read(&path).at(&path)?;
            let codes: Vec<u32> =
                raw.chunks_exact(4).map(|b| u32::from_le_bytes(b.try_into().unwrap_or([0; 4]))).collect();
            let bad = codes.iter().zip((0..columns.len()).cycle()).any(|(&c, k)| c as usize >= values[k].len());
            if codes.len() != n * columns.len() || raw.len() % 4 != 0 || bad {
                return Err(Error::Cache {
                    path: path.clone(),
                    msg: format!(
                        "{} codes for {n} images × {} columns (or a code past its values)",
                        codes.len(),
                        columns.len()
                    ),
                });
            }
            Ok(codes)
        };
        Ok(Metadata {
            columns: columns.to_vec(),
            values: values.to_vec(),
            train: part("train.meta", rows.0)?,
            test: part("test.meta", rows.1)?,
        })
    }
}

/// Assigns codes while a store is written: one vocabulary per column.
#[derive(Debug, Default)]
pub struct Coder {
    seen: Vec<HashMap<String, u32>>,
    values: Vec<Vec<String>>,
}

impl Coder {
    pub fn new(columns: usize) -> Coder {
        Coder { seen: vec![HashMap::new(); columns], values: vec![Vec::new(); columns] }
    }

    /// The little-endian codes of one image's values (one per column).
    pub fn encode(&mut self, row: &[String]) -> Vec<u8> {
        let mut out = Vec::with_capacity(4 * row.len());
        for ((value, seen), values) in row.iter().zip(&mut self.seen).zip(&mut self.values) {
            let code = *seen.entry(value.clone()).or_insert_with(|| {
                values.push(value.clone());
                values.len() as u32 - 1
            });
            out.extend_from_slice(&code.to_le_bytes());
        }
        out
    }

    /// Each column's values, in code order.
    pub fn into_values(self) -> Vec<Vec<String>> {
        self.values
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_through_the_files() {
        let mut c = Coder::new(2);
        let rows = [["A", "x"], ["B", "x"], ["A", "y"]];
        let bytes: Vec<Vec<u8>> = rows.iter().map(|r| c.encode(&r.map(String::from))).collect();
        let values = c.into_values();
        assert_eq!(values, vec![vec!["A".to_string(), "B".into()], vec!["x".to_string(), "y".into()]]);
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("train.meta"), bytes[..2].concat()).unwrap();
        std::fs::write(dir.path().join("test.meta"), bytes[2..].concat()).unwrap();
        let cols = vec!["site".to_string(), "scanner".into()];
        let m = Metadata::read(dir.path(), &cols, &values, (2, 1)).unwrap();
        assert_eq!(m.test_value(0, 0), Some("A"));
        assert_eq!(m.test_value(0, 1), Some("y"));
        assert_eq!(m.train, vec![0, 0, 1, 0]);
        // A count that does not match the store is refused, naming the file.
        let e = Metadata::read(dir.path(), &cols, &values, (3, 1)).unwrap_err().to_string();
        assert!(e.contains("train.meta"), "{e}");
    }
}
