//! `repbench cache ls` and `repbench cache verify`: what the store holds, and
//! whether every artifact still has the sha256 its entry recorded. A corrupt
//! entry is moved to `<root>/quarantine/`, so the next run recomputes it instead
//! of reading it.
use super::store::{EntryMeta, Store};
use crate::error::{Error, IoContext, Result};
use std::path::PathBuf;

/// One entry of the store.
pub struct Listed {
    pub dir: PathBuf,
    pub meta: EntryMeta,
    pub bytes: u64,
}

/// Every complete entry (those with a readable meta.json), oldest first.
pub fn list(store: &Store) -> Result<Vec<Listed>> {
    let objects = store.root.join("objects");
    let mut out = Vec::new();
    for shard in std::fs::read_dir(&objects).at(&objects)?.flatten() {
        for e in std::fs::read_dir(shard.path()).at(&shard.path())?.flatten() {
            let dir = e.path();
            let Ok(text) = std::fs::read_to_string(dir.join("meta.json")) else { continue };
            let Ok(meta) = serde_json::from_str::<EntryMeta>(&text) else { continue };
            let bytes = walkdir::WalkDir::new(&dir)
                .into_iter()
                .flatten()
                .filter_map(|f| f.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum();
            out.push(Listed { dir, meta, bytes });
        }
    }
    out.sort_by_key(|l| (l.meta.created_unix, l.meta.key.0.clone()));
    Ok(out)
}

/// What `verify` found.
#[derive(Debug, Default)]
pub struct Verified {
    pub checked: usize,
    pub files: usize,
    /// (key, problem) of each quarantined entry.
    pub corrupt: Vec<(String, String)>,
}

pub fn verify(store: &Store) -> Result<Verified> {
    let mut v = Verified::default();
    let quarantine = store.root.join("quarantine");
    for l in list(store)? {
        v.checked += 1;
        let mut problem = None;
        for (name, sha) in &l.meta.files {
            v.files += 1;
            let path = l.dir.join(name);
            match crate::files::sha256_file(&path) {
                Ok(actual) if &actual == sha => {}
                Ok(actual) => problem = Some(format!("{name}: sha256 {actual} ≠ recorded {sha}")),
                Err(e) => problem = Some(format!("{name}: {e}")),
            }
            if problem.is_some() {
                break;
            }
        }
        if let Some(p) = problem {
            std::fs::create_dir_all(&quarantine).at(&quarantine)?;
            let dest = quarantine.join(&l.meta.key.0);
            let _ = std::fs::remove_dir_all(&dest);
            std::fs::rename(&l.dir, &dest)
                .map_err(|e| Error::Cache { path: l.dir.clone(), msg: format!("cannot quarantine: {e}") })?;
            v.corrupt.push((l.meta.key.0.clone(), p));
        }
    }
    Ok(v)
}
