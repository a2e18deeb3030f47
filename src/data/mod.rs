//! Datasets: readers for the on-disk formats, the named datasets, content
//! fingerprints and seeded splits.
//!
//! Images are kept as `u8` in N×C×H×W order, as they are stored on disk; each
//! representation converts them to floats itself.
pub mod cifar;
pub mod csv_manifest;
pub mod decode;
pub mod fingerprint;
pub mod folder;
pub mod groups;
pub mod idx;
pub mod image_store;
pub mod listing;
pub mod metadata;
pub mod named;
pub mod parquet;
pub mod prep;
pub mod split;
pub mod webdataset;

use crate::error::Result;

/// `dataset.label_map`: coarse class name → the data's labels it unites.
pub type LabelMap = indexmap::IndexMap<String, Vec<usize>>;
use std::path::{Path, PathBuf};
use tch::Tensor;

/// Image bytes, N×C×H×W: in memory (parsed from IDX or CIFAR files) or
/// mapped from the decoded image store, whose pages the kernel reads on
/// demand and may drop again (file-backed, not the process's anonymous
/// memory; `files::map_for_process`).
#[derive(Clone)]
pub enum Pixels {
    Owned(Vec<u8>),
    Mapped(&'static [u8]),
}

impl Pixels {
    /// Maps a store file read-only, for the rest of the process.
    pub fn map(path: &Path) -> Result<Pixels> {
        Ok(Pixels::Mapped(crate::files::map_for_process(path)?))
    }

    /// The bytes as a vector to append to (a mapped set is copied first).
    pub fn owned_mut(&mut self) -> &mut Vec<u8> {
        if let Pixels::Mapped(m) = self {
            *self = Pixels::Owned(m.to_vec());
        }
        match self {
            Pixels::Owned(v) => v,
            Pixels::Mapped(_) => unreachable!("converted above"),
        }
    }

    pub fn is_mapped(&self) -> bool {
        matches!(self, Pixels::Mapped(_))
    }
}

impl std::ops::Deref for Pixels {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Pixels::Owned(v) => v,
            Pixels::Mapped(m) => m,
        }
    }
}

impl From<Vec<u8>> for Pixels {
    fn from(v: Vec<u8>) -> Pixels {
        Pixels::Owned(v)
    }
}

impl std::fmt::Debug for Pixels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = if self.is_mapped() { "mapped" } else { "owned" };
        write!(f, "Pixels({kind}, {} bytes)", self.len())
    }
}

/// A set of images with integer labels, all of the same shape.
#[derive(Debug, Clone)]
pub struct ImageSet {
    pub images: Pixels,
    pub labels: Vec<i64>,
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    /// When a class subset was taken: each image's index in the official part,
    /// and how many images that part holds. Imported embeddings are rows of the
    /// official parts, so they are looked up through it.
    pub subset_of: Option<(Vec<usize>, usize)>,
}

impl ImageSet {
    /// The index in the official part (the file's order) of image `i`.
    pub fn official_index(&self, i: usize) -> usize {
        match &self.subset_of {
            Some((ids, _)) => ids[i],
            None => i,
        }
    }
    /// How many images the official part holds (before any class subset).
    pub fn official_len(&self) -> usize {
        match &self.subset_of {
            Some((_, n)) => *n,
            None => self.len(),
        }
    }
    pub fn len(&self) -> usize {
        self.labels.len()
    }
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
    pub fn image_len(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// Every image as a u8 tensor N×C×H×W over the pixels' memory, without
    /// a copy (streamed training reads its batches from it).
    ///
    /// # Safety
    /// The tensor borrows the pixels' memory without holding it: for owned
    /// pixels it must be dropped before this set is (mapped pixels live for
    /// the process), and it must never be written to (a mapped store is
    /// read-only: a write would fault).
    pub unsafe fn view_all(&self) -> Tensor {
        let shape = [self.len() as i64, self.channels as i64, self.height as i64, self.width as i64];
        if self.is_empty() {
            return Tensor::zeros(shape, (tch::Kind::Uint8, tch::Device::Cpu));
        }
        let d = self.image_len() as i64;
        let strides = [d, (self.height * self.width) as i64, self.width as i64, 1];
        Tensor::from_blob(self.images.as_ptr(), &shape, &strides, tch::Kind::Uint8, tch::Device::Cpu)
    }

    /// The images at `idx` as a u8 tensor N×C×H×W and their labels as i64.
    pub fn select(&self, idx: &[usize]) -> (Tensor, Tensor) {
        let d = self.image_len();
        let mut buf = Vec::with_capacity(idx.len() * d);
        let mut labels = Vec::with_capacity(idx.len());
        for &i in idx {
            buf.extend_from_slice(&self.images[i * d..(i + 1) * d]);
            labels.push(self.labels[i]);
        }
        let x = Tensor::from_slice(&buf).view([
            idx.len() as i64,
            self.channels as i64,
            self.height as i64,
            self.width as i64,
        ]);
        (x, Tensor::from_slice(&labels))
    }
}

/// A dataset with its official train and test parts.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub name: String,
    pub train: ImageSet,
    pub test: ImageSet,
    pub num_classes: usize,
    /// One display name per label (Fashion-MNIST's "T-shirt/top", …; a folder
    /// dataset's folder names; `class k` where the data names none). Only for
    /// tables and figures: names never enter a cache key.
    pub class_names: Vec<String>,
    /// Every file the data was read from (what the fingerprint covers).
    pub files: Vec<PathBuf>,
    /// Rows of `train` that are the data's own validation part (a folder's
    /// `val/`, a parquet `validation` split, a manifest's `val` rows): when
    /// present they are the validation split and nothing is carved from train.
    pub official_val: Option<std::ops::Range<usize>>,
    /// A manifest's extra columns per official row (CSV; `metadata.rs`).
    pub metadata: Option<std::sync::Arc<metadata::Metadata>>,
}

