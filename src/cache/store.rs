//! On-disk layout: `<root>/objects/<aa>/<key>/` holds the artifact files and a
//! `meta.json` (stage, config, upstream keys, sha256 of every file). An entry is
//! built in `<root>/tmp/` and renamed into place in one step, so a reader sees a
//! complete entry or none; a crash leaves only a temp folder, never read as a result.
use super::key::{Key, CACHE_FORMAT};
use crate::error::{Error, IoContext, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EntryMeta {
    pub format: u32,
    pub key: Key,
    pub stage: String,
    pub created_unix: u64,
    /// Seconds the computation took (reported again on cache hits).
    pub seconds: f64,
    /// sha256 of each artifact file, by file name.
    pub files: BTreeMap<String, String>,
    /// The resolved config and upstream keys the key was made from.
    pub info: serde_json::Value,
}

#[derive(Debug, Clone)]
pub struct Entry {
    pub dir: PathBuf,
    pub meta: EntryMeta,
}

impl Entry {
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

#[derive(Debug, Clone)]
pub struct Store {
    pub root: PathBuf,
}

impl Store {
    /// `$REPBENCH_CACHE`, else `.repbench/cache` under the working directory.
    pub fn default_root() -> PathBuf {
        std::env::var_os("REPBENCH_CACHE").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(".repbench/cache"))
    }

    pub fn open(root: &Path) -> Result<Store> {
        for sub in ["objects", "tmp", "fingerprints"] {
            let p = root.join(sub);
            std::fs::create_dir_all(&p).at(&p)?;
        }
        Ok(Store { root: root.to_path_buf() })
    }

    pub fn fingerprint_dir(&self) -> PathBuf {
        self.root.join("fingerprints")
    }

    pub fn path_of(&self, key: &Key) -> PathBuf {
        self.root.join("objects").join(&key.0[..2]).join(&key.0)
    }

    /// Blocks until this process holds `key`'s lock (see `cache::lock`).
    pub fn lock(&self, key: &Key) -> Result<super::lock::KeyLock> {
        super::lock::lock(&self.root, key)
    }

    /// The entry for `key`, if a complete one exists.
    pub fn get(&self, key: &Key) -> Result<Option<Entry>> {
        let dir = self.path_of(key);
        let meta_path = dir.join("meta.json");
        let text = match std::fs::read_to_string(&meta_path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(&meta_path, e)),
        };
        let meta: EntryMeta = serde_json::from_str(&text)
            .map_err(|e| Error::Cache { path: meta_path.clone(), msg: format!("unreadable meta.json: {e}") })?;
        if meta.format != CACHE_FORMAT || meta.key != *key {
            return Ok(None);
        }
        Ok(Some(Entry { dir, meta }))
    }

    /// Builds an entry with `write` (which fills the folder it is given) and moves
    /// it into place. With `replace`, an existing entry is swapped out.
    pub fn put(
        &self,
        key: &Key,
        stage: &str,
        info: serde_json::Value,
        replace: bool,
        write: impl FnOnce(&Path) -> Result<f64>,
    ) -> Result<Entry> {
        self.put_hashed(key, stage, info, replace, |dir| Ok((write(dir)?, BTreeMap::new())))
    }

    /// `put` for a writer that hashed some of its files as it wrote them
    /// (the image store's gigabytes, hashed on the fly instead of read again):
    /// `write` returns the seconds and those files' sha256; the others are
    /// hashed here.
    pub fn put_hashed(
        &self,
        key: &Key,
        stage: &str,
        info: serde_json::Value,
        replace: bool,
        write: impl FnOnce(&Path) -> Result<(f64, BTreeMap<String, String>)>,
    ) -> Result<Entry> {
        let tmp_root = self.root.join("tmp");
        let tmp = tempfile::Builder::new().prefix(&format!("{}-", key.short())).tempdir_in(&tmp_root).at(&tmp_root)?;
        let (seconds, known) = write(tmp.path())?;
        let mut files = BTreeMap::new();
        for e in std::fs::read_dir(tmp.path()).at(tmp.path())? {
            let e = e.at(tmp.path())?;
            let name = e.file_name().to_string_lossy().into_owned();
            let sha = match known.get(&name) {
                Some(h) => h.clone(),
                None => crate::files::sha256_file(&e.path())?,
            };
            files.insert(name, sha);
        }
        let meta = EntryMeta {
            format: CACHE_FORMAT,
            key: key.clone(),
            stage: stage.to_string(),
            created_unix: crate::files::unix_now(),
            seconds,
            files,
            info,
        };
        let meta_path = tmp.path().join("meta.json");
        let meta_bytes = serde_json::to_vec_pretty(&meta)
            .map_err(|e| Error::Cache { path: meta_path.clone(), msg: e.to_string() })?;
        std::fs::write(&meta_path, meta_bytes).at(&meta_path)?;
        let dest = self.path_of(key);
        let parent = dest.parent().unwrap_or(&self.root);
        std::fs::create_dir_all(parent).at(parent)?;
        if dest.exists() {
            if !replace {
                // Someone else finished the same key first; theirs is as good as ours.
                drop(tmp);
                return self.get(key)?.ok_or_else(|| Error::Cache { path: dest, msg: "entry vanished".into() });
            }
            let old = tempfile::Builder::new().prefix("old-").tempdir_in(&tmp_root).at(&tmp_root)?;
            let old_path = old.path().join("e");
            std::fs::rename(&dest, &old_path).at(&dest)?;
        }
        // tempdir makes 0700 folders; a cache may be shared by a group.
        crate::files::set_mode(tmp.path(), 0o755)?;
        let tmp_path = tmp.keep();
        if let Err(e) = std::fs::rename(&tmp_path, &dest) {
            let _ = std::fs::remove_dir_all(&tmp_path);
            return Err(Error::io(&dest, e));
        }
        Ok(Entry { dir: dest, meta })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_is_atomic_and_get_reads_back() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::open(d.path()).unwrap();
        let k = Key("ab".repeat(32));
        assert!(s.get(&k).unwrap().is_none());
        // A failing writer leaves nothing behind.
        let r = s.put(&k, "eval", serde_json::json!({}), false, |dir| {
            std::fs::write(dir.join("x"), b"partial").unwrap();
            Err(Error::stage("boom"))
        });
        assert!(r.is_err());
        assert!(s.get(&k).unwrap().is_none());
        assert_eq!(std::fs::read_dir(d.path().join("tmp")).unwrap().count(), 0);
        let e = s
            .put(&k, "eval", serde_json::json!({"a": 1}), false, |dir| {
                std::fs::write(dir.join("x"), b"data").unwrap();
                Ok(1.5)
            })
            .unwrap();
        assert_eq!(std::fs::read(e.file("x")).unwrap(), b"data");
        let g = s.get(&k).unwrap().unwrap();
        assert_eq!(g.meta.seconds, 1.5);
        assert_eq!(g.meta.files.len(), 1);
    }
}
