//! `deterministic: true` in a suite: libtorch's deterministic algorithms
//! (`torch.use_deterministic_algorithms(True)`), deterministic cuDNN without
//! benchmarking, and the cuBLAS workspace setting CUDA needs for reproducible
//! matrix products. On CPU repbench's results are already bit-identical run to
//! run (same thread count); this is for CUDA, where some kernels (atomics in
//! scatter/index_add, cuDNN algorithm search) are not.
//!
//! tch does not expose `at::Context::setDeterministicAlgorithms`, so it is
//! called through its C++ symbol in the already-loaded libtorch_cpu (Itanium
//! ABI: a non-virtual member function takes `this` as its first argument).
use crate::error::{Error, Result};

type GlobalContext = unsafe extern "C" fn() -> *mut std::ffi::c_void;
type SetFlags = unsafe extern "C" fn(*mut std::ffi::c_void, bool, bool);
type SetFlag = unsafe extern "C" fn(*mut std::ffi::c_void, bool);
type GetFlag = unsafe extern "C" fn(*const std::ffi::c_void) -> bool;

fn lib() -> Result<libloading::os::unix::Library> {
    Ok(libloading::os::unix::Library::this())
}

fn sym<T: Copy>(lib: &libloading::os::unix::Library, name: &[u8]) -> Result<T> {
    // SAFETY: the symbols are looked up by their exact mangled names from
    // libtorch 2.11 and given their C++ signatures above.
    unsafe { lib.get::<T>(name).map(|s| *s) }
        .map_err(|e| Error::stage(format!("libtorch lacks {}: {e}", String::from_utf8_lossy(name))))
}

/// Turns deterministic algorithms (and deterministic cuDNN) on or off; returns
/// the state libtorch reports afterwards.
pub fn set_deterministic(on: bool) -> Result<bool> {
    if on && std::env::var_os("CUBLAS_WORKSPACE_CONFIG").is_none() {
        // Must be set before the first cuBLAS call; harmless on CPU.
        std::env::set_var("CUBLAS_WORKSPACE_CONFIG", ":4096:8");
    }
    let l = lib()?;
    let ctx: GlobalContext = sym(&l, b"_ZN2at13globalContextEv\0")?;
    let set_alg: SetFlags = sym(&l, b"_ZN2at7Context26setDeterministicAlgorithmsEbb\0")?;
    let set_cudnn: SetFlag = sym(&l, b"_ZN2at7Context21setDeterministicCuDNNEb\0")?;
    let get_alg: GetFlag = sym(&l, b"_ZNK2at7Context23deterministicAlgorithmsEv\0")?;
    // SAFETY: globalContext() returns the process-wide at::Context; the setters
    // only store flags in it.
    let state = unsafe {
        let c = ctx();
        set_alg(c, on, false);
        set_cudnn(c, on);
        get_alg(c)
    };
    tch::Cuda::cudnn_set_benchmark(false);
    Ok(state)
}

/// Whether libtorch currently uses deterministic algorithms.
pub fn is_deterministic() -> Result<bool> {
    let l = lib()?;
    let ctx: GlobalContext = sym(&l, b"_ZN2at13globalContextEv\0")?;
    let get_alg: GetFlag = sym(&l, b"_ZNK2at7Context23deterministicAlgorithmsEv\0")?;
    // SAFETY: as above; a read of a flag.
    Ok(unsafe { get_alg(ctx()) })
}

/// Keeps MKL and OpenMP from choosing fewer threads than asked for when the
/// machine is busy (`MKL_DYNAMIC` / `OMP_DYNAMIC` default to true): a matrix
/// product split over a different number of threads rounds differently, so a
/// run on a loaded machine (or beside a build) would not reproduce one on an
/// idle machine bit for bit. Called once at start-up, before any libtorch work;
/// the environment variables also reach worker processes.
pub fn fix_thread_counts() {
    for var in ["MKL_DYNAMIC", "OMP_DYNAMIC"] {
        if std::env::var_os(var).is_none() {
            std::env::set_var(var, "FALSE");
        }
    }
    type SetDynamic = unsafe extern "C" fn(i32);
    let lib = libloading::os::unix::Library::this();
    // `MKL_Set_Dynamic` is MKL's C interface (by value); the lower-case
    // `mkl_set_dynamic` exported by libtorch_cpu is the Fortran one (by pointer).
    for name in [&b"MKL_Set_Dynamic\0"[..], &b"omp_set_dynamic\0"[..]] {
        // SAFETY: both take one int flag by value; they exist in libtorch_cpu
        // (MKL) and libgomp, looked up by name in the already-loaded libraries.
        if let Ok(f) = unsafe { lib.get::<SetDynamic>(name) } {
            unsafe { f(0) };
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_flag_round_trips_through_libtorch() {
        assert!(super::set_deterministic(true).unwrap());
        assert!(super::is_deterministic().unwrap());
        assert!(!super::set_deterministic(false).unwrap());
        assert!(!super::is_deterministic().unwrap());
    }
}
