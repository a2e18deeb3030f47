//! Per-key locks, so that processes sharing a cache compute each stage once:
//! a process takes the key's lock, looks again (another may have finished it
//! meanwhile), computes and stores, then releases. Readers of finished entries
//! take no lock — entries appear by an atomic rename.
//!
//! Two mechanisms (`REPBENCH_LOCK`):
//! - `flock` (default): an exclusive `flock(2)` on `<root>/locks/<aa>/<key>`.
//!   The kernel releases it when the process dies, even by SIGKILL. Works on
//!   local filesystems and on NFSv4 (Linux maps flock to NFS byte-range locks).
//! - `mkdir`: for filesystems without working flock (some FUSE or old NFSv3
//!   mounts without lockd): an atomic `mkdir` of `<key>.d` holding an `owner`
//!   file that the holder touches every 10 s; a lock whose owner file has not
//!   been touched for `REPBENCH_LOCK_STALE_S` seconds (default 120) belongs to a
//!   dead process and is taken over.
use super::key::Key;
use crate::error::{Error, IoContext, Result};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// A held lock; released on drop.
pub enum KeyLock {
    Flock(std::fs::File),
    Dir { dir: PathBuf, stop: Arc<AtomicBool>, beat: Option<std::thread::JoinHandle<()>> },
}

impl Drop for KeyLock {
    fn drop(&mut self) {
        match self {
            KeyLock::Flock(f) => {
                let _ = fs4::fs_std::FileExt::unlock(f);
            }
            KeyLock::Dir { dir, stop, beat } => {
                stop.store(true, Ordering::SeqCst);
                if let Some(h) = beat.take() {
                    let _ = h.join();
                }
                let _ = std::fs::remove_dir_all(dir);
            }
        }
    }
}

fn use_mkdir() -> bool {
    std::env::var("REPBENCH_LOCK").map(|v| v == "mkdir").unwrap_or(false)
}

fn stale_after() -> Duration {
    let s = std::env::var("REPBENCH_LOCK_STALE_S").ok().and_then(|v| v.parse().ok()).unwrap_or(120u64);
    Duration::from_secs(s)
}

/// Blocks until this process holds the lock of `key` under `root`.
pub fn lock(root: &Path, key: &Key) -> Result<KeyLock> {
    let dir = root.join("locks").join(&key.0[..2]);
    std::fs::create_dir_all(&dir).at(&dir)?;
    if use_mkdir() {
        return lock_dir(&dir.join(format!("{}.d", key.0)));
    }
    let path = dir.join(&key.0);
    let f = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&path).at(&path)?;
    fs4::fs_std::FileExt::lock_exclusive(&f).map_err(|e| Error::Cache {
        path: path.clone(),
        msg: format!("cannot lock (set REPBENCH_LOCK=mkdir on filesystems without flock): {e}"),
    })?;
    Ok(KeyLock::Flock(f))
}

fn lock_dir(d: &Path) -> Result<KeyLock> {
    let owner = d.join("owner");
    loop {
        match std::fs::create_dir(d) {
            Ok(()) => {
                let me = format!("{} pid {}\n", crate::runtime::environment::hostname(), std::process::id());
                std::fs::write(&owner, me).at(&owner)?;
                let stop = Arc::new(AtomicBool::new(false));
                let (s, o) = (stop.clone(), owner.clone());
                let beat = std::thread::spawn(move || {
                    let mut n = 0u32;
                    while !s.load(Ordering::SeqCst) {
                        std::thread::sleep(Duration::from_millis(100));
                        n += 1;
                        if n.is_multiple_of(100) {
                            let _ = std::fs::File::options()
                                .write(true)
                                .open(&o)
                                .and_then(|f| f.set_modified(SystemTime::now()));
                        }
                    }
                });
                return Ok(KeyLock::Dir { dir: d.to_path_buf(), stop, beat: Some(beat) });
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let age = std::fs::metadata(&owner).and_then(|m| m.modified()).ok().and_then(|t| t.elapsed().ok());
                // No owner file yet: the holder is between mkdir and write; wait.
                if age.is_some_and(|a| a > stale_after()) {
                    let _ = std::fs::remove_dir_all(d);
                    continue;
                }
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(e) => return Err(Error::io(d, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_waits_for_the_first() {
        for mkdir in [false, true] {
            let d = tempfile::tempdir().unwrap();
            let key = Key("cd".repeat(32));
            let path = d.path().to_path_buf();
            let order = Arc::new(std::sync::Mutex::new(Vec::new()));
            let g = if mkdir { lock_dir(&path.join("x.d")).unwrap() } else { lock(&path, &key).unwrap() };
            let (p2, o2, k2) = (path.clone(), order.clone(), key.clone());
            let t = std::thread::spawn(move || {
                // flock locks belong to open file descriptions, so a second open in
                // another thread contends like another process would.
                let _g = if mkdir { lock_dir(&p2.join("x.d")).unwrap() } else { lock(&p2, &k2).unwrap() };
                o2.lock().unwrap().push("second");
            });
            std::thread::sleep(Duration::from_millis(300));
            order.lock().unwrap().push("first");
            drop(g);
            t.join().unwrap();
            assert_eq!(*order.lock().unwrap(), ["first", "second"], "mkdir = {mkdir}");
        }
    }
}
