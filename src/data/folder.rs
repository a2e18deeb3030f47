//! Image folders (torchvision's `ImageFolder` layout):
//! `<root>/{train,test[,val]}/<class>/…/<image>.png|jpg|jpeg|webp`.
//!
//! Class indices follow the sorted class-folder names of `train`, so they do
//! not depend on the order the filesystem lists them in. The images are
//! decoded by the image store (`image_store`), with `dataset.image` or, without
//! it, at their own (then common) size.
use super::listing::{Item, Listing, Loc};
use crate::error::{Error, Result};
use std::path::{Path, PathBuf};
use walkdir::WalkDir;

/// Extensions of the images a folder holds (what the decoder reads); other
/// files (READMEs, `.DS_Store`) are not images and are passed over, as
/// torchvision's `ImageFolder` does.
pub fn is_image(p: &Path) -> bool {
    matches!(
        p.extension().and_then(|e| e.to_str()).map(|e| e.to_ascii_lowercase()).as_deref(),
        Some("png" | "jpg" | "jpeg" | "webp")
    )
}

/// Class folder names in `dir`, sorted.
fn class_dirs(dir: &Path) -> Result<Vec<String>> {
    let rd = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    let mut out: Vec<String> = rd
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    out.sort();
    if out.is_empty() {
        return Err(Error::data(dir, "empty folder: expected one subfolder per class"));
    }
    Ok(out)
}

/// The images of one split folder, labelled by `classes` (the train split's
/// order). A class folder the train split lacks is an error: its images
/// could only be scored wrong.
fn list_split(dir: &Path, classes: &[String], required: bool) -> Result<Vec<Item>> {
    let mut items = Vec::new();
    for c in class_dirs(dir)? {
        if !classes.contains(&c) {
            return Err(Error::data(
                dir.join(&c),
                format!("class folder `{c}` is not in the train split ({})", classes.join(", ")),
            ));
        }
    }
    for (label, class) in classes.iter().enumerate() {
        let cdir = dir.join(class);
        if !cdir.is_dir() {
            if required {
                return Err(Error::data(dir, format!("missing class folder `{class}` (present in the train split)")));
            }
            continue;
        }
        let mut paths: Vec<PathBuf> = WalkDir::new(&cdir)
            .into_iter()
            .filter_map(|e| e.ok())
            .map(|e| e.into_path())
            .filter(|p| p.is_file() && is_image(p))
            .collect();
        paths.sort();
        if paths.is_empty() && required {
            return Err(Error::data(&cdir, "empty class folder: no .png/.jpg/.jpeg/.webp images"));
        }
        items.extend(paths.into_iter().map(|p| Item { loc: Loc::File(p), label: label as i64, meta: vec![] }));
    }
    Ok(items)
}

/// Lists `<root>/train`, `<root>/test` and the optional `<root>/val`.
pub fn list(root: &Path) -> Result<Listing> {
    let train_dir = root.join("train");
    let test_dir = root.join("test");
    for d in [&train_dir, &test_dir] {
        if !d.is_dir() {
            return Err(Error::data(root, format!("an image folder dataset needs `{}`", d.display())));
        }
    }
    let classes = class_dirs(&train_dir)?;
    let val_dir = root.join("val");
    // `val/` is what selections are made on; the same images as `test/`
    // (a symlink made to reuse a dataset's val as its test) would select on test.
    let same = |a: &Path, b: &Path| matches!((a.canonicalize(), b.canonicalize()), (Ok(x), Ok(y)) if x == y);
    if val_dir.is_dir() && (same(&val_dir, &test_dir) || same(&val_dir, &train_dir)) {
        return Err(Error::data(
            root,
            "`val` is the same folder as `test` or `train`: the validation part is what every selection is made on, so it must be its own images (remove `val` to carve it from train)",
        ));
    }
    let listing = Listing {
        train: list_split(&train_dir, &classes, true)?,
        val: if val_dir.is_dir() { list_split(&val_dir, &classes, false)? } else { Vec::new() },
        test: list_split(&test_dir, &classes, true)?,
        class_names: classes,
        meta_columns: vec![],
    };
    listing.check(root)?;
    Ok(listing)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(path: &Path, w: u32, h: u32, v: u8) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        image::GrayImage::from_pixel(w, h, image::Luma([v])).save(path).unwrap();
    }

    #[test]
    fn lists_sorted_classes_and_the_optional_val() {
        let d = tempfile::tempdir().unwrap();
        for split in ["train", "test", "val"] {
            png(&d.path().join(split).join("b_cat/1.png"), 4, 3, 10);
            png(&d.path().join(split).join("a_dog/1.png"), 4, 3, 20);
        }
        std::fs::write(d.path().join("train/a_dog/README.txt"), "not an image").unwrap();
        let l = list(d.path()).unwrap();
        assert_eq!(l.class_names, ["a_dog", "b_cat"]);
        // a_dog sorts first → label 0.
        assert_eq!(l.train.iter().map(|i| i.label).collect::<Vec<_>>(), [0, 1]);
        assert_eq!(l.val.len(), 2);
    }

    #[test]
    fn empty_folders_and_unknown_classes_are_named() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("train")).unwrap();
        std::fs::create_dir_all(d.path().join("test")).unwrap();
        let e = list(d.path()).unwrap_err().to_string();
        assert!(e.contains("empty folder"), "{e}");
        std::fs::create_dir_all(d.path().join("train/a")).unwrap();
        let e = list(d.path()).unwrap_err().to_string();
        assert!(e.contains("train/a: empty class folder"), "{e}");
        png(&d.path().join("train/a/1.png"), 2, 2, 0);
        png(&d.path().join("test/z/1.png"), 2, 2, 0);
        let e = list(d.path()).unwrap_err().to_string();
        assert!(e.contains("class folder `z` is not in the train split (a)"), "{e}");
        std::fs::remove_dir_all(d.path().join("test/z")).unwrap();
        png(&d.path().join("test/a/1.png"), 2, 2, 0);
        std::os::unix::fs::symlink(d.path().join("test"), d.path().join("val")).unwrap();
        let e = list(d.path()).unwrap_err().to_string();
        assert!(e.contains("`val` is the same folder as `test`"), "{e}");
    }
}
