//! What a photo-format reader produces before anything is decoded: the
//! labelled images of each split, each with where its bytes are. The image
//! store (`image_store`) reads and decodes them in parallel; listing is cheap
//! (directory walks, tar headers, a CSV, parquet label columns).
use crate::error::{Error, IoContext, Result};
use std::fmt;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where one image's bytes are.
#[derive(Debug, Clone)]
pub enum Loc {
    /// A whole file.
    File(PathBuf),
    /// A member of a tar shard, at a byte range of the shard.
    Member { shard: Arc<Path>, key: Arc<str>, offset: u64, len: u64 },
    /// Row `row` (0-based) of a parquet file's image column.
    Row { file: Arc<Path>, row: usize },
}

impl fmt::Display for Loc {
    /// How errors name the image: the file, `shard.tar` member `key`, or
    /// `file.parquet` row `n`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Loc::File(p) => write!(f, "{}", p.display()),
            Loc::Member { shard, key, .. } => write!(f, "{} (member {key})", shard.display()),
            Loc::Row { file, row } => write!(f, "{} (row {row})", file.display()),
        }
    }
}

impl Loc {
    /// The bytes of a file or shard member (parquet rows are read a file at a
    /// time by the store, see `image_store`).
    pub fn read(&self) -> Result<Vec<u8>> {
        match self {
            Loc::File(p) => std::fs::read(p).at(p),
            Loc::Member { shard, offset, len, .. } => {
                let mut f = std::fs::File::open(shard).at(shard)?;
                f.seek(SeekFrom::Start(*offset)).at(shard)?;
                let mut buf = vec![0u8; *len as usize];
                f.read_exact(&mut buf).map_err(|e| Error::data(shard.as_ref(), format!("member {}: {e}", self)))?;
                Ok(buf)
            }
            Loc::Row { .. } => Err(Error::stage(format!("{self}: parquet rows are read by file"))),
        }
    }
}

/// One image to decode.
#[derive(Debug, Clone)]
pub struct Item {
    pub loc: Loc,
    pub label: i64,
    /// Values of the manifest's extra columns (CSV), in `Listing::meta_columns` order.
    pub meta: Vec<String>,
}

/// The three parts a dataset may ship. `val` is optional; when present it is
/// the validation split (nothing is carved out of train).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Part {
    Train,
    Val,
    Test,
}

impl Part {
    pub const ALL: [Part; 3] = [Part::Train, Part::Val, Part::Test];
    pub fn name(self) -> &'static str {
        match self {
            Part::Train => "train",
            Part::Val => "val",
            Part::Test => "test",
        }
    }
}

/// Every image of a dataset, by part, with the class names in label order.
#[derive(Debug, Clone, Default)]
pub struct Listing {
    pub class_names: Vec<String>,
    pub train: Vec<Item>,
    pub val: Vec<Item>,
    pub test: Vec<Item>,
    pub meta_columns: Vec<String>,
}

impl Listing {
    pub fn part(&self, p: Part) -> &[Item] {
        match p {
            Part::Train => &self.train,
            Part::Val => &self.val,
            Part::Test => &self.test,
        }
    }

    pub fn part_mut(&mut self, p: Part) -> &mut Vec<Item> {
        match p {
            Part::Train => &mut self.train,
            Part::Val => &mut self.val,
            Part::Test => &mut self.test,
        }
    }

    pub fn len(&self) -> usize {
        self.train.len() + self.val.len() + self.test.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The checks every format shares: train and test present, every label
    /// in range, and no class without a training image (a class the
    /// classifiers never see can only be scored wrong). `place` names the
    /// dataset in errors.
    pub fn check(&self, place: &Path) -> Result<()> {
        for p in [Part::Train, Part::Test] {
            if self.part(p).is_empty() {
                return Err(Error::data(place, format!("no {} images found", p.name())));
            }
        }
        let k = self.class_names.len();
        for p in Part::ALL {
            if let Some(it) = self.part(p).iter().find(|it| it.label < 0 || it.label as usize >= k) {
                return Err(Error::data(
                    place,
                    format!("{}: label {} is out of range (the dataset names {k} classes)", it.loc, it.label),
                ));
            }
        }
        let mut counts = vec![0usize; k];
        for it in &self.train {
            counts[it.label as usize] += 1;
        }
        if let Some(c) = counts.iter().position(|&n| n == 0) {
            return Err(Error::data(place, format!("class {c} (`{}`) has no training image", self.class_names[c])));
        }
        Ok(())
    }
}

/// Class names for integer labels: the given names, else `class k` for
/// 0..=max label over every part.
pub fn int_class_names(parts: &[&[Item]], names: Option<Vec<String>>) -> Vec<String> {
    names.unwrap_or_else(|| {
        let max = parts.iter().flat_map(|p| p.iter()).map(|i| i.label).max().unwrap_or(-1);
        super::default_class_names((max + 1) as usize)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(label: i64) -> Item {
        Item { loc: Loc::File(format!("img{label}.png").into()), label, meta: vec![] }
    }

    #[test]
    fn checks_name_the_place() {
        let mut l = Listing {
            class_names: vec!["a".into(), "b".into()],
            train: vec![item(0)],
            test: vec![item(1)],
            ..Default::default()
        };
        let e = l.check(Path::new("m.csv")).unwrap_err().to_string();
        assert!(e.contains("class 1 (`b`) has no training image"), "{e}");
        l.train.push(item(2));
        let e = l.check(Path::new("m.csv")).unwrap_err().to_string();
        assert!(e.contains("img2.png: label 2 is out of range"), "{e}");
        l.train.pop();
        l.train.push(item(1));
        l.check(Path::new("m.csv")).unwrap();
    }
}
