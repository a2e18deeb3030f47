//! Choosing the device, and making CUDA usable from a CPU-linked binary.
//!
//! libtorch's CUDA backend lives in `libtorch_cuda.so` and registers itself from
//! static initialisers when that library is loaded. A binary linked on a machine
//! without the CUDA runtime does not depend on it (see build.rs), so before the
//! first CUDA query we load it with `RTLD_GLOBAL` — from `LD_LIBRARY_PATH` first,
//! then from the libtorch the binary was linked against. It must happen before
//! libtorch caches "no CUDA", which is why `resolve` is the only door to CUDA.
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::sync::OnceLock;
use tch::Device;

/// Which device to run on. `auto` takes CUDA when it is available.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceChoice {
    #[default]
    Auto,
    Cpu,
    Cuda,
}

/// The device line of an `auto` run without a usable GPU.
pub const CPU_FALLBACK: &str = "cpu (no CUDA device)";

static CUDA_LOAD: OnceLock<std::result::Result<String, String>> = OnceLock::new();

/// Loads libtorch_cuda once; Ok(where from) or Err(why not).
pub fn load_cuda() -> std::result::Result<String, String> {
    CUDA_LOAD
        .get_or_init(|| {
            if cfg!(repbench_cuda_linked) {
                return Ok("linked".to_string());
            }
            let mut tried: Vec<String> = Vec::new();
            let candidates =
                ["libtorch_cuda.so".to_string(), format!("{}/libtorch_cuda.so", env!("REPBENCH_LIBTORCH_LIB"))];
            for c in candidates {
                // SAFETY: loading libtorch's own CUDA library; its initialisers only
                // register the CUDA backend with the already-loaded libtorch.
                let flags = libloading::os::unix::RTLD_NOW | libloading::os::unix::RTLD_GLOBAL;
                match unsafe { libloading::os::unix::Library::open(Some(&c), flags) } {
                    Ok(lib) => {
                        std::mem::forget(lib);
                        return Ok(c);
                    }
                    Err(e) => tried.push(e.to_string()),
                }
            }
            // The last attempt (libtorch's own folder) says best what is missing.
            Err(tried.pop().unwrap_or_default())
        })
        .clone()
}

/// Whether CUDA can be used (loads the CUDA backend if needed).
pub fn cuda_available() -> bool {
    load_cuda().is_ok() && tch::Cuda::is_available()
}

/// Resolves the suite's or command line's choice. `cuda` without a GPU is an
/// error that says why (never a silent CPU run); `auto` falls back to CPU with
/// the plain line `cpu (no CUDA device)`: the loader's reason is for whoever
/// debugs a GPU machine, and stays in the manifest's environment (`cuda_note`).
pub fn resolve(choice: DeviceChoice) -> Result<(Device, String)> {
    match choice {
        DeviceChoice::Cpu => Ok((Device::Cpu, "cpu (requested)".into())),
        DeviceChoice::Cuda | DeviceChoice::Auto => {
            let why = match load_cuda() {
                Ok(_) if tch::Cuda::is_available() => {
                    return Ok((Device::Cuda(0), format!("cuda:0 ({} device(s))", tch::Cuda::device_count())))
                }
                Ok(from) => format!("libtorch_cuda loaded from {from} but no CUDA device is visible"),
                Err(e) => format!("no CUDA backend: {e}"),
            };
            if choice == DeviceChoice::Cuda {
                Err(Error::stage(format!("device cuda requested: {why}")))
            } else {
                Ok((Device::Cpu, CPU_FALLBACK.to_string()))
            }
        }
    }
}
