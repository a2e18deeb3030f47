//! `repbench cache ls | verify | gc`: inspect, check and prune the cache.
use super::printed::Printed;
use crate::cache::store::Store;
use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// `cache ls`: one line per entry — key, stage, size, age, suite, what it is.
pub fn ls(root: &Path) -> Result<Printed> {
    let store = Store::open(root)?;
    let now = crate::files::unix_now();
    let entries = crate::cache::inspect::list(&store)?;
    let total: u64 = entries.iter().map(|e| e.bytes).sum();
    let mut p = Printed::default();
    for e in &entries {
        let suite = e.meta.info.get("suite").and_then(|v| v.as_str()).unwrap_or("?");
        let what = ["representation", "evaluation"]
            .iter()
            .filter_map(|k| e.meta.info.get(*k).and_then(|v| v.as_str()))
            .collect::<Vec<_>>()
            .join("/");
        let age = age(now.saturating_sub(e.meta.created_unix));
        p.out(format!(
            "{}  {:<5}  {:>10}  {:>8}  {:<20}  {}",
            e.meta.key.short(),
            e.meta.stage,
            e.bytes,
            age,
            suite,
            what
        ));
    }
    p.out(format!("{} entries, {} bytes in {}", entries.len(), total, root.display()));
    Ok(p)
}

/// `cache verify`: re-hashes every artifact; corrupt entries are quarantined
/// and make the exit status 1.
pub fn verify(root: &Path) -> Result<Printed> {
    let v = crate::cache::inspect::verify(&Store::open(root)?)?;
    let mut p = Printed::default();
    for (k, path) in &v.corrupt {
        p.out(format!("corrupt {k}: {path} (quarantined)"));
    }
    p.out(format!("{} entries, {} files checked, {} corrupt", v.checked, v.files, v.corrupt.len()));
    p.code = u8::from(!v.corrupt.is_empty());
    Ok(p)
}

/// `cache gc`: deletes what no kept suite or run directory needs (and what is
/// older than `keep_newer_than_days`); refuses to run without any root.
pub fn gc(root: &Path, keep: &[PathBuf], keep_newer_than_days: Option<f64>, dry_run: bool) -> Result<Printed> {
    if keep.is_empty() && keep_newer_than_days.is_none() {
        return Err(Error::usage(
            "cache gc needs --keep SPEC_OR_RUN_DIR and/or --keep-newer-than DAYS (refusing to delete everything)",
        ));
    }
    if let Some(d) = keep_newer_than_days {
        if !(d >= 0.0 && d.is_finite()) {
            return Err(Error::usage(format!("--keep-newer-than: {d} is not a number of days ≥ 0")));
        }
    }
    let store = Store::open(root)?;
    let roots = super::gc_roots(keep, Some(root))?;
    let age = keep_newer_than_days.map(|d| std::time::Duration::from_secs_f64(d * 86400.0));
    let r = crate::cache::gc::gc(&store, &roots, age, dry_run)?;
    let verb = if dry_run { "would delete" } else { "deleted" };
    let mut p = Printed::default();
    for (k, stage, bytes) in &r.removed {
        p.out(format!("{verb} {}  {stage:<5}  {bytes:>10}", &k[..12.min(k.len())]));
    }
    for o in &r.other {
        p.out(format!("{verb} {}", o.display()));
    }
    p.out(format!(
        "{} entries kept ({} bytes); {verb} {} entries ({} bytes) and {} other folders",
        r.kept,
        r.kept_bytes,
        r.removed.len(),
        r.removed_bytes(),
        r.other.len()
    ));
    Ok(p)
}

/// A duration in seconds as `42s`, `17m`, `5h` or `3d`.
fn age(s: u64) -> String {
    match s {
        0..=119 => format!("{s}s"),
        120..=7199 => format!("{}m", s / 60),
        7200..=172_799 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86400),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn ages_read_in_the_largest_whole_unit() {
        assert_eq!(super::age(42), "42s");
        assert_eq!(super::age(17 * 60), "17m");
        assert_eq!(super::age(5 * 3600), "5h");
        assert_eq!(super::age(3 * 86400), "3d");
    }
}
