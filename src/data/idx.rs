//! IDX files (MNIST, Fashion-MNIST, KMNIST), raw or gzip-compressed.
//!
//! Format: a 4-byte magic `00 00 TT DD` (TT = 0x08 for unsigned bytes, DD = number
//! of dimensions), DD big-endian u32 sizes, then the data. Sizes in the header are
//! checked against the bytes actually present before anything is allocated from
//! them, so a hostile header cannot make us allocate gigabytes.
use super::ImageSet;
use crate::error::{Error, IoContext, Result};
use flate2::read::GzDecoder;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Reads a whole file, un-gzipping when it starts with the gzip magic.
///
/// Decompressed size is capped (`max_bytes`) so a gzip bomb fails cleanly.
pub fn read_maybe_gz(path: &Path, max_bytes: u64) -> Result<Vec<u8>> {
    let raw = std::fs::read(path).at(path)?;
    decompress_maybe_gz(path, raw, max_bytes)
}

/// The bytes of a file as read, gunzipped when they start with the gzip magic
/// (`path` only names errors).
pub fn decompress_maybe_gz(path: &Path, raw: Vec<u8>, max_bytes: u64) -> Result<Vec<u8>> {
    if raw.len() >= 2 && raw[0] == 0x1f && raw[1] == 0x8b {
        let mut out = Vec::new();
        let mut dec = GzDecoder::new(&raw[..]).take(max_bytes + 1);
        dec.read_to_end(&mut out).map_err(|e| Error::data(path, format!("corrupt gzip stream: {e}")))?;
        if out.len() as u64 > max_bytes {
            return Err(Error::data(path, format!("decompresses to more than {max_bytes} bytes")));
        }
        Ok(out)
    } else {
        Ok(raw)
    }
}

/// Parses an IDX header and returns (dims, offset of the data). Checks the declared
/// size against `bytes.len()`.
pub fn parse_header(path: &Path, bytes: &[u8]) -> Result<(Vec<usize>, usize)> {
    if bytes.len() < 4 {
        return Err(Error::data(path, format!("truncated: {} bytes, too short for an IDX header", bytes.len())));
    }
    if bytes[0] != 0 || bytes[1] != 0 {
        return Err(Error::data(
            path,
            format!(
                "wrong magic number {:02x}{:02x}{:02x}{:02x}: not an IDX file",
                bytes[0], bytes[1], bytes[2], bytes[3]
            ),
        ));
    }
    if bytes[2] != 0x08 {
        return Err(Error::data(
            path,
            format!("IDX element type 0x{:02x} is not supported (only unsigned bytes, 0x08)", bytes[2]),
        ));
    }
    let ndim = bytes[3] as usize;
    if ndim == 0 || ndim > 4 {
        return Err(Error::data(path, format!("IDX header declares {ndim} dimensions; expected 1 to 4")));
    }
    let offset = 4 + 4 * ndim;
    if bytes.len() < offset {
        return Err(Error::data(path, format!("truncated: header needs {offset} bytes, file has {}", bytes.len())));
    }
    let dims: Vec<usize> =
        (0..ndim).map(|i| u32::from_be_bytes(bytes[4 + 4 * i..8 + 4 * i].try_into().unwrap()) as usize).collect();
    let declared = dims.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d as u64));
    let have = (bytes.len() - offset) as u64;
    match declared {
        Some(n) if n == have => Ok((dims, offset)),
        Some(n) if n > have => Err(Error::data(
            path,
            format!("truncated: header declares {dims:?} = {n} bytes of data but the file holds {have}"),
        )),
        Some(n) => Err(Error::data(
            path,
            format!("header declares {dims:?} = {n} bytes of data but the file holds {have} (trailing bytes)"),
        )),
        None => Err(Error::data(path, format!("header declares an impossible size {dims:?}"))),
    }
}

