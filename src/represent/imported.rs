//! What the imported kinds (`embeddings`, `torchscript`, `checkpoint`) share:
//! reading named arrays from NumPy and safetensors files, refusing pickled
//! `torch.save` files with the conversion that would make them readable, and
//! the input preprocessing an encoder trained elsewhere expects.
use crate::checks::Checker;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::io::Read;
use std::path::Path;
use tch::{Kind, Tensor};

/// The arrays of a `.npz`, `.safetensors` or `.npy` file (the latter as one
/// array named `name`), in file order.
pub fn read_arrays(path: &Path, name: &str) -> Result<Vec<(String, Tensor)>> {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    let read = match ext.as_str() {
        "npz" => Tensor::read_npz(path),
        "safetensors" => Tensor::read_safetensors(path),
        "npy" => Tensor::read_npy(path).map(|t| vec![(name.to_string(), t)]),
        _ => {
            refuse_pickle(path)?;
            return Err(Error::data(path, "is not a .npz, .npy or .safetensors file"));
        }
    };
    read.map_err(|e| Error::data(path, format!("cannot be read as {ext}: {e}")))
}

/// How to make a pickled PyTorch file readable, shown with the refusal.
const CONVERSION: &str = "repbench does not unpickle torch.save files (unpickling runs arbitrary code). \
Convert it once in Python:\n  \
weights:     from safetensors.torch import save_file; sd = torch.load(path, map_location='cpu'); \
sd = sd.get('state_dict', sd); save_file({k: v.contiguous() for k, v in sd.items()}, 'model.safetensors')\n  \
TorchScript: torch.jit.trace(model.eval(), example_input).save('model.ts.pt')\n\
(docs/byo.md and scripts/byo_convert.py do both)";

/// What a `.pt`/`.pth`/`.ckpt` file is, from its first bytes and, for zip
/// archives, its member names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TorchFile {
    /// A TorchScript archive (`torch.jit.save`): has `code/` and `constants.pkl`.
    TorchScript,
    /// A `torch.save` archive or a legacy pickle: not readable without Python.
    Pickled,
    /// Neither (safetensors, NumPy, anything else).
    Other,
}

pub fn sniff(path: &Path) -> Result<TorchFile> {
    let mut head = [0u8; 4];
    let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let n = f.read(&mut head).map_err(|e| Error::io(path, e))?;
    if n >= 2 && head[0] == 0x80 && head[1] <= 5 {
        return Ok(TorchFile::Pickled);
    }
    if n < 4 || &head != b"PK\x03\x04" {
        return Ok(TorchFile::Other);
    }
    let zip = zip::ZipArchive::new(std::io::BufReader::new(std::fs::File::open(path).map_err(|e| Error::io(path, e))?))
        .map_err(|e| Error::data(path, format!("is a damaged zip archive: {e}")))?;
    let names: Vec<&str> = zip.file_names().collect();
    let has = |suffix: &str| names.iter().any(|n| n.ends_with(suffix) || n.contains(&format!("/{suffix}")));
    Ok(if has("constants.pkl") || names.iter().any(|n| n.contains("/code/")) {
        TorchFile::TorchScript
    } else if has("data.pkl") {
        TorchFile::Pickled
    } else {
        TorchFile::Other
    })
}

/// An error for a pickled file, with the two-line conversion.
pub fn refuse_pickle(path: &Path) -> Result<()> {
    match sniff(path)? {
        TorchFile::Pickled => Err(Error::data(path, format!("is a pickled torch.save file. {CONVERSION}"))),
        _ => Ok(()),
    }
}

/// Checks the required file of a kind at `path`: given, existing, not a pickle.
pub fn check_required(path: &str, file: &Path, what: &str, c: &mut Checker) {
    if file.as_os_str().is_empty() {
        c.push(path, format!("is required ({what})"));
    } else {
        check_file(path, file, c);
    }
}

/// Checks at validation time that `file` exists and is not a pickle.
pub fn check_file(path: &str, file: &Path, c: &mut Checker) {
    let Some(abs) = c.resolve(path, file) else { return };
    if let Err(e) = refuse_pickle(&abs) {
        c.push(path, e.to_string());
    }
}

/// What an encoder trained elsewhere receives: images are converted from u8
/// N×C×H×W as `scale` (÷255), channel adaptation, resize, then `(x − mean) / std`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InputParams {
    /// [height, width] to resize to (bilinear, corners not aligned, no antialias); none keeps the size.
    pub size: Option<[i64; 2]>,
    /// Channels the encoder takes: gray images are repeated to 3, colour ones averaged to 1; none keeps them.
    pub channels: Option<i64>,
    /// Divide by 255 (to [0, 1]) before standardising.
    pub scale: bool,
    /// Per-channel mean and std (one value, or one per channel); empty = 0 and 1.
    pub mean: Vec<f64>,
    pub std: Vec<f64>,
}

