//! Resolving a suite's `dataset:` to files on disk, without reading them.
//!
//! Resolution is cheap (a few `stat`s), so a fully cached run can compute every
//! key from the fingerprint without parsing the data.
use super::cifar::Variant;
use super::image_store::{self, OnBadImage};
use super::listing::Listing;
use super::parquet::Columns;
use super::prep::ImagePrep;
use super::Dataset;
use crate::cache::key::{stage_key, Key};
use crate::cache::store::Store;
use crate::error::{Error, Result};
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
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
    /// CIFAR-100's 20 superclasses (the coarse label byte).
    Cifar100Coarse,
    Folder,
    Csv,
    Parquet,
    Webdataset,
}

impl Format {
    /// Photo formats are decoded once into the image store (`image_store`);
    /// IDX and CIFAR are raw pixels already and are parsed on every run.
    pub fn uses_store(self) -> bool {
        matches!(self, Format::Folder | Format::Csv | Format::Parquet | Format::Webdataset)
    }
}

/// How a photo dataset is read and prepared (the `dataset` fields beyond
/// name, path and format).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PhotoOptions {
    pub image: Option<ImagePrep>,
    pub on_bad_image: OnBadImage,
    pub columns: Columns,
    pub shards: Option<IndexMap<String, String>>,
    pub test_fraction: Option<f64>,
    /// The suite's class names (webdataset labels carry none).
    pub class_names: Option<Vec<String>>,
}

impl PhotoOptions {
    /// The settings that change which images are stored, as they enter the
    /// data split's key: only those that differ from the defaults, so a
    /// dataset that sets none keeps the key it had before they existed.
    pub fn key_fields(&self, format: Format) -> Option<Value> {
        let mut v = serde_json::Map::new();
        if let Some(p) = &self.image {
            v.insert("image".into(), json!({ "prep": p, "numerics": super::prep::VERSION }));
        }
        if self.on_bad_image != OnBadImage::Error {
            v.insert("on_bad_image".into(), json!(self.on_bad_image));
        }
        if matches!(format, Format::Csv | Format::Parquet) && self.columns != Columns::default() {
            v.insert("columns".into(), json!(self.columns));
        }
        if let Some(s) = &self.shards {
            v.insert("shards".into(), json!(s));
        }
        if let Some(f) = self.test_fraction {
            v.insert("test_fraction".into(), json!(f));
        }
        (!v.is_empty()).then_some(Value::Object(v))
    }
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
    #[serde(skip)]
    pub options: PhotoOptions,
}

impl Source {
    /// The folder file names are taken relative to (a CSV manifest's folder).
    pub fn base_dir(&self) -> &Path {
        if self.root.is_file() {
            self.root.parent().unwrap_or(Path::new("."))
        } else {
            &self.root
        }
    }

    /// The labelled images of a photo dataset, before decoding.
    pub fn list(&self) -> Result<Listing> {
        let o = &self.options;
        match self.format {
            Format::Folder => super::folder::list(&self.root),
            Format::Csv => super::csv_manifest::list(&self.root, &o.columns, o.test_fraction),
            Format::Parquet => super::parquet::list(&self.root, &o.columns),
            Format::Webdataset => super::webdataset::list(&self.root, o.shards.as_ref(), o.class_names.clone()),
            other => Err(Error::stage(format!("{other:?} data is not listed as photos"))),
        }
    }

    /// The image store's key: the files' content, the format's settings and the
    /// preprocessing, never the path.
    pub fn store_key(&self, fingerprint: &str) -> Key {
        let mut config = json!({
            "fingerprint": fingerprint,
            "format": self.format,
            "settings": self.options.key_fields(self.format),
            "numerics": image_store::VERSION,
        });
        // A manifest's stores keep its extra columns' values since metadata
        // version 1; older CSV stores (names only) are rebuilt, no other format's key moves.
        if self.format == Format::Csv {
            config["metadata"] = json!(crate::data::metadata::VERSION);
        }
        stage_key("images", &config, &[])
    }

