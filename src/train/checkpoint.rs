//! Per-epoch checkpoints under `<cache>/checkpoints/<fit key>/`. Each holds the
//! model, the optimizer state, the method's extra state (EMA teacher, DINO centre)
//! and the epoch logs. The tensors file is written first and renamed into place;
//! the small JSON written after it is the commit marker, so a checkpoint without
//! its JSON is never used.
use super::trainer::EpochLog;
use crate::error::{Error, IoContext, Result};
use std::path::{Path, PathBuf};
use tch::Tensor;

/// Copies `<prefix>/<name>` from `get` into every variable of `vs` (on its
/// device); used for checkpoints, fitted states and EMA teachers alike.
pub fn load_vars(vs: &tch::nn::VarStore, prefix: &str, get: &dyn Fn(&str) -> Option<Tensor>) -> Result<()> {
    let dev = vs.device();
    tch::no_grad(|| {
        for (name, mut t) in vs.variables() {
            let src = get(&format!("{prefix}/{name}"))
                .ok_or_else(|| Error::stage(format!("saved state lacks {prefix}/{name}")))?;
            t.copy_(&src.to_device(dev));
        }
        Ok(())
    })
}

pub struct Checkpointer {
    pub dir: PathBuf,
}

pub struct Loaded {
    pub epoch: usize,
    pub tensors: Vec<(String, Tensor)>,
    pub logs: Vec<EpochLog>,
}

impl Checkpointer {
    pub fn new(dir: &Path) -> Result<Checkpointer> {
        std::fs::create_dir_all(dir).at(dir)?;
        Ok(Checkpointer { dir: dir.to_path_buf() })
    }

    pub fn save(&self, epoch: usize, tensors: &[(String, Tensor)], logs: &[EpochLog]) -> Result<()> {
        let final_t = self.dir.join(format!("epoch-{epoch:05}.safetensors"));
        let tmp = self.dir.join(format!(".epoch-{epoch:05}.safetensors.tmp-{}", std::process::id()));
        let cpu: Vec<(String, Tensor)> =
            tensors.iter().map(|(n, t)| (n.clone(), t.to_device(tch::Device::Cpu).contiguous())).collect();
        Tensor::write_safetensors(&cpu, &tmp)?;
        std::fs::rename(&tmp, &final_t).at(&final_t)?;
        let json = serde_json::to_vec(logs).map_err(|e| Error::stage(e.to_string()))?;
        crate::files::write_atomic(&self.dir.join(format!("epoch-{epoch:05}.json")), &json)?;
        // Keep only the newest checkpoint.
        for e in std::fs::read_dir(&self.dir).at(&self.dir)?.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with("epoch-") && !name.starts_with(&format!("epoch-{epoch:05}")) {
                let _ = std::fs::remove_file(e.path());
            }
        }
        Ok(())
    }

    /// The newest committed checkpoint, if any.
    pub fn latest(&self) -> Result<Option<Loaded>> {
        let mut best: Option<usize> = None;
        for e in std::fs::read_dir(&self.dir).at(&self.dir)?.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(n) =
                name.strip_prefix("epoch-").and_then(|s| s.strip_suffix(".json")).and_then(|s| s.parse::<usize>().ok())
            {
                if self.dir.join(format!("epoch-{n:05}.safetensors")).exists() && best.is_none_or(|b| n > b) {
                    best = Some(n);
                }
            }
        }
        let Some(epoch) = best else { return Ok(None) };
        let jp = self.dir.join(format!("epoch-{epoch:05}.json"));
        let logs: Vec<EpochLog> = serde_json::from_str(&std::fs::read_to_string(&jp).at(&jp)?)
            .map_err(|e| Error::Cache { path: jp.clone(), msg: e.to_string() })?;
        let tensors = Tensor::read_safetensors(self.dir.join(format!("epoch-{epoch:05}.safetensors")))?;
        Ok(Some(Loaded { epoch, tensors, logs }))
    }

    /// Removes the folder once the final weights are in the cache.
    pub fn clear(&self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
