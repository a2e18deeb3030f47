//! File and hashing helpers shared by the cache, data, training and report
//! modules. A leaf: it depends on nothing in the crate but the error type, so
//! no module cycle goes through it.
use crate::error::{Error, IoContext, Result};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::Path;

/// Writes `bytes` to `path` through a temp file in the same folder and a
/// rename, so readers see the old file or the new one, never a partial one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).at(dir)?;
    let mut tmp = tempfile::Builder::new().prefix(".tmp-").tempfile_in(dir).at(dir)?;
    std::io::Write::write_all(&mut tmp, bytes).at(tmp.path())?;
    // Temp files are created 0600; results are meant to be shared.
    set_mode(tmp.path(), 0o644)?;
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    Ok(())
}

pub fn set_mode(path: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).at(path)
}

/// sha256 of a file's bytes, hex.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut f = std::fs::File::open(path).at(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).at(path)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

/// Reads a JSON file written by repbench; a parse error names the file.
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).at(path)?;
    serde_json::from_str(&text).map_err(|e| Error::data(path, format!("not valid repbench JSON: {e}")))
}

/// Writes `v` as JSON, atomically.
pub fn write_json<T: serde::Serialize>(path: &Path, v: &T) -> Result<()> {
    let bytes = serde_json::to_vec_pretty(v).map_err(|e| Error::stage(format!("{}: {e}", path.display())))?;
    write_atomic(path, &bytes)
}

/// Writes `v` as compact JSON, atomically: for the large machine-read files
/// of a run (details, training logs), where indentation doubled the bytes.
pub fn write_json_compact<T: serde::Serialize>(path: &Path, v: &T) -> Result<()> {
    let bytes = serde_json::to_vec(v).map_err(|e| Error::stage(format!("{}: {e}", path.display())))?;
    write_atomic(path, &bytes)
}

/// Seconds since the Unix epoch (0 if the clock is before it).
pub fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// Maps `path` read-only for the rest of the process: the map is never
/// unmapped, so tensors viewing it (`Tensor::from_blob`, which cannot hold a
/// reference) stay valid wherever they are moved. Only cache files are
/// mapped, and those are never written after they are in place (an entry is
/// replaced by renaming a new folder over it; a mapped old inode stays).
/// Mapped pages are file-backed: the kernel reads them on demand and may drop
/// them again, so mapping costs address space, not memory.
pub fn map_for_process(path: &Path) -> Result<&'static [u8]> {
    use std::os::unix::fs::MetadataExt;
    use std::sync::Mutex;
    // (device, inode) → map: a file replaced under the same name (`--force`)
    // is a new inode and gets a new map.
    static MAPS: Mutex<Vec<((u64, u64), &'static memmap2::Mmap)>> = Mutex::new(Vec::new());
    let f = std::fs::File::open(path).at(path)?;
    let meta = f.metadata().at(path)?;
    let id = (meta.dev(), meta.ino());
    let mut maps = MAPS.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, m)) = maps.iter().find(|(i, _)| *i == id) {
        return Ok(&m[..]);
    }
    if meta.len() == 0 {
        return Ok(&[]);
    }
    // SAFETY: see above; repbench never writes a cache file once it is in place.
    let map: &'static memmap2::Mmap = Box::leak(Box::new(unsafe { memmap2::Mmap::map(&f) }.at(path)?));
    maps.push((id, map));
    Ok(&map[..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trip_and_hash() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.json");
        write_json(&p, &vec![1.5f64, 2.0]).unwrap();
        let back: Vec<f64> = read_json(&p).unwrap();
        assert_eq!(back, vec![1.5, 2.0]);
        std::fs::write(&p, b"abc").unwrap();
        // sha256("abc")
        assert_eq!(sha256_file(&p).unwrap(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        let e = read_json::<Vec<f64>>(&p).unwrap_err().to_string();
        assert!(e.contains("a.json"), "{e}");
    }
}