impl Default for InputParams {
    fn default() -> Self {
        InputParams { size: None, channels: None, scale: true, mean: Vec::new(), std: Vec::new() }
    }
}

impl InputParams {
    pub fn check(&self, path: &str, c: &mut Checker) {
        if let Some([h, w]) = self.size {
            if h < 1 || w < 1 {
                c.push(&format!("{path}.size"), format!("must be two positive sizes (got [{h}, {w}])"));
            }
        }
        if let Some(ch) = self.channels {
            if ch != 1 && ch != 3 {
                c.push(&format!("{path}.channels"), format!("must be 1 or 3 (got {ch})"));
            }
        }
        if self.mean.len() != self.std.len() {
            c.push(&format!("{path}.std"), format!("has {} values but mean has {}", self.std.len(), self.mean.len()));
        }
        for (i, s) in self.std.iter().enumerate() {
            c.positive_f(&format!("{path}.std[{i}]"), *s);
        }
    }

    /// u8 images → the float input the encoder expects, on the images' device.
    pub fn apply(&self, images: &Tensor) -> Result<Tensor> {
        self.prepare(images.to_kind(Kind::Float), false)
    }

    /// Float images → the encoder's input; `unit` says whether `x` is already
    /// divided by 255 (as in fine-tuning's training loop) or holds pixel values.
    pub fn prepare(&self, x: Tensor, unit: bool) -> Result<Tensor> {
        let device = x.device();
        let mut x = match (self.scale, unit) {
            (true, false) => &x / 255.0,
            (false, true) => &x * 255.0,
            _ => x.shallow_clone(),
        };
        let c = x.size()[1];
        x = match (c, self.channels) {
            (1, Some(3)) => x.repeat([1, 3, 1, 1]),
            (3, Some(1)) => x.mean_dim([1i64].as_slice(), true, Kind::Float),
            _ => x,
        };
        if let Some([h, w]) = self.size {
            if x.size()[2..] != [h, w] {
                x = x.upsample_bilinear2d([h, w], false, None, None);
            }
        }
        if !self.mean.is_empty() {
            let c = x.size()[1];
            let n = self.mean.len() as i64;
            if n != 1 && n != c {
                return Err(Error::stage(format!("input.mean has {n} values but the encoder receives {c} channels")));
            }
            let per =
                |v: &[f64]| Tensor::from_slice(&v.iter().map(|&a| a as f32).collect::<Vec<_>>()).view([1, n, 1, 1]);
            x = (x - per(&self.mean).to_device(device)) / per(&self.std).to_device(device);
        }
        Ok(x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_adapts_channels_size_and_standardizes() {
        let img = Tensor::from_slice(&[0u8, 255, 51, 102]).view([1, 1, 2, 2]);
        let p = InputParams { channels: Some(3), mean: vec![0.5], std: vec![0.5], ..Default::default() };
        let x = p.apply(&img).unwrap();
        assert_eq!(x.size(), [1, 3, 2, 2]);
        assert!((x.double_value(&[0, 2, 0, 1]) - 1.0).abs() < 1e-6);
        assert!((x.double_value(&[0, 0, 0, 0]) + 1.0).abs() < 1e-6);
        let r = InputParams { size: Some([4, 4]), ..Default::default() }.apply(&img).unwrap();
        assert_eq!(r.size(), [1, 1, 4, 4]);
        let three = Tensor::from_slice(&[30u8, 60, 90]).view([1, 3, 1, 1]);
        let g = InputParams { channels: Some(1), scale: false, ..Default::default() }.apply(&three).unwrap();
        assert!((g.double_value(&[0, 0, 0, 0]) - 60.0).abs() < 1e-4);
    }

    #[test]
    fn pickles_are_told_apart_from_torchscript_archives() {
        let d = tempfile::tempdir().unwrap();
        let legacy = d.path().join("m.pt");
        std::fs::write(&legacy, [0x80u8, 2, b'c', b'x']).unwrap();
        assert_eq!(sniff(&legacy).unwrap(), TorchFile::Pickled);
        let e = refuse_pickle(&legacy).unwrap_err().to_string();
        assert!(e.contains("pickled torch.save") && e.contains("save_file") && e.contains("torch.jit.trace"), "{e}");
        let npz = d.path().join("a.npz");
        Tensor::write_npz(&[("train", Tensor::zeros([2, 2], (Kind::Float, tch::Device::Cpu)))], &npz).unwrap();
        assert_eq!(sniff(&npz).unwrap(), TorchFile::Other);
    }
}
