//! Feature matrices in the cache, written and read without a copy: the
//! safetensors layout (an 8-byte header length, a JSON header of dtypes,
//! shapes and byte ranges, then the raw data), written straight from the
//! tensors' memory and read back as tensors over a memory map of the file.
//!
//! tch's own reader reads the whole file and then copies each tensor out of
//! it (two copies of a 1 GB feature matrix at once); mapped, the pages are
//! the kernel's page cache and a stage's anonymous memory holds only what it
//! computes from them. The files are standard safetensors (Python's
//! `safetensors.torch.load_file` reads them).
use crate::error::{Error, IoContext, Result};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use tch::{Device, Kind, Tensor};

fn dtype(kind: Kind) -> Option<&'static str> {
    Some(match kind {
        Kind::Bool => "BOOL",
        Kind::Uint8 => "U8",
        Kind::Int8 => "I8",
        Kind::Int16 => "I16",
        Kind::Int => "I32",
        Kind::Int64 => "I64",
        Kind::BFloat16 => "BF16",
        Kind::Half => "F16",
        Kind::Float => "F32",
        Kind::Double => "F64",
        _ => return None,
    })
}

fn kind(dtype: &str) -> Option<Kind> {
    Some(match dtype {
        "BOOL" => Kind::Bool,
        "U8" => Kind::Uint8,
        "I8" => Kind::Int8,
        "I16" => Kind::Int16,
        "I32" => Kind::Int,
        "I64" => Kind::Int64,
        "BF16" => Kind::BFloat16,
        "F16" => Kind::Half,
        "F32" => Kind::Float,
        "F64" => Kind::Double,
        _ => return None,
    })
}

/// Writes `tensors` (CPU; made contiguous where they are not) as a
/// safetensors file, each tensor's bytes written from its own memory.
pub fn write(path: &Path, tensors: &[(String, Tensor)]) -> Result<()> {
    let tensors: Vec<(&str, Tensor)> =
        tensors.iter().map(|(n, t)| (n.as_str(), t.to_device(Device::Cpu).contiguous())).collect();
    let mut header = serde_json::Map::new();
    let mut offset = 0usize;
    for (name, t) in &tensors {
        let dt =
            dtype(t.kind()).ok_or_else(|| Error::stage(format!("tensor `{name}`: {:?} cannot be saved", t.kind())))?;
        let len = t.numel() * t.kind().elt_size_in_bytes();
        header.insert(
            name.to_string(),
            serde_json::json!({ "dtype": dt, "shape": t.size(), "data_offsets": [offset, offset + len] }),
        );
        offset += len;
    }
    let mut text = serde_json::to_vec(&header).map_err(|e| Error::stage(e.to_string()))?;
    // The data starts 8-aligned (what the format's own writer does).
    while (8 + text.len()) % 8 != 0 {
        text.push(b' ');
    }
    let mut f = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path).at(path)?);
    f.write_all(&(text.len() as u64).to_le_bytes()).at(path)?;
    f.write_all(&text).at(path)?;
    for (_, t) in &tensors {
        let len = t.numel() * t.kind().elt_size_in_bytes();
        if len > 0 {
            // SAFETY: `t` is a contiguous CPU tensor of `len` bytes, alive here.
            let bytes = unsafe { std::slice::from_raw_parts(t.data_ptr() as *const u8, len) };
            f.write_all(bytes).at(path)?;
        }
    }
    f.flush().at(path)
}

