//! The decoded image store: a dataset's images decoded once, prepared
//! (`dataset.image:`), and written as raw `u8` C×H×W rows that later runs map
//! into memory instead of decoding again (FFCV's idea, without its C
//! libraries). Pages of a mapped file are the kernel's page cache, not the
//! process's anonymous memory, so a run's memory does not grow with the
//! dataset; only the pages a stage touches are read.
//!
//! Layout of an entry (built inside `cache::Store::put`, so a killed build
//! leaves nothing behind): `store.json` (shape, counts, class names, skipped
//! images), `train.u8` (the official validation part's images, when the data
//! ships one, follow the training images), `test.u8`, `train.labels` /
//! `test.labels` as little-endian `i64`, and for a manifest with extra
//! columns `train.meta` / `test.meta` (their coded values, `metadata.rs`).
use super::decode;
use super::listing::{Item, Listing, Loc, Part};
use super::prep::ImagePrep;
use super::{Dataset, ImageSet, Pixels};
use crate::error::{Error, IoContext, Result};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Version of the store's layout and decoding; it enters the store's key.
pub const VERSION: u32 = 1;

/// `dataset.on_bad_image`: an image that cannot be decoded stops the run
/// (`error`, the default) or is left out and counted (`skip`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnBadImage {
    #[default]
    Error,
    Skip,
}

/// An image left out under `on_bad_image: skip`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Skipped {
    pub part: String,
    pub origin: String,
    pub error: String,
}

/// `store.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoreInfo {
    pub version: u32,
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    pub class_names: Vec<String>,
    pub train: usize,
    /// Official validation images, stored after the `train` ones in `train.u8`.
    pub val: usize,
    pub test: usize,
    pub skipped: Vec<Skipped>,
    /// The names of a manifest's extra columns; their per-image codes are in
    /// `train.meta` / `test.meta`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub meta_columns: Vec<String>,
    /// Each extra column's values, in code order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub meta_values: Vec<Vec<String>>,
}

/// How every image becomes a stored row: prepared by `dataset.image`, or, without
/// one, kept at its size, which must then be the same for all.
enum Shape {
    Prepared(ImagePrep),
    Native { channels: u8, width: u32, height: u32, first: String },
}

impl Shape {
    fn dims(&self) -> (usize, usize, usize) {
        match self {
            Shape::Prepared(p) => (p.channels as usize, p.size as usize, p.size as usize),
            Shape::Native { channels, width, height, .. } => (*channels as usize, *height as usize, *width as usize),
        }
    }

    fn decode(&self, origin: &str, bytes: &[u8]) -> Result<Vec<u8>> {
        match self {
            Shape::Prepared(p) => {
                // The shorter side the resize needs: `resize` with a crop, `size` without.
                let need = if p.crop == super::prep::Crop::None { p.size } else { p.resize_to() };
                let dct = p.jpeg_dct_scaling.then_some(need);
                p.apply(decode::decode(origin, bytes, dct)?).map_err(|e| Error::data(origin, e.to_string()))
            }
            Shape::Native { channels, width, height, first } => {
                let img = decode::decode_full(origin, bytes)?;
                if (img.width(), img.height()) != (*width, *height) {
                    return Err(Error::data(
                        origin,
                        format!(
                            "image is {}x{} but the first image ({first}) is {width}x{height}; to resize and crop every image to one size, add to `dataset`:\n    image: {{size: {s}, resize: {r}}}   # torchvision Resize({r}) + CenterCrop({s})",
                            img.width(),
                            img.height(),
                            s = suggested_size(*width, *height),
                            r = suggested_size(*width, *height) * 8 / 7,
                        ),
                    ));
                }
                Ok(super::prep::hwc_to_chw(&super::prep::into_channels(img, *channels), *channels as usize))
            }
        }
    }
}

fn suggested_size(w: u32, h: u32) -> u32 {
    let s = w.min(h);
    if s >= 224 {
        224
    } else {
        s.max(8)
    }
}

/// Reads an item's bytes; parquet rows come from `rows`, the image column of
/// the parquet file being written (one file in memory at a time).
fn bytes_of(item: &Item, rows: &ParquetRows) -> Result<Vec<u8>> {
    match &item.loc {
        Loc::Row { file, row } => rows.get(file, *row),
        other => other.read(),
    }
}

/// The image column of the parquet file currently being stored.
#[derive(Default)]
struct ParquetRows {
    file: Option<Arc<Path>>,
    rows: Vec<Option<Vec<u8>>>,
}

impl ParquetRows {
    fn load_for(&mut self, chunk: &[Item], column: &super::parquet::Columns) -> Result<()> {
        for it in chunk {
            if let Loc::Row { file, .. } = &it.loc {
                if self.file.as_deref() != Some(file.as_ref()) {
                    self.rows = super::parquet::read_image_bytes(file, column)?;
                    self.file = Some(file.clone());
                }
            }
        }
        Ok(())
    }

