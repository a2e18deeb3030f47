//! CIFAR-10 / CIFAR-100 binary batches.
//!
//! CIFAR-10: records of 1 label byte + 3072 image bytes (3×32×32, channel-major),
//! files `data_batch_{1..5}.bin` and `test_batch.bin`. CIFAR-100: 2 label bytes
//! (coarse, fine) + 3072, files `train.bin` and `test.bin`: format `cifar100`
//! reads the 100 fine labels, `cifar100-coarse` the 20 superclasses.
use super::{Dataset, ImageSet};
use crate::error::{Error, IoContext, Result};
use std::path::{Path, PathBuf};

const IMAGE_BYTES: usize = 3 * 32 * 32;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    Cifar10,
    Cifar100,
    Cifar100Coarse,
}

impl Variant {
    fn label_bytes(self) -> usize {
        match self {
            Variant::Cifar10 => 1,
            Variant::Cifar100 | Variant::Cifar100Coarse => 2,
        }
    }
    /// Which of the label bytes is the label.
    fn label_index(self) -> usize {
        match self {
            Variant::Cifar10 | Variant::Cifar100Coarse => 0,
            Variant::Cifar100 => 1,
        }
    }
    fn classes(self) -> usize {
        match self {
            Variant::Cifar10 => 10,
            Variant::Cifar100 => 100,
            Variant::Cifar100Coarse => 20,
        }
    }
    fn max_label(self) -> u8 {
        (self.classes() - 1) as u8
    }
}

/// Parses the records of one batch file and appends them to `set`.
pub fn read_batch(path: &Path, variant: Variant, set: &mut ImageSet) -> Result<()> {
    let bytes = std::fs::read(path).at(path)?;
    parse_batch(path, &bytes, variant, set)
}

/// Parses an in-memory batch (`path` only names it in errors).
pub fn parse_batch(path: &Path, bytes: &[u8], variant: Variant, set: &mut ImageSet) -> Result<()> {
    let rec = variant.label_bytes() + IMAGE_BYTES;
    if bytes.is_empty() {
        return Err(Error::data(path, "empty file: a CIFAR batch holds at least one record"));
    }
    if !bytes.len().is_multiple_of(rec) {
        return Err(Error::data(
            path,
            format!(
                "truncated: {} bytes is not a whole number of {rec}-byte records ({} full records and {} bytes over)",
                bytes.len(),
                bytes.len() / rec,
                bytes.len() % rec
            ),
        ));
    }
    let n = bytes.len() / rec;
    let images = set.images.owned_mut();
    images.reserve(n * IMAGE_BYTES);
    for (i, r) in bytes.chunks_exact(rec).enumerate() {
        let label = r[variant.label_index()];
        if label > variant.max_label() {
            return Err(Error::data(
                path,
                format!("record {i}: label {label} is out of range for {variant:?} (0..={})", variant.max_label()),
            ));
        }
        set.labels.push(label as i64);
        images.extend_from_slice(&r[variant.label_bytes()..]);
    }
    Ok(())
}

fn empty() -> ImageSet {
    ImageSet { images: Vec::new().into(), labels: Vec::new(), channels: 3, height: 32, width: 32, subset_of: None }
}

/// Loads a CIFAR folder (the `cifar-10-batches-bin` or `cifar-100-binary` layout).
pub fn load_dir(name: &str, dir: &Path, variant: Variant) -> Result<Dataset> {
    let (train_files, test_files): (Vec<PathBuf>, Vec<PathBuf>) = match variant {
        Variant::Cifar10 => {
            ((1..=5).map(|i| dir.join(format!("data_batch_{i}.bin"))).collect(), vec![dir.join("test_batch.bin")])
        }
        Variant::Cifar100 | Variant::Cifar100Coarse => (vec![dir.join("train.bin")], vec![dir.join("test.bin")]),
    };
    let mut train = empty();
    for f in &train_files {
        read_batch(f, variant, &mut train)?;
    }
    let mut test = empty();
    for f in &test_files {
        read_batch(f, variant, &mut test)?;
    }
    let num_classes = variant.classes();
    let files = train_files.into_iter().chain(test_files).collect();
    let class_names = class_names(dir, variant, num_classes)?;
    Ok(Dataset {
        name: name.to_string(),
        train,
        test,
        num_classes,
        class_names,
        files,
        official_val: None,
        metadata: None,
    })
}

