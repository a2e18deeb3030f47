//! Resolving a suite's `dataset:` to files on disk, without reading them.
//!
//! Resolution is cheap (a few `stat`s), so a fully cached run can compute every
//! key from the fingerprint without parsing the data.
use super::cifar::Variant;
use super::Dataset;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Where the Debian package `dataset-fashion-mnist` puts its files.
pub const FASHION_MNIST_DEBIAN: &str = "/usr/share/datasets/fashion-mnist";

/// The committed subset (6,000 train / 1,000 test, MIT licence) used when the
/// Debian package is absent.
pub fn fashion_mnist_subset() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/fashion-mnist-subset")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    Idx,
    Cifar10,
    Cifar100,
    Folder,
}

/// Fashion-MNIST's classes, in label order (Xiao et al. 2017).
pub const FASHION_MNIST_CLASSES: [&str; 10] =
    ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

/// A dataset located on disk.
#[derive(Debug, Clone, Serialize)]
pub struct Source {
    pub name: String,
    pub format: Format,
    pub root: PathBuf,
    pub files: Vec<PathBuf>,
    /// Set when a named dataset was replaced by its committed subset.
    pub note: Option<String>,
    /// A named dataset's class names (the loaders supply the others').
    #[serde(skip_serializing_if = "Option::is_none")]
    pub class_names: Option<Vec<String>>,
}

impl Source {
    /// Parses the files.
    pub fn load(&self) -> Result<Dataset> {
        let mut ds = self.load_files()?;
        if let Some(names) = &self.class_names {
            if names.len() == ds.num_classes {
                ds.class_names = names.clone();
            }
        }
        Ok(ds)
    }

    fn load_files(&self) -> Result<Dataset> {
        match self.format {
            Format::Idx => super::idx::load_dir(&self.name, &self.root),
            Format::Cifar10 => super::cifar::load_dir(&self.name, &self.root, Variant::Cifar10),
            Format::Cifar100 => super::cifar::load_dir(&self.name, &self.root, Variant::Cifar100),
            Format::Folder => super::folder::load_dir(&self.name, &self.root),
        }
    }
}

fn list_files(format: Format, root: &Path) -> Result<Vec<PathBuf>> {
    if !root.exists() {
        return Err(Error::data(root, "dataset folder does not exist"));
    }
    Ok(match format {
        Format::Idx => super::idx::find_layout(root)?.to_vec(),
        Format::Cifar10 => {
            let mut v: Vec<PathBuf> = (1..=5).map(|i| root.join(format!("data_batch_{i}.bin"))).collect();
            v.push(root.join("test_batch.bin"));
            v
        }
        Format::Cifar100 => vec![root.join("train.bin"), root.join("test.bin")],
        Format::Folder => {
            let mut v: Vec<PathBuf> = walkdir::WalkDir::new(root)
                .sort_by_file_name()
                .into_iter()
                .filter_map(|e| e.ok())
                .filter(|e| e.file_type().is_file())
                .map(|e| e.into_path())
                .collect();
            v.sort();
            if v.is_empty() {
                return Err(Error::data(root, "empty folder"));
            }
            v
        }
    })
}

/// Resolves a named dataset or a `path` + `format` (relative paths are taken from
/// the suite file's folder).
pub fn resolve(name: Option<&str>, path: Option<&Path>, format: Option<Format>, spec_dir: &Path) -> Result<Source> {
    let (name, root, format, note) = match (name, path) {
        (_, Some(p)) => {
            let root = if p.is_absolute() { p.to_path_buf() } else { spec_dir.join(p) };
            let format = format.ok_or_else(|| Error::data(&root, "dataset.format is required with dataset.path (idx, cifar10, cifar100 or folder)"))?;
            let name = name.map(str::to_string).unwrap_or_else(|| root.file_name().unwrap_or_default().to_string_lossy().into_owned());
            (name, root, format, None)
        }
        (Some("fashion-mnist"), None) => {
            let deb = Path::new(FASHION_MNIST_DEBIAN);
            if deb.join("train-images-idx3-ubyte.gz").is_file() {
                ("fashion-mnist".to_string(), deb.to_path_buf(), Format::Idx, None)
            } else {
                let sub = fashion_mnist_subset();
                let note = format!(
                    "{FASHION_MNIST_DEBIAN} not found (Debian package dataset-fashion-mnist); using the committed subset at {}",
                    sub.display()
                );
                eprintln!("warning: {note}");
                ("fashion-mnist".to_string(), sub, Format::Idx, Some(note))
            }
        }
        (Some(other), None) => {
            return Err(Error::data(spec_dir, format!("unknown dataset name `{other}`: the named dataset is `fashion-mnist`; give `path` and `format` for others")))
        }
        (None, None) => return Err(Error::data(spec_dir, "dataset needs `name` or `path`")),
    };
    let files = list_files(format, &root)?;
    let class_names = (name == "fashion-mnist" && path.is_none())
        .then(|| FASHION_MNIST_CLASSES.iter().map(|s| s.to_string()).collect());
    Ok(Source { name, format, root, files, note, class_names })
}