    fn get(&self, file: &Path, row: usize) -> Result<Vec<u8>> {
        match self.rows.get(row) {
            Some(Some(b)) if self.file.as_deref() == Some(file) => Ok(b.clone()),
            Some(None) => Err(Error::data(file, format!("row {row}: the image has no bytes (null)"))),
            _ => Err(Error::data(file, format!("row {row}: not in the image column"))),
        }
    }
}

/// What the store is built from and how.
pub struct BuildSettings<'a> {
    pub prep: Option<&'a ImagePrep>,
    pub on_bad_image: OnBadImage,
    pub parquet_columns: super::parquet::Columns,
    /// Draw a progress bar (images/s, ETA) on stderr.
    pub progress: bool,
}

/// A file of the store being written, hashed as it is written (the cache
/// records every file's sha256; reading gigabytes back to hash them would
/// cost as much as a third of the decode).
struct HashedFile {
    path: PathBuf,
    out: BufWriter<std::fs::File>,
    hash: Sha256,
}

impl HashedFile {
    fn create(path: PathBuf) -> Result<HashedFile> {
        let f = std::fs::File::create(&path).at(&path)?;
        Ok(HashedFile { out: BufWriter::with_capacity(1 << 20, f), path, hash: Sha256::new() })
    }

    fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.hash.update(bytes);
        self.out.write_all(bytes).at(&self.path)
    }

    fn finish(mut self) -> Result<(String, String)> {
        self.out.flush().at(&self.path)?;
        let name = self.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        Ok((name, hex::encode(self.hash.finalize())))
    }
}

/// A decoded chunk on its way to the writer thread: which file, and each
/// image's pixels (or why it was left out) with its label.
type Decoded = (usize, Vec<(Result<Vec<u8>>, i64, String, Part, Vec<String>)>);

/// What the writer thread returns: the skipped images, the images stored per
/// part, each written file's sha256, and each metadata column's values.
type Written = (Vec<Skipped>, [usize; 3], BTreeMap<String, String>, Vec<Vec<String>>);

/// Decodes every listed image into `dir` (a fresh folder the cache moves into
/// place when this returns), in parallel over all cores, while a writer
/// thread writes (and hashes) the previous chunk. Returns the store's
/// description and the sha256 of its pixel and label files.
pub fn build(listing: &Listing, settings: &BuildSettings, dir: &Path) -> Result<(StoreInfo, BTreeMap<String, String>)> {
    let shape = match settings.prep {
        Some(p) => Shape::Prepared(p.clone()),
        None => native_shape(listing, settings)?,
    };
    let (channels, height, width) = shape.dims();
    let bar = progress_bar(listing.len() as u64, settings.progress);
    let on_bad = settings.on_bad_image;
    let files = ["train", "test"];
    let meta_columns = listing.meta_columns.len();
    let (tx, rx) = std::sync::mpsc::sync_channel::<Decoded>(2);
    let writer = {
        let dir = dir.to_path_buf();
        std::thread::spawn(move || -> Result<Written> {
            let create = |ext: &str| -> Result<Vec<HashedFile>> {
                files.iter().map(|f| HashedFile::create(dir.join(format!("{f}.{ext}")))).collect()
            };
            let (mut pixels, mut labels) = (create("u8")?, create("labels")?);
            let mut meta = if meta_columns > 0 { create("meta")? } else { Vec::new() };
            let mut coder = super::metadata::Coder::new(meta_columns);
            let (mut skipped, mut counts) = (Vec::new(), [0usize; 3]);
            for (file, chunk) in rx {
                for (decoded, label, origin, part, values) in chunk {
                    match decoded {
                        Ok(px) => {
                            pixels[file].write(&px)?;
                            labels[file].write(&label.to_le_bytes())?;
                            if let Some(m) = meta.get_mut(file) {
                                m.write(&coder.encode(&values))?;
                            }
                            counts[part as usize] += 1;
                        }
                        Err(e) if on_bad == OnBadImage::Skip => {
                            let text = e.to_string();
                            let error = text.strip_prefix(&format!("{origin}: ")).unwrap_or(&text).to_string();
                            skipped.push(Skipped { part: part.name().into(), origin, error })
                        }
                        Err(e) => return Err(e),
                    }
                }
            }
            let hashes = pixels.into_iter().chain(labels).chain(meta).map(HashedFile::finish).collect::<Result<_>>()?;
            Ok((skipped, counts, hashes, coder.into_values()))
        })
    };
    let mut rows = ParquetRows::default();
    let mut sent: Result<()> = Ok(());
    'parts: for (file, parts) in [(0usize, &[Part::Train, Part::Val][..]), (1, &[Part::Test][..])] {
        for &part in parts {
            for chunk in listing.part(part).chunks(256) {
                if let Err(e) = rows.load_for(chunk, &settings.parquet_columns) {
                    sent = Err(e);
                    break 'parts;
                }
                let decoded: Vec<_> = chunk
                    .par_iter()
                    .map(|it| {
                        let origin = it.loc.to_string();
                        let px = bytes_of(it, &rows).and_then(|b| shape.decode(&origin, &b));
                        (px, it.label, origin, part, it.meta.clone())
                    })
                    .collect();
                // A closed channel: the writer stopped on an error, reported below.
                if tx.send((file, decoded)).is_err() {
                    break 'parts;
                }
                bar.inc(chunk.len() as u64);
                if crate::runtime::interrupt::requested() {
                    sent = Err(Error::Interrupted);
                    break 'parts;
                }
            }
        }
    }
    drop(tx);
    let written = writer.join().map_err(|_| Error::stage("the image store's writer thread panicked"))?;
    sent?;
    let (skipped, counts, hashes, meta_values) = written?;
    bar.finish_and_clear();
    let info = StoreInfo {
        version: VERSION,
        channels,
        height,
        width,
        class_names: listing.class_names.clone(),
        train: counts[Part::Train as usize],
        val: counts[Part::Val as usize],
        test: counts[Part::Test as usize],
        skipped,
        meta_columns: listing.meta_columns.clone(),
        meta_values,
    };
    if info.train == 0 || info.test == 0 {
        return Err(Error::stage(format!(
            "every {} image was skipped as undecodable ({} skipped in all)",
            if info.train == 0 { "train" } else { "test" },
            info.skipped.len()
        )));
    }
    crate::files::write_json(&dir.join("store.json"), &info)?;
    Ok((info, hashes))
}