/// Reads an images file (3 dims: N×H×W) and a labels file (1 dim: N).
pub fn read_pair(images: &Path, labels: &Path) -> Result<ImageSet> {
    // 2 GiB is far beyond any IDX dataset; it bounds what a gzip bomb can cost.
    const MAX: u64 = 2 << 30;
    let ib = read_maybe_gz(images, MAX)?;
    let (idims, ioff) = parse_header(images, &ib)?;
    if idims.len() != 3 {
        return Err(Error::data(
            images,
            format!("an images file has 3 dimensions (N×H×W); this one has {}", idims.len()),
        ));
    }
    if idims[1] == 0 || idims[2] == 0 {
        return Err(Error::data(images, format!("image size {}x{} is empty", idims[1], idims[2])));
    }
    let lb = read_maybe_gz(labels, MAX)?;
    let (ldims, loff) = parse_header(labels, &lb)?;
    if ldims.len() != 1 {
        return Err(Error::data(labels, format!("a labels file has 1 dimension; this one has {}", ldims.len())));
    }
    if ldims[0] != idims[0] {
        return Err(Error::data(
            labels,
            format!("{} labels but {} holds {} images", ldims[0], images.display(), idims[0]),
        ));
    }
    if idims[0] == 0 {
        return Err(Error::data(images, "holds no images"));
    }
    let mut ib = ib;
    ib.drain(..ioff);
    Ok(ImageSet {
        images: ib.into(),
        labels: lb[loff..].iter().map(|&b| b as i64).collect(),
        channels: 1,
        height: idims[1],
        width: idims[2],
        subset_of: None,
    })
}

/// Finds the four files of the MNIST layout in `dir`, `.gz` or raw.
pub fn find_layout(dir: &Path) -> Result<[PathBuf; 4]> {
    let stems = [
        &["train-images-idx3-ubyte", "train-images.idx3-ubyte"][..],
        &["train-labels-idx1-ubyte", "train-labels.idx1-ubyte"][..],
        &["t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte", "test-images-idx3-ubyte"][..],
        &["t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte", "test-labels-idx1-ubyte"][..],
    ];
    let mut out: Vec<PathBuf> = Vec::new();
    for names in stems {
        let found = names.iter().flat_map(|n| [dir.join(format!("{n}.gz")), dir.join(n)]).find(|p| p.is_file());
        match found {
            Some(p) => out.push(p),
            None => return Err(Error::data(dir, format!("no IDX file named {} (or .gz) in this folder", names[0]))),
        }
    }
    Ok([out[0].clone(), out[1].clone(), out[2].clone(), out[3].clone()])
}

/// Loads a dataset in the MNIST layout from `dir`.
pub fn load_dir(name: &str, dir: &Path) -> Result<super::Dataset> {
    let [tri, trl, tei, tel] = find_layout(dir)?;
    let train = read_pair(&tri, &trl)?;
    let test = read_pair(&tei, &tel)?;
    super::check_same_shape(name, &train, &test)?;
    super::check_test_labels(&train, &test, &tel)?;
    let num_classes = super::count_classes(&[&train, &test]);
    let class_names = super::default_class_names(num_classes);
    Ok(super::Dataset {
        name: name.to_string(),
        train,
        test,
        num_classes,
        class_names,
        files: vec![tri, trl, tei, tel],
        official_val: None,
        metadata: None,
    })
}