/// Maps a safetensors file and views its tensors in place (read-only: the
/// tensors must not be written to). The map stays for the life of the
/// process (`files::map_for_process`), so the views stay valid wherever
/// they are moved.
pub fn read(path: &Path) -> Result<Vec<(String, Tensor)>> {
    let map = crate::files::map_for_process(path)?;
    let bad = |msg: String| Error::Cache { path: path.to_path_buf(), msg };
    if map.len() < 8 {
        return Err(bad("not a safetensors file: shorter than its header length".into()));
    }
    let n = u64::from_le_bytes(map[..8].try_into().unwrap_or([0; 8])) as usize;
    let start = 8usize.checked_add(n).filter(|&s| s <= map.len()).ok_or_else(|| bad("header past the end".into()))?;
    let header: BTreeMap<String, serde_json::Value> =
        serde_json::from_slice(&map[8..start]).map_err(|e| bad(format!("unreadable header: {e}")))?;
    let mut entries: Vec<(usize, String, Tensor)> = Vec::new();
    for (name, v) in header.iter().filter(|(n, _)| n.as_str() != "__metadata__") {
        let k = v["dtype"].as_str().and_then(kind).ok_or_else(|| bad(format!("`{name}`: unknown dtype")))?;
        let shape: Vec<i64> = v["shape"]
            .as_array()
            .map(|a| a.iter().filter_map(|d| d.as_i64()).collect())
            .ok_or_else(|| bad(format!("`{name}`: no shape")))?;
        let (b, e) = (v["data_offsets"][0].as_u64(), v["data_offsets"][1].as_u64());
        let (Some(b), Some(e)) = (b, e) else { return Err(bad(format!("`{name}`: no data_offsets"))) };
        let (b, e) = (start + b as usize, start + e as usize);
        let numel: i64 = shape.iter().product();
        if e > map.len() || b > e || (e - b) != numel as usize * k.elt_size_in_bytes() {
            return Err(bad(format!("`{name}`: its byte range does not match its shape")));
        }
        let t = if numel == 0 {
            Tensor::zeros(&shape, (k, Device::Cpu))
        } else {
            let strides: Vec<i64> = (0..shape.len()).map(|i| shape[i + 1..].iter().product()).collect();
            // SAFETY: the range is inside the map, which is never unmapped.
            unsafe { Tensor::from_blob(map.as_ptr().add(b), &shape, &strides, k, Device::Cpu) }
        };
        entries.push((b, name.clone(), t));
    }
    entries.sort_by_key(|(b, _, _)| *b);
    Ok(entries.into_iter().map(|(_, n, t)| (n, t)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Our files read back by tch's (the safetensors crate's) reader, and theirs by ours.
    #[test]
    fn round_trips_with_the_reference_reader() {
        let d = tempfile::tempdir().unwrap();
        let a = Tensor::arange(12, (Kind::Float, Device::Cpu)).view([3, 4]);
        let b = Tensor::from_slice(&[7i64, 8, 9]);
        let e = Tensor::zeros([0, 5], (Kind::Float, Device::Cpu));
        let ours = d.path().join("ours.safetensors");
        write(&ours, &[("x".into(), a.tr().contiguous()), ("y".into(), b.shallow_clone()), ("e".into(), e)]).unwrap();
        let theirs = Tensor::read_safetensors(&ours).unwrap();
        let get = |v: &[(String, Tensor)], n: &str| v.iter().find(|(k, _)| k == n).unwrap().1.shallow_clone();
        assert!(get(&theirs, "x").equal(&a.tr()));
        assert!(get(&theirs, "y").equal(&b));
        let tch_file = d.path().join("tch.safetensors");
        Tensor::write_safetensors(&[("x", &a), ("y", &b)], &tch_file).unwrap();
        let mapped = read(&tch_file).unwrap();
        assert!(get(&mapped, "x").equal(&a));
        assert!(get(&mapped, "y").equal(&b));
        let back = read(&ours).unwrap();
        assert_eq!(get(&back, "e").size(), [0, 5]);
    }

    #[test]
    fn a_truncated_file_is_an_error_naming_it() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("t.safetensors");
        write(&p, &[("x".into(), Tensor::ones([100], (Kind::Float, Device::Cpu)))]).unwrap();
        let bytes = std::fs::read(&p).unwrap();
        std::fs::write(&p, &bytes[..bytes.len() - 4]).unwrap();
        let e = read(&p).err().unwrap().to_string();
        assert!(e.contains("t.safetensors") && e.contains("byte range"), "{e}");
    }
}