/// CIFAR-10's classes, in label order (the dataset's `batches.meta.txt`).
pub const CIFAR10_CLASSES: [&str; 10] =
    ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"];

/// The class names the binary distribution ships beside the batches
/// (`batches.meta.txt` for CIFAR-10, `fine_label_names.txt` for CIFAR-100, one
/// per line); without that file, CIFAR-10's known names or `class k`.
fn class_names(dir: &Path, variant: Variant, k: usize) -> Result<Vec<String>> {
    let meta = dir.join(match variant {
        Variant::Cifar10 => "batches.meta.txt",
        Variant::Cifar100 => "fine_label_names.txt",
        Variant::Cifar100Coarse => "coarse_label_names.txt",
    });
    if meta.is_file() {
        let text = std::fs::read_to_string(&meta).map_err(|e| crate::error::Error::data(&meta, e.to_string()))?;
        let names: Vec<String> = text.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_string).collect();
        if names.len() != k {
            return Err(crate::error::Error::data(
                &meta,
                format!("lists {} class names; the format has {k} classes", names.len()),
            ));
        }
        return Ok(names);
    }
    Ok(match variant {
        Variant::Cifar10 => CIFAR10_CLASSES.iter().map(|s| s.to_string()).collect(),
        Variant::Cifar100 | Variant::Cifar100Coarse => super::default_class_names(k),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(label: &[u8], fill: u8) -> Vec<u8> {
        let mut r = label.to_vec();
        r.extend(std::iter::repeat_n(fill, IMAGE_BYTES));
        r
    }

    #[test]
    fn parses_cifar10_and_cifar100_records() {
        let mut set = empty();
        let bytes = [record(&[3], 7), record(&[9], 8)].concat();
        parse_batch(Path::new("b.bin"), &bytes, Variant::Cifar10, &mut set).unwrap();
        assert_eq!(set.labels, vec![3, 9]);
        assert_eq!(set.images.len(), 2 * IMAGE_BYTES);
        assert_eq!(set.images[IMAGE_BYTES], 8);
        let mut set = empty();
        parse_batch(Path::new("t.bin"), &record(&[1, 42], 0), Variant::Cifar100, &mut set).unwrap();
        assert_eq!(set.labels, vec![42], "the fine label is used");
        let mut set = empty();
        parse_batch(Path::new("t.bin"), &record(&[19, 42], 0), Variant::Cifar100Coarse, &mut set).unwrap();
        assert_eq!(set.labels, vec![19], "the coarse label is used");
        let e = parse_batch(Path::new("t.bin"), &record(&[20, 42], 0), Variant::Cifar100Coarse, &mut set);
        assert!(e.unwrap_err().to_string().contains("label 20 is out of range"));
    }

    #[test]
    fn rejects_truncated_empty_and_bad_labels() {
        let mut set = empty();
        let mut bytes = record(&[3], 7);
        bytes.pop();
        let e = parse_batch(Path::new("b.bin"), &bytes, Variant::Cifar10, &mut set).unwrap_err().to_string();
        assert!(e.starts_with("b.bin: truncated"), "{e}");
        let e = parse_batch(Path::new("e.bin"), &[], Variant::Cifar10, &mut set).unwrap_err().to_string();
        assert!(e.contains("empty file"), "{e}");
        let e = parse_batch(Path::new("l.bin"), &record(&[10], 0), Variant::Cifar10, &mut set).unwrap_err().to_string();
        assert!(e.contains("label 10 is out of range"), "{e}");
    }

    #[test]
    fn missing_batch_file_is_named() {
        let d = tempfile::tempdir().unwrap();
        let e = load_dir("c", d.path(), Variant::Cifar10).unwrap_err().to_string();
        assert!(e.contains("data_batch_1.bin"), "{e}");
    }
}
