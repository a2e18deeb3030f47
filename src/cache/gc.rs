//! `repbench cache gc`: delete what nothing needs any more.
//!
//! Kept: every entry reachable from the given roots — the stage keys of suite
//! files (as `plan` computes them) and the cell keys of run directories'
//! results — following each entry's recorded upstream keys, so a kept
//! evaluation keeps its embeddings, fit and data split; and, with
//! `keep_newer_than`, every entry younger than that. Everything else goes, as do
//! training checkpoints of fits that are no longer reachable, temp folders
//! older than an hour (crashed writers) and the quarantine.
//!
//! An entry is removed by renaming it into `tmp/` first, so a concurrent reader
//! sees it complete or not at all, never half-deleted.
use super::inspect::{list, Listed};
use super::key::Key;
use super::store::Store;
use crate::error::{IoContext, Result};
use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

#[derive(Debug, Default)]
pub struct GcReport {
    pub kept: usize,
    pub kept_bytes: u64,
    /// (key, stage, bytes) of each removed entry.
    pub removed: Vec<(String, String, u64)>,
    /// Other folders removed (checkpoints, temp folders, quarantine).
    pub other: Vec<PathBuf>,
}

impl GcReport {
    pub fn removed_bytes(&self) -> u64 {
        self.removed.iter().map(|r| r.2).sum()
    }
}

fn upstream(l: &Listed) -> Vec<String> {
    l.meta
        .info
        .get("upstream")
        .and_then(|u| u.as_array())
        .map(|a| a.iter().filter_map(|k| k.as_str().map(String::from)).collect())
        .unwrap_or_default()
}

/// Keys reachable from `roots` through recorded upstream keys.
fn reachable(entries: &HashMap<String, &Listed>, roots: &[Key]) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut stack: Vec<String> = roots.iter().map(|k| k.0.clone()).collect();
    while let Some(k) = stack.pop() {
        if !seen.insert(k.clone()) {
            continue;
        }
        if let Some(l) = entries.get(&k) {
            stack.extend(upstream(l));
        }
    }
    seen
}

fn older_than(path: &std::path::Path, age: Duration) -> bool {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| SystemTime::now().duration_since(t).ok())
        .is_some_and(|a| a > age)
}

/// Removes (or with `dry_run` only lists) what is neither reachable from
/// `roots` nor newer than `keep_newer_than`.
pub fn gc(store: &Store, roots: &[Key], keep_newer_than: Option<Duration>, dry_run: bool) -> Result<GcReport> {
    let all = list(store)?;
    let by_key: HashMap<String, &Listed> = all.iter().map(|l| (l.meta.key.0.clone(), l)).collect();
    let live = reachable(&by_key, roots);
    let now = crate::files::unix_now();
    let mut report = GcReport::default();
    let tmp = store.root.join("tmp");
    for l in &all {
        let young = keep_newer_than.is_some_and(|d| now.saturating_sub(l.meta.created_unix) < d.as_secs());
        if live.contains(&l.meta.key.0) || young {
            report.kept += 1;
            report.kept_bytes += l.bytes;
            continue;
        }
        report.removed.push((l.meta.key.0.clone(), l.meta.stage.clone(), l.bytes));
        if !dry_run {
            let doomed = tempfile::Builder::new().prefix("gc-").tempdir_in(&tmp).at(&tmp)?;
            std::fs::rename(&l.dir, doomed.path().join("e")).at(&l.dir)?;
        }
    }
    let kept_keys: BTreeSet<String> =
        all.iter().map(|l| l.meta.key.0.clone()).filter(|k| !report.removed.iter().any(|r| &r.0 == k)).collect();
    let ckpt = store.root.join("checkpoints");
    if ckpt.is_dir() {
        for e in std::fs::read_dir(&ckpt).at(&ckpt)?.flatten() {
            let k = e.file_name().to_string_lossy().into_owned();
            // A checkpoint folder belongs to a fit in progress (not yet an entry):
            // keep it while the fit is reachable or recent.
            if !live.contains(&k)
                && !kept_keys.contains(&k)
                && older_than(&e.path(), keep_newer_than.unwrap_or(Duration::from_secs(3600)))
            {
                report.other.push(e.path());
            }
        }
    }
    for e in std::fs::read_dir(&tmp).at(&tmp)?.flatten() {
        if older_than(&e.path(), Duration::from_secs(3600)) {
            report.other.push(e.path());
        }
    }
    let q = store.root.join("quarantine");
    if q.is_dir() {
        report.other.push(q);
    }
    if !dry_run {
        for p in &report.other {
            let _ = std::fs::remove_dir_all(p).or_else(|_| std::fs::remove_file(p));
        }
        // The renamed entries are deleted last, after nothing points at them.
        for e in std::fs::read_dir(&tmp).at(&tmp)?.flatten() {
            if e.file_name().to_string_lossy().starts_with("gc-") {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keeps_what_roots_reach_through_upstream_keys() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::open(d.path()).unwrap();
        let k = |c: &str| Key(c.repeat(64));
        let put = |key: &Key, up: &[&Key]| {
            s.put(key, "x", json!({ "upstream": up.iter().map(|k| k.0.clone()).collect::<Vec<_>>() }), false, |dir| {
                std::fs::write(dir.join("f"), b"1").unwrap();
                Ok(0.0)
            })
            .unwrap();
        };
        let (data, fit, embed, eval, other) = (k("a"), k("b"), k("c"), k("d"), k("e"));
        put(&data, &[]);
        put(&fit, &[&data]);
        put(&embed, &[&fit]);
        put(&eval, &[&embed]);
        put(&other, &[&data]);
        let dry = gc(&s, std::slice::from_ref(&eval), None, true).unwrap();
        assert_eq!(dry.removed.iter().map(|r| r.0.clone()).collect::<Vec<_>>(), vec![other.0.clone()]);
        assert!(s.get(&other).unwrap().is_some(), "a dry run removes nothing");
        let r = gc(&s, std::slice::from_ref(&eval), None, false).unwrap();
        assert_eq!((r.kept, r.removed.len()), (4, 1));
        assert!(s.get(&other).unwrap().is_none());
        for key in [&data, &fit, &embed, &eval] {
            assert!(s.get(key).unwrap().is_some());
        }
        // Everything is younger than a day: nothing goes.
        let r = gc(&s, &[], Some(Duration::from_secs(86400)), false).unwrap();
        assert_eq!((r.kept, r.removed.len()), (4, 0));
        assert_eq!(std::fs::read_dir(d.path().join("tmp")).unwrap().count(), 0);
    }
}
