//! The environment a run happened in, recorded in every manifest and printed by
//! `repbench env`: repbench's version and commit, libtorch, CUDA, threads, machine.
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EnvInfo {
    pub repbench_version: String,
    pub git_commit: String,
    /// A file the binary is built from (src/, build.rs, Cargo.*) differed from
    /// `git_commit` when it was built; edits elsewhere (suites, docs) do not count.
    pub git_dirty: bool,
    pub libtorch_version: String,
    pub libtorch_lib: String,
    pub cuda_available: bool,
    pub cuda_devices: i64,
    pub cuda_note: String,
    pub torch_threads: i32,
    /// Subnormal floats flushed to zero (FTZ/DAZ) on the recording thread, which
    /// every worker thread inherits (src/runtime/denormals.rs). Manifests from
    /// before the setting existed read false: they kept subnormals.
    #[serde(default)]
    pub flush_denormals: bool,
    /// `OMP_WAIT_POLICY` as libgomp read it: the binary sets `PASSIVE` unless the
    /// user set a value (src/cli/omp_wait.rs); None in manifests from before.
    #[serde(default)]
    pub omp_wait_policy: Option<String>,
    pub cpus: usize,
    pub cpu_model: String,
    pub os: String,
    pub hostname: String,
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_default()
}

/// Collects the environment. Loads the CUDA backend when it can, to report it.
pub fn collect() -> EnvInfo {
    let cuda = crate::runtime::device::load_cuda();
    let available = cuda.is_ok() && tch::Cuda::is_available();
    EnvInfo {
        repbench_version: env!("CARGO_PKG_VERSION").to_string(),
        git_commit: env!("REPBENCH_GIT_COMMIT").to_string(),
        git_dirty: env!("REPBENCH_GIT_DIRTY") == "true",
        libtorch_version: env!("REPBENCH_LIBTORCH_VERSION").to_string(),
        libtorch_lib: env!("REPBENCH_LIBTORCH_LIB").to_string(),
        cuda_available: available,
        cuda_devices: if available { tch::Cuda::device_count() } else { 0 },
        cuda_note: match cuda {
            Ok(from) => format!("libtorch_cuda: {from}"),
            Err(e) => e,
        },
        torch_threads: tch::get_num_threads(),
        flush_denormals: crate::runtime::denormals::flushed(),
        omp_wait_policy: std::env::var("OMP_WAIT_POLICY").ok(),
        cpus: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        cpu_model: cpu_model(),
        os: format!("{} {}", std::env::consts::OS, std::env::consts::ARCH),
        hostname: hostname(),
    }
}

/// This machine's host name (`/proc/sys/kernel/hostname`, else `/etc/hostname`).
pub fn hostname() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok())
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}
