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

/// Runs `f` with libtorch's global generator seeded to `seed`. The lock keeps two
/// threads from interleaving draws from the one global generator.
pub fn with_torch_seed<T>(seed: u64, f: impl FnOnce() -> T) -> T {
    let _guard = TORCH_SEED.lock().unwrap_or_else(|e| e.into_inner());
    tch::manual_seed(seed as i64);
    f()
}

/// Standard-normal f32 noise of `shape` on the CPU, drawn under `seed` (for
/// tests and benchmarks: the draw holds the generator lock, so tests running in
/// parallel threads cannot reseed it halfway).
pub fn randn(shape: &[i64], seed: u64) -> tch::Tensor {
    with_torch_seed(seed, || tch::Tensor::randn(shape, (tch::Kind::Float, tch::Device::Cpu)))
}
