//! All randomness flows from the cell's seed: a seeded ChaCha RNG on the Rust side
//! and libtorch's generator, re-seeded for each stage. Stage seeds are derived by
//! hashing, so adding a stage never shifts the draws of another.
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha256};
use std::sync::Mutex;

/// A seed for one use of the cell seed, e.g. `derive(seed, "fit/pca")`.
pub fn derive(seed: u64, label: &str) -> u64 {
    let h = Sha256::new().chain_update(seed.to_le_bytes()).chain_update(label.as_bytes()).finalize();
    u64::from_le_bytes(h[..8].try_into().unwrap_or([0; 8]))
}

/// A Rust RNG for `label` under `seed`.
pub fn rng(seed: u64, label: &str) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(derive(seed, label))
}

static TORCH_SEED: Mutex<()> = Mutex::new(());

thread_local! {
    /// Whether this thread holds the generator lock (inside `with_torch_seed`).
    static SEEDED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f` with libtorch's global generator seeded to `seed`.
///
/// One mechanism for every libtorch draw: the lock. tch 0.24 exposes no
/// generator object, so every draw reads the one global generator; a draw made
/// without the lock while another thread holds it advances that thread's
/// sequence (the flaky `augment` test of issue 33: a blur's sigma drawn
/// outside the lock in one test thread changed another's views). Every draw
/// site calls `check_seeded`, which fails a test build when it runs outside.
pub fn with_torch_seed<T>(seed: u64, f: impl FnOnce() -> T) -> T {
    let _guard = TORCH_SEED.lock().unwrap_or_else(|e| e.into_inner());
    tch::manual_seed(seed as i64);
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            SEEDED.with(|s| s.set(false));
        }
    }
    SEEDED.with(|s| s.set(true));
    let _reset = Reset;
    f()
}

/// Whether this thread's libtorch draws are seeded and hold the lock.
pub fn draws_are_seeded() -> bool {
    SEEDED.with(|s| s.get())
}

/// Called at each libtorch draw site: in the library's own test build an
/// unseeded draw panics, naming the site, so a test that draws outside the lock
/// fails every time instead of making another test fail once in a while. In
/// other builds it checks nothing (every production path draws under a stage's
/// seed; the parallel-thread test in tests/rng_threads.rs holds them to it).
#[inline]
pub fn check_seeded(site: &str) {
    if cfg!(test) && !draws_are_seeded() {
        panic!("libtorch draw outside with_torch_seed: {site}");
    }
}

/// Standard-normal f32 noise of `shape` on the CPU, drawn under `seed` (for
/// tests and benchmarks: the draw holds the generator lock, so tests running in
/// parallel threads cannot reseed it halfway).
pub fn randn(shape: &[i64], seed: u64) -> tch::Tensor {
    with_torch_seed(seed, || tch::Tensor::randn(shape, (tch::Kind::Float, tch::Device::Cpu)))
}
