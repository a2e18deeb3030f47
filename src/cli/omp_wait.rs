//! OpenMP worker threads that sleep instead of spinning when they wait.
//!
//! Why: libtorch's CPU kernels run on libgomp, whose idle workers spin for a
//! while before sleeping (`OMP_WAIT_POLICY` unset). On a machine where another
//! process holds a core — a shared workstation, an oversubscribed cluster node —
//! a spinning worker takes time from the one that still has work, and every
//! parallel region waits for the slowest: the quickstart took 3.1× its idle
//! time with a busy loop on one of two cores (231 s against 75 s), where a fair
//! share would cost 2×. With `PASSIVE` it took 1.75× (136 s against 78 s), and
//! every result was bit-identical: the wait policy changes no partition of the
//! work, unlike sizing the thread count to the load, which changed the last
//! digits of probe results (docs/benchmarks.md).
//!
//! libgomp reads the variable once, when it is loaded, before `main`: setting it
//! from `main` changes nothing, and an `.preinit_array` hook runs before libc
//! sets up the environment. So a command about to compute re-executes itself
//! once with `OMP_WAIT_POLICY=PASSIVE` (one process start, ~0.2 s); a fully
//! cached run never does. A value the user set is left alone
//! (`OMP_WAIT_POLICY=ACTIVE` restores spinning); the manifest records it.
use std::os::unix::process::CommandExt;

const VAR: &str = "OMP_WAIT_POLICY";

/// Whether this process already runs with a wait policy (set by the user or by
/// an earlier re-execution).
pub fn is_set() -> bool {
    std::env::var_os(VAR).is_some()
}

/// Replaces this process by the same command with `OMP_WAIT_POLICY=PASSIVE`,
/// unless a policy is set. Returns only when it is set or the exec failed
/// (then the run goes on with spinning workers, which changes no result, and
/// says so).
pub fn reexec_passive() {
    if is_set() {
        return;
    }
    let Ok(exe) = std::env::current_exe() else { return };
    let err = std::process::Command::new(exe).args(std::env::args_os().skip(1)).env(VAR, "PASSIVE").exec();
    eprintln!("repbench: could not restart with {VAR}=PASSIVE ({err}); OpenMP workers will spin while they wait");
}
