//! Link-time set-up for the repbench binaries.
//!
//! * rpath: the binary finds libtorch without `LD_LIBRARY_PATH` (the lib dir torch-sys
//!   used, exported as `DEP_TCH_LIBTORCH_LIB`).
//! * CUDA: libtorch's CUDA backend registers itself from the static initialisers of
//!   `libtorch_cuda.so`, which nothing references by symbol, so the default
//!   `--as-needed` drops it. When the CUDA runtime libraries it needs resolve on the
//!   build machine (or `REPBENCH_LINK_CUDA=1`), we link it with `--no-as-needed`.
//!   Otherwise the binary is CPU-linked and `src/device.rs` loads `libtorch_cuda.so`
//!   at start-up when a CUDA device is requested, so one binary built on a CPU
//!   machine still uses the GPU on a machine that has one.
use std::path::Path;
use std::process::Command;

fn cuda_runtime_resolves(lib: &Path) -> bool {
    let so = lib.join("libtorch_cuda.so");
    if !so.exists() {
        return false;
    }
    match Command::new("ldd").arg(&so).output() {
        Ok(out) => out.status.success() && !String::from_utf8_lossy(&out.stdout).contains("not found"),
        Err(_) => false,
    }
}

/// The paths the binary is built from; see [`git_info`].
const BUILT_FROM: &[&str] = &["src", "build.rs", "Cargo.toml", "Cargo.lock"];

/// Commit and dirty flag of the source tree, for provenance.
///
/// "Dirty" means a file the binary is built from (src/, build.rs, Cargo.toml,
/// Cargo.lock) differs from the commit or is untracked: an edited suite, doc or report does not
/// change what the binary computes, so it does not make its manifests dirty.
/// Suites are recorded by content in each manifest anyway.
fn git_info() {
    let run = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let commit = run(&["rev-parse", "HEAD"]).unwrap_or_else(|| "unknown".into());
    let status: Vec<&str> =
        ["status", "--porcelain", "--untracked-files=all", "--"].iter().chain(BUILT_FROM).copied().collect();
    let dirty = run(&status).map(|s| !s.is_empty()).unwrap_or(false);
    println!("cargo:rustc-env=REPBENCH_GIT_COMMIT={commit}");
    println!("cargo:rustc-env=REPBENCH_GIT_DIRTY={dirty}");
    // Re-stamp (and re-run this script) when the commit or index moves, or a built-from file changes
    // without being staged (cargo scans directories recursively).
    for f in [".git/HEAD", ".git/index"].iter().chain(BUILT_FROM) {
        if Path::new(f).exists() {
            println!("cargo:rerun-if-changed={f}");
        }
    }
}

fn main() {
    git_info();
    println!("cargo:rerun-if-env-changed=REPBENCH_LINK_CUDA");
    let lib = std::env::var("DEP_TCH_LIBTORCH_LIB").unwrap_or_default();
    // Resolve the checkout's `.libtorch` link so the binary keeps working when
    // copied out of the checkout on the same machine.
    let lib = std::fs::canonicalize(&lib).map(|p| p.display().to_string()).unwrap_or(lib);
    println!("cargo::rustc-check-cfg=cfg(repbench_cuda_linked)");
    let version = std::fs::read_to_string(Path::new(&lib).join("../build-version"))
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into());
    println!("cargo:rustc-env=REPBENCH_LIBTORCH_VERSION={version}");
    println!("cargo:rustc-env=REPBENCH_LIBTORCH_LIB={lib}");
    if lib.is_empty() {
        return;
    }
    println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
    let forced = std::env::var("REPBENCH_LINK_CUDA").map(|v| v == "1").unwrap_or(false);
    if forced || cuda_runtime_resolves(Path::new(&lib)) {
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
        println!("cargo:rustc-link-arg=-Wl,--allow-shlib-undefined");
        println!("cargo:rustc-link-arg=-ltorch_cuda");
        println!("cargo:rustc-link-arg=-Wl,--as-needed");
        println!("cargo:rustc-cfg=repbench_cuda_linked");
    }
}
