//! webdataset tar shards: members `<key>.jpg|jpeg|png|webp` with `<key>.cls`
//! (the integer label as text), a sample's members next to each other, as
//! `webdataset.TarWriter` writes them.
//!
//! Shards of a part are `dataset.shards.<part>` (brace patterns such as
//! `train-{000000..000099}.tar`, relative to `path`), or by default every
//! `<part>-*.tar` / `<part>/*.tar` under `path`. Listing reads only the tar
//! headers and the `.cls` members (seeking past the images); the store reads
//! each image by its byte range.
use super::listing::{Item, Listing, Loc, Part};
use crate::error::{Error, Result};
use indexmap::IndexMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

const IMAGE_EXTS: [&str; 4] = ["jpg", "jpeg", "png", "webp"];

/// Expands `{a..b}` (zero-padded like `a`) and `{x,y}` groups.
pub fn expand_braces(pattern: &str) -> std::result::Result<Vec<String>, String> {
    let Some(open) = pattern.find('{') else { return Ok(vec![pattern.to_string()]) };
    let close = pattern[open..].find('}').map(|c| open + c).ok_or_else(|| format!("`{pattern}`: unclosed `{{`"))?;
    let (head, body, tail) = (&pattern[..open], &pattern[open + 1..close], &pattern[close + 1..]);
    let options: Vec<String> = if let Some((a, b)) = body.split_once("..") {
        let (lo, hi) = (a.parse::<u64>(), b.parse::<u64>());
        let (Ok(lo), Ok(hi)) = (lo, hi) else { return Err(format!("`{{{body}}}` is not a range of integers")) };
        if hi < lo || hi - lo > 1_000_000 {
            return Err(format!("`{{{body}}}` is not an increasing range of at most a million"));
        }
        (lo..=hi).map(|i| format!("{i:0width$}", width = a.len())).collect()
    } else {
        body.split(',').map(str::to_string).collect()
    };
    let rest = expand_braces(tail)?;
    Ok(options.iter().flat_map(|o| rest.iter().map(move |r| format!("{head}{o}{r}"))).collect())
}

/// The shard files of each part.
fn shard_files(root: &Path, shards: Option<&IndexMap<String, String>>) -> Result<Vec<(Part, Vec<PathBuf>)>> {
    let mut out = Vec::new();
    for part in Part::ALL {
        let files: Vec<PathBuf> = match shards {
            Some(map) => match map.get(part.name()) {
                Some(pattern) => expand_braces(pattern)
                    .map_err(|e| Error::data(root, format!("dataset.shards.{}: {e}", part.name())))?
                    .into_iter()
                    .map(|f| root.join(f))
                    .collect(),
                None => Vec::new(),
            },
            None => {
                let mut v: Vec<PathBuf> = walkdir::WalkDir::new(root)
                    .into_iter()
                    .filter_map(|e| e.ok())
                    .map(|e| e.into_path())
                    .filter(|p| p.extension().is_some_and(|e| e == "tar"))
                    .filter(|p| {
                        let name = p.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
                        let dir = p.parent().and_then(|d| d.file_name()).map(|d| d.to_string_lossy().to_string());
                        name.starts_with(&format!("{}-", part.name())) || dir.as_deref() == Some(part.name())
                    })
                    .collect();
                v.sort();
                v
            }
        };
        if let Some(missing) = files.iter().find(|f| !f.is_file()) {
            return Err(Error::data(missing, format!("shard of the {} part does not exist", part.name())));
        }
        out.push((part, files));
    }
    Ok(out)
}

/// Every shard file (for the fingerprint).
pub fn all_files(root: &Path, shards: Option<&IndexMap<String, String>>) -> Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = shard_files(root, shards)?.into_iter().flat_map(|(_, f)| f).collect();
    v.sort();
    v.dedup();
    if v.is_empty() {
        return Err(Error::data(root, "no `train-*.tar` / `test-*.tar` shards under this folder"));
    }
    Ok(v)
}

/// A sample being assembled from consecutive members.
#[derive(Default)]
struct Sample {
    key: String,
    image: Option<(u64, u64)>,
    label: Option<i64>,
}