/// `class 0`, `class 1`, … for data that names no classes.
pub fn default_class_names(k: usize) -> Vec<String> {
    (0..k).map(|i| format!("class {i}")).collect()
}

/// Number of classes = 1 + the largest label seen (labels are 0-based).
pub fn count_classes(sets: &[&ImageSet]) -> usize {
    sets.iter().flat_map(|s| s.labels.iter()).copied().max().map(|m| m as usize + 1).unwrap_or(0)
}

/// Refuses test labels that no training image carries: a class the
/// classifiers never see can only be scored wrong, so an accuracy over such
/// a test set measures the labelling, not the representation. The error
/// names the file, the label and how many images carry it.
pub fn check_test_labels(train: &ImageSet, test: &ImageSet, test_labels_file: &Path) -> Result<()> {
    let known: std::collections::BTreeSet<i64> = train.labels.iter().copied().collect();
    let mut unknown: std::collections::BTreeMap<i64, usize> = std::collections::BTreeMap::new();
    for l in test.labels.iter().filter(|l| !known.contains(l)) {
        *unknown.entry(*l).or_default() += 1;
    }
    let Some((&label, &count)) = unknown.iter().next() else { return Ok(()) };
    let more = if unknown.len() > 1 { format!(" ({} such labels in all)", unknown.len()) } else { String::new() };
    let (lo, hi) = (known.first().copied().unwrap_or(0), known.last().copied().unwrap_or(0));
    Err(crate::error::Error::data(
        test_labels_file,
        format!(
            "label {label} is carried by {count} test image{} but by no training image (training labels: {lo}..={hi}){more}",
            if count == 1 { "" } else { "s" }
        ),
    ))
}

/// Checks that train and test agree on the image shape.
pub fn check_same_shape(name: &str, train: &ImageSet, test: &ImageSet) -> Result<()> {
    if (train.channels, train.height, train.width) != (test.channels, test.height, test.width) {
        return Err(crate::error::Error::data(
            name,
            format!(
                "train images are {}x{}x{} but test images are {}x{}x{}",
                train.channels, train.height, train.width, test.channels, test.height, test.width
            ),
        ));
    }
    Ok(())
}

impl ImageSet {
    /// The images whose label is in `classes`, relabelled to the position of
    /// their class in `classes`.
    fn keep_classes(&self, classes: &[usize]) -> ImageSet {
        let d = self.image_len();
        let mut kept = Vec::new();
        let mut out = ImageSet {
            images: Pixels::Owned(Vec::new()),
            labels: Vec::new(),
            channels: self.channels,
            height: self.height,
            width: self.width,
            subset_of: None,
        };
        let mut ids = Vec::new();
        for (i, &l) in self.labels.iter().enumerate() {
            if let Some(pos) = classes.iter().position(|&c| c as i64 == l) {
                kept.extend_from_slice(&self.images[i * d..(i + 1) * d]);
                out.labels.push(pos as i64);
                ids.push(self.official_index(i));
            }
        }
        out.images = kept.into();
        out.subset_of = Some((ids, self.official_len()));
        out
    }
}

impl Dataset {
    /// The data a suite evaluates on: the suite's `class_names` (checked against
    /// the number of classes the data holds), then its `classes` subset, then
    /// its `label_map` (validation keeps the two apart).
    pub fn prepared(&self, class_names: Option<&[String]>, classes: &[usize], label_map: &LabelMap) -> Result<Dataset> {
        let named = match class_names {
            Some(names) if names.len() != self.num_classes => Err(crate::error::Error::data(
                &self.name,
                format!(
                    "dataset.class_names lists {} names, but the data holds {} classes",
                    names.len(),
                    self.num_classes
                ),
            )),
            Some(names) => Dataset { class_names: names.to_vec(), ..self.clone() }.with_classes(classes),
            None => self.with_classes(classes),
        }?;
        named.with_label_map(label_map)
    }

