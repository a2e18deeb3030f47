//! Content fingerprints of dataset files.
//!
//! A dataset's fingerprint is sha256 over the relative names and sha256 of its
//! files. Hashing 30 MB on every run would cost more than a fully cached re-run, so
//! each file's hash is memoized under the cache by (absolute path, size, mtime):
//! a file that was not touched is not read again, and any change re-hashes it.
use crate::error::{IoContext, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

#[derive(Serialize, Deserialize, PartialEq)]
struct Memo {
    path: PathBuf,
    size: u64,
    mtime_ns: i128,
    sha256: String,
}

fn mtime_ns(meta: &std::fs::Metadata) -> i128 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_nanos() as i128)
        .unwrap_or(-1)
}

/// sha256 of one file, through the memo folder when one is given.
pub fn file_hash(path: &Path, memo_dir: Option<&Path>) -> Result<String> {
    let abs = std::fs::canonicalize(path).at(path)?;
    let meta = std::fs::metadata(&abs).at(&abs)?;
    let (size, mtime) = (meta.len(), mtime_ns(&meta));
    let memo_file =
        memo_dir.map(|d| d.join(format!("{}.json", hex::encode(Sha256::digest(abs.to_string_lossy().as_bytes())))));
    if let Some(mf) = &memo_file {
        if let Ok(text) = std::fs::read_to_string(mf) {
            if let Ok(m) = serde_json::from_str::<Memo>(&text) {
                if m.path == abs && m.size == size && m.mtime_ns == mtime {
                    return Ok(m.sha256);
                }
            }
        }
    }
    let sha = crate::files::sha256_file(&abs)?;
    if let (Some(mf), Some(dir)) = (&memo_file, memo_dir) {
        // The memo is only an optimisation: failing to write it is not an error.
        let memo = Memo { path: abs, size, mtime_ns: mtime, sha256: sha.clone() };
        if std::fs::create_dir_all(dir).is_ok() {
            let _ = crate::files::write_atomic(mf, serde_json::to_vec(&memo).unwrap_or_default().as_slice());
        }
    }
    Ok(sha)
}

/// Fingerprint of a set of files under `root` (names are taken relative to it).
pub fn fingerprint(root: &Path, files: &[PathBuf], memo_dir: Option<&Path>) -> Result<String> {
    let mut h = Sha256::new();
    for f in files {
        let rel = f.strip_prefix(root).unwrap_or(f);
        h.update(rel.to_string_lossy().as_bytes());
        h.update([0u8]);
        h.update(file_hash(f, memo_dir)?.as_bytes());
        h.update([b'\n']);
    }
    Ok(hex::encode(h.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memo_is_used_until_the_file_changes() {
        let d = tempfile::tempdir().unwrap();
        let memo = d.path().join("memo");
        let f = d.path().join("a.bin");
        std::fs::write(&f, b"hello").unwrap();
        let h1 = fingerprint(d.path(), std::slice::from_ref(&f), Some(&memo)).unwrap();
        assert_eq!(std::fs::read_dir(&memo).unwrap().count(), 1);
        // Poison the memo: a hit returns the memoized hash without reading the file.
        let mf = std::fs::read_dir(&memo).unwrap().next().unwrap().unwrap().path();
        let mut m: Memo = serde_json::from_str(&std::fs::read_to_string(&mf).unwrap()).unwrap();
        m.sha256 = "memoized".into();
        std::fs::write(&mf, serde_json::to_vec(&m).unwrap()).unwrap();
        assert_eq!(file_hash(&f, Some(&memo)).unwrap(), "memoized");
        // A change of size (and mtime) re-hashes.
        std::fs::write(&f, b"hello world").unwrap();
        let h2 = fingerprint(d.path(), std::slice::from_ref(&f), Some(&memo)).unwrap();
        assert_ne!(h1, h2);
        assert_eq!(file_hash(&f, Some(&memo)).unwrap(), crate::files::sha256_file(&f).unwrap());
    }
}