fn finish(s: Sample, shard: &Arc<Path>, out: &mut Vec<Item>) -> Result<()> {
    if s.key.is_empty() {
        return Ok(());
    }
    let (offset, len) = s.image.ok_or_else(|| {
        Error::data(shard.as_ref(), format!("sample `{}` has no .jpg/.jpeg/.png/.webp member", s.key))
    })?;
    let label = s.label.ok_or_else(|| Error::data(shard.as_ref(), format!("sample `{}` has no .cls member", s.key)))?;
    out.push(Item {
        loc: Loc::Member { shard: shard.clone(), key: Arc::from(s.key.as_str()), offset, len },
        label,
        meta: vec![],
    });
    Ok(())
}

/// Lists one shard's samples.
fn list_shard(path: &Path, out: &mut Vec<Item>) -> Result<()> {
    let shard: Arc<Path> = Arc::from(path);
    let f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut archive = tar::Archive::new(f);
    let bad = |e: std::io::Error| Error::data(path, format!("not a readable tar shard: {e}"));
    let mut cur = Sample::default();
    for entry in archive.entries_with_seek().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let member = entry.path().map_err(bad)?.to_string_lossy().to_string();
        // webdataset's key: the member name up to the first dot of its file name.
        let (dir, file) =
            member.rsplit_once('/').map(|(d, f)| (format!("{d}/"), f)).unwrap_or((String::new(), &member));
        let Some((stem, ext)) = file.split_once('.') else { continue };
        let key = format!("{dir}{stem}");
        if key != cur.key {
            finish(std::mem::take(&mut cur), &shard, out)?;
            cur.key = key;
        }
        let ext = ext.to_ascii_lowercase();
        if IMAGE_EXTS.contains(&ext.as_str()) {
            cur.image = Some((entry.raw_file_position(), entry.size()));
        } else if ext == "cls" {
            let mut text = String::new();
            entry.read_to_string(&mut text).map_err(bad)?;
            let label = text.trim().parse::<i64>().map_err(|_| {
                Error::data(path, format!("member {member}: `{}` is not an integer label", text.trim()))
            })?;
            cur.label = Some(label);
        }
    }
    finish(cur, &shard, out)
}

/// Lists every part's samples; class names are `names` or `class k`.
pub fn list(root: &Path, shards: Option<&IndexMap<String, String>>, names: Option<Vec<String>>) -> Result<Listing> {
    let mut listing = Listing::default();
    for (part, files) in shard_files(root, shards)? {
        for f in files {
            list_shard(&f, listing.part_mut(part))?;
        }
    }
    listing.class_names = super::listing::int_class_names(&[&listing.train, &listing.val, &listing.test], names);
    listing.check(root)?;
    Ok(listing)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn braces_expand_like_webdataset() {
        assert_eq!(expand_braces("train-{000..002}.tar").unwrap(), ["train-000.tar", "train-001.tar", "train-002.tar"]);
        assert_eq!(expand_braces("{a,b}-{0..1}").unwrap(), ["a-0", "a-1", "b-0", "b-1"]);
        assert!(expand_braces("x-{3..1}").is_err());
        assert!(expand_braces("x-{1..").is_err());
    }

    fn shard(path: &Path, members: &[(&str, &[u8])]) {
        let mut b = tar::Builder::new(std::fs::File::create(path).unwrap());
        for (name, data) in members {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, name, *data).unwrap();
        }
        b.finish().unwrap();
    }

    #[test]
    fn samples_are_grouped_and_their_bytes_found() {
        let d = tempfile::tempdir().unwrap();
        shard(
            &d.path().join("train-0.tar"),
            &[("a.png", b"PNGA"), ("a.cls", b"1"), ("b.cls", b"0"), ("b.jpg", b"JPGB")],
        );
        shard(&d.path().join("test-0.tar"), &[("c.png", b"PNGC"), ("c.cls", b"1\n")]);
        let l = list(d.path(), None, None);
        // "class 0" has a training image (b), "class 1" too (a).
        let l = l.unwrap();
        assert_eq!(l.train.iter().map(|i| i.label).collect::<Vec<_>>(), [1, 0]);
        assert_eq!(l.train[1].loc.read().unwrap(), b"JPGB");
        assert_eq!(l.test[0].loc.to_string(), format!("{} (member c)", d.path().join("test-0.tar").display()));
        shard(&d.path().join("train-1.tar"), &[("z.png", b"x")]);
        let e = list(d.path(), None, None).unwrap_err().to_string();
        assert!(e.contains("train-1.tar") && e.contains("sample `z` has no .cls member"), "{e}");
    }
}