    /// A coarser task: label l becomes the index of the group listing it, the
    /// groups' names the class names. Every class of the data must be listed
    /// once; images and their order are unchanged.
    pub fn with_label_map(self, map: &LabelMap) -> Result<Dataset> {
        if map.is_empty() {
            return Ok(self);
        }
        let mut to = vec![None; self.num_classes];
        for (g, members) in map.values().enumerate() {
            for &m in members {
                match to.get_mut(m) {
                    Some(slot @ None) => *slot = Some(g as i64),
                    Some(Some(_)) => {
                        return Err(crate::error::Error::data(
                            &self.name,
                            format!("dataset.label_map lists class {m} twice"),
                        ))
                    }
                    None => {
                        return Err(crate::error::Error::data(
                            &self.name,
                            format!(
                                "dataset.label_map: class {m} does not exist (the data has {} classes)",
                                self.num_classes
                            ),
                        ))
                    }
                }
            }
        }
        let missing: Vec<String> = to
            .iter()
            .enumerate()
            .filter(|(_, t)| t.is_none())
            .map(|(k, _)| format!("{k} ({})", self.class_name(k)))
            .collect();
        if !missing.is_empty() {
            return Err(crate::error::Error::data(
                &self.name,
                format!(
                    "dataset.label_map leaves out class(es) {}: every class must be in one group",
                    missing.join(", ")
                ),
            ));
        }
        let relabel = |set: &ImageSet| ImageSet {
            labels: set.labels.iter().map(|&l| to[l as usize].unwrap_or(-1)).collect(),
            ..set.clone()
        };
        Ok(Dataset {
            name: format!("{} (coarse: {})", self.name, map.keys().cloned().collect::<Vec<_>>().join(", ")),
            train: relabel(&self.train),
            test: relabel(&self.test),
            num_classes: map.len(),
            class_names: map.keys().cloned().collect(),
            ..self
        })
    }

    /// The name of label `k` (`class k` past the known names).
    pub fn class_name(&self, k: usize) -> String {
        self.class_names.get(k).cloned().unwrap_or_else(|| format!("class {k}"))
    }

    /// A class subset (for transfer experiments): only `classes`, relabelled
    /// 0..k−1 in the order given. An empty list keeps everything.
    pub fn with_classes(&self, classes: &[usize]) -> Result<Dataset> {
        if classes.is_empty() {
            return Ok(self.clone());
        }
        if let Some(c) = classes.iter().find(|&&c| c >= self.num_classes) {
            return Err(crate::error::Error::data(
                &self.name,
                format!("class {c} does not exist (the dataset has {} classes)", self.num_classes),
            ));
        }
        Ok(Dataset {
            name: format!("{} (classes {:?})", self.name, classes),
            train: self.train.keep_classes(classes),
            test: self.test.keep_classes(classes),
            num_classes: classes.len(),
            class_names: classes.iter().map(|&c| self.class_name(c)).collect(),
            files: self.files.clone(),
            // The kept rows keep their order, so the official validation rows
            // (the last ones of train) stay last and contiguous.
            official_val: self.official_val.as_ref().map(|r| {
                let kept = |range: std::ops::Range<usize>| {
                    range.filter(|&i| classes.contains(&(self.train.labels[i] as usize))).count()
                };
                let start = kept(0..r.start);
                start..start + kept(r.clone())
            }),
            // By official row: a subset's rows find theirs through `subset_of`.
            metadata: self.metadata.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(labels: &[i64]) -> ImageSet {
        ImageSet {
            images: vec![0; labels.len()].into(),
            labels: labels.to_vec(),
            channels: 1,
            height: 1,
            width: 1,
            subset_of: None,
        }
    }

    /// Names follow a class subset in its order; the suite's names replace the
    /// data's after a count check.
    #[test]
    fn class_names_follow_subsets_and_are_count_checked() {
        let ds = Dataset {
            name: "d".into(),
            train: set(&[0, 1, 2, 2]),
            test: set(&[2, 1, 0]),
            num_classes: 3,
            class_names: vec!["a".into(), "b".into(), "c".into()],
            files: vec![],
            official_val: None,
            metadata: None,
        };
        assert_eq!(ds.with_classes(&[2, 0]).unwrap().class_names, ["c", "a"]);
        let named = ds.prepared(Some(&["x".into(), "y".into(), "z".into()]), &[1, 2], &LabelMap::new()).unwrap();
        assert_eq!(named.class_names, ["y", "z"]);
        let e = ds.prepared(Some(&["x".into()]), &[], &LabelMap::new()).unwrap_err().to_string();
        assert!(e.contains("class_names lists 1 names, but the data holds 3 classes"), "{e}");
        assert_eq!(ds.class_name(7), "class 7");
    }
}
