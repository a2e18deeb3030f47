//! The run-time concerns of a process: which device, deterministic kernels and
//! thread counts, seeding, the environment record, Ctrl-C — and the one set-up
//! that `run` and `run-cell` share.
pub mod denormals;
pub mod determinism;
pub mod device;
pub mod environment;
pub mod interrupt;
pub mod seeding;

use crate::error::Result;
use device::DeviceChoice;

/// Applies a suite's run-time settings to this process and resolves its
/// device: libtorch threads (the suite's `threads` wins over a worker's share,
/// which keeps results bit-identical across `--jobs` and Slurm settings),
/// deterministic algorithms, and the device (`device` overrides the suite's).
/// Returns the device and a note for the manifest.
pub fn setup(
    settings: &RunSettings,
    device: Option<DeviceChoice>,
    worker_threads: Option<usize>,
) -> Result<(tch::Device, String)> {
    if let Some(t) = settings.threads.or(worker_threads) {
        tch::set_num_threads(t as i32);
    }
    if settings.deterministic {
        determinism::set_deterministic(true)?;
    }
    let (dev, note) = device::resolve(device.unwrap_or(settings.device))?;
    Ok((dev, if settings.deterministic { format!("{note}; deterministic algorithms") } else { note }))
}

/// A suite's run-time settings (`threads`, `deterministic`, `device`): what
/// `setup` reads, so that this module does not depend on `spec/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunSettings {
    pub threads: Option<usize>,
    pub deterministic: bool,
    pub device: DeviceChoice,
}