/// Writes an IDX file (used by tests and by the subset tool).
pub fn write(path: &Path, dims: &[u32], data: &[u8]) -> Result<()> {
    let mut buf = vec![0u8, 0, 0x08, dims.len() as u8];
    for d in dims {
        buf.extend_from_slice(&d.to_be_bytes());
    }
    buf.extend_from_slice(data);
    std::fs::write(path, buf).at(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn idx(dims: &[u32], data: &[u8]) -> Vec<u8> {
        let mut b = vec![0, 0, 8, dims.len() as u8];
        for d in dims {
            b.extend_from_slice(&d.to_be_bytes());
        }
        b.extend_from_slice(data);
        b
    }

    fn pair(dir: &Path, images: &[u8], labels: &[u8]) -> Result<ImageSet> {
        let (i, l) = (dir.join("img"), dir.join("lab"));
        std::fs::write(&i, images).unwrap();
        std::fs::write(&l, labels).unwrap();
        read_pair(&i, &l)
    }

    fn err(r: Result<ImageSet>) -> String {
        r.unwrap_err().to_string()
    }

    #[test]
    fn a_test_label_no_training_image_carries_is_refused_with_file_label_and_count() {
        let d = tempfile::tempdir().unwrap();
        let img = |n: u32| idx(&[n, 1, 1], &vec![0; n as usize]);
        std::fs::write(d.path().join("train-images-idx3-ubyte"), img(4)).unwrap();
        std::fs::write(d.path().join("train-labels-idx1-ubyte"), idx(&[4], &[0, 1, 2, 1])).unwrap();
        std::fs::write(d.path().join("t10k-images-idx3-ubyte"), img(5)).unwrap();
        std::fs::write(d.path().join("t10k-labels-idx1-ubyte"), idx(&[5], &[0, 7, 1, 7, 7])).unwrap();
        let e = load_dir("tiny", d.path()).unwrap_err().to_string();
        assert!(e.contains("t10k-labels-idx1-ubyte") && e.contains("label 7 is carried by 3 test images"), "{e}");
        assert!(e.contains("training labels: 0..=2"), "{e}");
        std::fs::write(d.path().join("t10k-labels-idx1-ubyte"), idx(&[5], &[0, 2, 1, 2, 2])).unwrap();
        assert_eq!(load_dir("tiny", d.path()).unwrap().num_classes, 3);
    }

    #[test]
    fn reads_raw_and_gzip() {
        let d = tempfile::tempdir().unwrap();
        let img = idx(&[2, 2, 3], &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
        let s = pair(d.path(), &img, &idx(&[2], &[3, 9])).unwrap();
        assert_eq!((s.len(), s.height, s.width, s.channels), (2, 2, 3, 1));
        assert_eq!(s.labels, vec![3, 9]);
        assert_eq!(s.images[6..], [7, 8, 9, 10, 11, 12]);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&img).unwrap();
        let s2 = pair(d.path(), &gz.finish().unwrap(), &idx(&[2], &[3, 9])).unwrap();
        assert_eq!(*s.images, *s2.images);
    }

    #[test]
    fn wrong_magic() {
        let d = tempfile::tempdir().unwrap();
        let mut img = idx(&[1, 1, 1], &[0]);
        img[0] = 0x42;
        let e = err(pair(d.path(), &img, &idx(&[1], &[0])));
        assert!(e.contains("img") && e.contains("wrong magic number"), "{e}");
        let mut img = idx(&[1, 1, 1], &[0]);
        img[2] = 0x0D;
        assert!(err(pair(d.path(), &img, &idx(&[1], &[0]))).contains("element type"));
    }

    #[test]
    fn truncated_file_and_header() {
        let d = tempfile::tempdir().unwrap();
        let e = err(pair(d.path(), &idx(&[3, 2, 2], &[0; 8]), &idx(&[3], &[0; 3])));
        assert!(e.contains("truncated") && e.contains("12 bytes of data but the file holds 8"), "{e}");
        let e = err(pair(d.path(), &[0, 0, 8, 3, 0, 0], &idx(&[1], &[0])));
        assert!(e.contains("truncated: header needs 16 bytes"), "{e}");
        let e = err(pair(d.path(), &[0, 0], &idx(&[1], &[0])));
        assert!(e.contains("too short"), "{e}");
    }

    #[test]
    fn header_declaring_huge_size_is_refused_before_allocating() {
        let d = tempfile::tempdir().unwrap();
        // 4e9 × 4e9 × 4e9 bytes would overflow; 60000×65535×65535 would be 257 TB.
        let e = err(pair(d.path(), &idx(&[u32::MAX, u32::MAX, u32::MAX], &[1, 2, 3]), &idx(&[1], &[0])));
        assert!(e.contains("impossible size") || e.contains("truncated"), "{e}");
        let e = err(pair(d.path(), &idx(&[60000, 65535, 65535], &[1, 2, 3]), &idx(&[1], &[0])));
        assert!(e.contains("truncated"), "{e}");
    }

    #[test]
    fn count_mismatch_and_wrong_dims() {
        let d = tempfile::tempdir().unwrap();
        let e = err(pair(d.path(), &idx(&[2, 1, 1], &[0, 0]), &idx(&[3], &[0, 0, 0])));
        assert!(e.contains("lab") && e.contains("3 labels but") && e.contains("2 images"), "{e}");
        let e = err(pair(d.path(), &idx(&[2, 1], &[0, 0]), &idx(&[2], &[0, 0])));
        assert!(e.contains("3 dimensions"), "{e}");
        let e = err(pair(d.path(), &idx(&[0, 2, 2], &[]), &idx(&[0], &[])));
        assert!(e.contains("no images"), "{e}");
    }

    #[test]
    fn corrupt_gzip() {
        let d = tempfile::tempdir().unwrap();
        let e = err(pair(d.path(), &[0x1f, 0x8b, 8, 0, 1, 2, 3], &idx(&[1], &[0])));
        assert!(e.contains("corrupt gzip"), "{e}");
    }
}
