//! Ctrl-C: the first SIGINT (or SIGTERM) asks the run to stop at the next
//! training step or cell boundary — finished entries stay in the cache, the
//! report is written for what finished, the exit status is 130. A second one
//! exits at once (the cache stays consistent either way: entries appear by
//! atomic rename, and killed trainings resume from their last epoch).
use std::sync::atomic::{AtomicBool, Ordering};

static REQUESTED: AtomicBool = AtomicBool::new(false);

/// Installs the handler (once per process; later calls are no-ops).
pub fn install() {
    let _ = ctrlc::set_handler(|| {
        if REQUESTED.swap(true, Ordering::SeqCst) {
            eprintln!("\nrepbench: second interrupt, exiting now");
            std::process::exit(130);
        }
        eprintln!("\nrepbench: interrupted; stopping after the current step (Ctrl-C again to exit at once)");
    });
}

/// Whether a stop was requested.
pub fn requested() -> bool {
    REQUESTED.load(Ordering::SeqCst)
}
