//! Image folders: `<root>/<split>/<class>/<image>.png|jpg`, one subfolder per class.
//!
//! Class indices follow the sorted class-folder names, so they do not depend on the
//! order the filesystem lists them in. Every image is converted to the channel count
//! of the first one (gray or RGB) and must have the same size.
use super::{Dataset, ImageSet};
use crate::error::{Error, Result};
use std::path::{Path, PathBuf};
use walkdir::WalkDir;

fn is_image(p: &Path) -> bool {
    matches!(
        p.extension().and_then(|e| e.to_str()).map(|e| e.to_ascii_lowercase()).as_deref(),
        Some("png" | "jpg" | "jpeg")
    )
}

/// Class folder names in `dir`, sorted.
fn class_dirs(dir: &Path) -> Result<Vec<PathBuf>> {
    let rd = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    let mut out: Vec<PathBuf> = rd.filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.is_dir()).collect();
    out.sort();
    if out.is_empty() {
        return Err(Error::data(dir, "empty folder: expected one subfolder per class"));
    }
    Ok(out)
}

/// Decodes one image file's bytes (PNG or JPEG, by content), with the image
/// crate's allocation limits, so a header declaring a gigantic image fails
/// cleanly instead of allocating (`path` only names errors).
pub fn decode_image(path: &Path, bytes: &[u8]) -> Result<image::DynamicImage> {
    let mut reader =
        image::ImageReader::new(std::io::Cursor::new(bytes)).with_guessed_format().map_err(|e| Error::io(path, e))?;
    let mut limits = image::Limits::default();
    // 64 megapixels and 512 MiB are far above any dataset image.
    limits.max_image_width = Some(8192);
    limits.max_image_height = Some(8192);
    limits.max_alloc = Some(512 << 20);
    reader.limits(limits);
    reader.decode().map_err(|e| Error::data(path, format!("cannot decode image: {e}")))
}

/// Reads one split folder. `classes` fixes the class order (the train split's).
pub fn read_split(dir: &Path, classes: &[String], files: &mut Vec<PathBuf>) -> Result<ImageSet> {
    let mut set: Option<ImageSet> = None;
    for (label, class) in classes.iter().enumerate() {
        let cdir = dir.join(class);
        if !cdir.is_dir() {
            return Err(Error::data(dir, format!("missing class folder `{class}` (present in the train split)")));
        }
        let mut paths: Vec<PathBuf> = WalkDir::new(&cdir)
            .sort_by_file_name()
            .into_iter()
            .filter_map(|e| e.ok())
            .map(|e| e.into_path())
            .filter(|p| p.is_file() && is_image(p))
            .collect();
        paths.sort();
        if paths.is_empty() {
            return Err(Error::data(&cdir, "empty folder: no .png/.jpg/.jpeg images"));
        }
        for p in paths {
            let bytes = std::fs::read(&p).map_err(|e| Error::io(&p, e))?;
            let img = decode_image(&p, &bytes)?;
            let s = set.get_or_insert_with(|| ImageSet {
                images: Vec::new(),
                labels: Vec::new(),
                channels: if img.color().has_color() { 3 } else { 1 },
                height: img.height() as usize,
                width: img.width() as usize,
                subset_of: None,
            });
            if (img.height() as usize, img.width() as usize) != (s.height, s.width) {
                return Err(Error::data(
                    &p,
                    format!(
                        "image is {}x{} but the first image is {}x{}",
                        img.width(),
                        img.height(),
                        s.width,
                        s.height
                    ),
                ));
            }
            if s.channels == 3 {
                let rgb = img.to_rgb8();
                // HWC -> CHW
                let (w, h) = (s.width, s.height);
                let raw = rgb.as_raw();
                for c in 0..3 {
                    for i in 0..h * w {
                        s.images.push(raw[i * 3 + c]);
                    }
                }
            } else {
                s.images.extend_from_slice(img.to_luma8().as_raw());
            }
            s.labels.push(label as i64);
            files.push(p);
        }
    }
    set.ok_or_else(|| Error::data(dir, "empty folder"))
}

/// Loads `<root>/train` and `<root>/test`.
pub fn load_dir(name: &str, root: &Path) -> Result<Dataset> {
    let train_dir = root.join("train");
    let test_dir = root.join("test");
    for d in [&train_dir, &test_dir] {
        if !d.is_dir() {
            return Err(Error::data(root, format!("an image folder dataset needs `{}`", d.display())));
        }
    }
    let classes: Vec<String> = class_dirs(&train_dir)?
        .iter()
        .map(|p| p.file_name().unwrap_or_default().to_string_lossy().into_owned())
        .collect();
    let mut files = Vec::new();
    let train = read_split(&train_dir, &classes, &mut files)?;
    let test = read_split(&test_dir, &classes, &mut files)?;
    super::check_same_shape(name, &train, &test)?;
    Ok(Dataset { name: name.to_string(), train, test, num_classes: classes.len(), class_names: classes, files })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(path: &Path, w: u32, h: u32, v: u8) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        image::GrayImage::from_pixel(w, h, image::Luma([v])).save(path).unwrap();
    }

    #[test]
    fn loads_sorted_classes() {
        let d = tempfile::tempdir().unwrap();
        for split in ["train", "test"] {
            png(&d.path().join(split).join("b_cat/1.png"), 4, 3, 10);
            png(&d.path().join(split).join("a_dog/1.png"), 4, 3, 20);
        }
        let ds = load_dir("f", d.path()).unwrap();
        assert_eq!(ds.num_classes, 2);
        assert_eq!((ds.train.channels, ds.train.height, ds.train.width), (1, 3, 4));
        // a_dog sorts first → label 0, pixel 20.
        assert_eq!(ds.train.labels, vec![0, 1]);
        assert_eq!(ds.train.images[0], 20);
    }

    #[test]
    fn empty_folder_and_undecodable_image() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("train")).unwrap();
        std::fs::create_dir_all(d.path().join("test")).unwrap();
        let e = load_dir("f", d.path()).unwrap_err().to_string();
        assert!(e.contains("empty folder"), "{e}");
        std::fs::create_dir_all(d.path().join("train/a")).unwrap();
        std::fs::write(d.path().join("train/a/x.png"), b"not a png").unwrap();
        let e = load_dir("f", d.path()).unwrap_err().to_string();
        assert!(e.contains("x.png") && e.contains("cannot decode"), "{e}");
    }
}