/// Without `image:`, the first training image fixes the size and the channels
/// (RGB when it has colour, else gray).
fn native_shape(listing: &Listing, settings: &BuildSettings) -> Result<Shape> {
    let mut rows = ParquetRows::default();
    let first = listing.train.first().ok_or_else(|| Error::stage("no training image"))?;
    rows.load_for(std::slice::from_ref(first), &settings.parquet_columns)?;
    let origin = first.loc.to_string();
    let img = decode::decode_full(&origin, &bytes_of(first, &rows)?)?;
    let channels = if img.color().has_color() { 3 } else { 1 };
    Ok(Shape::Native { channels, width: img.width(), height: img.height(), first: origin })
}

fn progress_bar(n: u64, show: bool) -> indicatif::ProgressBar {
    if !show {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::with_draw_target(Some(n), indicatif::ProgressDrawTarget::stderr());
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("decoding images {bar:30} {pos}/{len} {per_sec} ETA {eta}")
    {
        bar.set_style(style);
    }
    bar
}

/// Maps a built store: the images stay in the page cache, the labels are read.
pub fn open(dir: &Path, name: &str, files: Vec<PathBuf>) -> Result<(Dataset, StoreInfo)> {
    let info: StoreInfo = crate::files::read_json(&dir.join("store.json"))?;
    let part = |file: &str, n: usize| -> Result<ImageSet> {
        let d = info.channels * info.height * info.width;
        let px = dir.join(format!("{file}.u8"));
        let pixels = Pixels::map(&px)?;
        let labels_path = dir.join(format!("{file}.labels"));
        let raw = std::fs::read(&labels_path).at(&labels_path)?;
        let labels: Vec<i64> =
            raw.chunks_exact(8).map(|b| i64::from_le_bytes(b.try_into().unwrap_or([0; 8]))).collect();
        if pixels.len() != n * d || labels.len() != n {
            return Err(Error::Cache {
                path: dir.to_path_buf(),
                msg: format!("{file}: {} bytes and {} labels for {n} images of {d} bytes", pixels.len(), labels.len()),
            });
        }
        Ok(ImageSet {
            images: pixels,
            labels,
            channels: info.channels,
            height: info.height,
            width: info.width,
            subset_of: None,
        })
    };
    let train = part("train", info.train + info.val)?;
    let test = part("test", info.test)?;
    let official_val = (info.val > 0).then(|| info.train..info.train + info.val);
    let metadata = if info.meta_columns.is_empty() {
        None
    } else {
        let rows = (info.train + info.val, info.test);
        Some(Arc::new(super::metadata::Metadata::read(dir, &info.meta_columns, &info.meta_values, rows)?))
    };
    let ds = Dataset {
        name: name.to_string(),
        train,
        test,
        num_classes: info.class_names.len(),
        class_names: info.class_names.clone(),
        files,
        official_val,
        metadata,
    };
    Ok((ds, info))
}