    /// Loads the data. Photo formats are read from their image store in
    /// `store`, built first when absent (decoded in parallel, with a progress
    /// bar when `progress`); the others are parsed.
    pub fn load_in(&self, store: &Store, fingerprint: &str, progress: bool) -> Result<Dataset> {
        if !self.format.uses_store() {
            return self.load();
        }
        let key = self.store_key(fingerprint);
        let open = |e: crate::cache::store::Entry| -> Result<Dataset> {
            let (mut ds, _) = image_store::open(&e.dir, &self.name, self.files.clone())?;
            if let Some(names) = &self.class_names {
                if names.len() == ds.num_classes {
                    ds.class_names = names.clone();
                }
            }
            Ok(ds)
        };
        if let Some(e) = store.get(&key)? {
            return open(e);
        }
        // One builder per store across processes (workers of one suite).
        let _lock = store.lock(&key)?;
        if let Some(e) = store.get(&key)? {
            return open(e);
        }
        let listing = self.list()?;
        let settings = image_store::BuildSettings {
            prep: self.options.image.as_ref(),
            on_bad_image: self.options.on_bad_image,
            parquet_columns: self.options.columns.clone(),
            progress,
        };
        let t = std::time::Instant::now();
        let info = json!({ "dataset": self.name, "format": self.format, "settings": self.options.key_fields(self.format), "images": listing.len() });
        let entry = store.put_hashed(&key, "images", info, false, |dir| {
            let (_, hashes) = image_store::build(&listing, &settings, dir)?;
            Ok((t.elapsed().as_secs_f64(), hashes))
        })?;
        open(entry)
    }

    /// Parses IDX or CIFAR files (photo formats need `load_in`).
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
            Format::Cifar100Coarse => super::cifar::load_dir(&self.name, &self.root, Variant::Cifar100Coarse),
            other => Err(Error::stage(format!("{other:?} data is read through the image store (Source::load_in)"))),
        }
    }
}

fn list_files(format: Format, root: &Path, options: &PhotoOptions) -> Result<Vec<PathBuf>> {
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
        Format::Cifar100 | Format::Cifar100Coarse => vec![root.join("train.bin"), root.join("test.bin")],
        Format::Csv => {
            // The manifest and every image it names (a stat each; reading the
            // CSV is cheap beside hashing the images, which is memoized).
            let l = super::csv_manifest::list(root, &options.columns, options.test_fraction)?;
            let mut v: Vec<PathBuf> = [&l.train, &l.val, &l.test]
                .iter()
                .flat_map(|p| p.iter())
                .filter_map(|i| match &i.loc {
                    super::listing::Loc::File(p) => Some(p.clone()),
                    _ => None,
                })
                .collect();
            v.sort();
            v.dedup();
            v.insert(0, root.to_path_buf());
            v
        }
        Format::Parquet => super::parquet::files(root)?.into_iter().map(|(p, _)| p).collect(),
        Format::Webdataset => super::webdataset::all_files(root, options.shards.as_ref())?,
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
pub fn resolve(
    name: Option<&str>,
    path: Option<&Path>,
    format: Option<Format>,
    options: PhotoOptions,
    spec_dir: &Path,
) -> Result<Source> {
    let (name, root, format, note) = match (name, path) {
        (_, Some(p)) => {
            let root = if p.is_absolute() { p.to_path_buf() } else { spec_dir.join(p) };
            let format = format.ok_or_else(|| Error::data(&root, "dataset.format is required with dataset.path (idx, cifar10, cifar100, cifar100-coarse, folder, csv, parquet or webdataset)"))?;
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
    let files = list_files(format, &root, &options)?;
    let class_names = (name == "fashion-mnist" && path.is_none())
        .then(|| FASHION_MNIST_CLASSES.iter().map(|s| s.to_string()).collect());
    Ok(Source { name, format, root, files, note, class_names, options })
}
