//! Bring-your-own timings (issue 14), printed as `name: value` lines:
//!   * importing 70,000 × 512 float32 embeddings from an `.npz`: content key
//!     (sha256, cold and memoized), reading and checking, and looking up the
//!     rows of a 60k/10k split;
//!   * the fixture TorchScript CNN's forward over 10,000 images, which
//!     benches/byo.py repeats in PyTorch Python on the same libtorch
//!     (scripts/bench_byo.sh runs both, side by side).
//!
//! `cargo bench --bench byo`
use repbench::represent::embeddings::EmbeddingsParams;
use repbench::represent::torchscript::TorchscriptParams;
use repbench::represent::{Fitted, Part};
use std::path::Path;
use std::time::Instant;
use tch::{Device, Kind, Tensor};

fn secs(t: Instant) -> f64 {
    t.elapsed().as_secs_f64()
}

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let npz = dir.path().join("feats.npz");
    let train = repbench::runtime::seeding::randn(&[60_000, 512], 1);
    let test = repbench::runtime::seeding::randn(&[10_000, 512], 2);
    Tensor::write_npz(&[("train", &train), ("test", &test)], &npz).expect("write npz");
    let mb = std::fs::metadata(&npz).map(|m| m.len()).unwrap_or(0) as f64 / 1e6;
    println!("npz: 70000 x 512 float32, {mb:.0} MB (stored, uncompressed)");
    let memo = dir.path().join("memo");
    let t = Instant::now();
    repbench::data::fingerprint::file_hash(&npz, Some(&memo)).expect("hash");
    println!("key_cold_s: {:.3}", secs(t));
    let t = Instant::now();
    repbench::data::fingerprint::file_hash(&npz, Some(&memo)).expect("hash");
    println!("key_memoized_s: {:.4}", secs(t));
    let spec = EmbeddingsParams { path: Some(npz.clone()), ..Default::default() };
    let t = Instant::now();
    let fitted = spec.load().expect("load");
    let load = secs(t);
    let t = Instant::now();
    let rows: Vec<usize> = (0..54_000).collect();
    let a = fitted.embed_rows(Part::Train, &rows, 60_000).expect("rows").expect("rows");
    let b = fitted.embed_rows(Part::Test, &(0..10_000).collect::<Vec<_>>(), 10_000).expect("rows").expect("rows");
    let lookup = secs(t);
    assert_eq!(a.size()[0] + b.size()[0], 64_000);
    println!("read_and_check_s: {load:.3}");
    println!("row_lookup_s: {lookup:.3}");

    let ts = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/byo/small_cnn.ts.pt");
    let spec: TorchscriptParams = serde_yaml::from_str(&format!(
        "path: {}\ninput: {{mean: [0.2860], std: [0.3530]}}\nbatch_size: 256",
        ts.display()
    ))
    .expect("spec");
    let fitted = spec.load(Device::Cpu).expect("load");
    let n = 10_000i64;
    let images =
        Tensor::arange(n * 784, (Kind::Int64, Device::Cpu)).remainder(251).to_kind(Kind::Uint8).view([n, 1, 28, 28]);
    let _ = fitted.embed(&images.narrow(0, 0, 512), Device::Cpu).expect("warm-up");
    let mut best = f64::INFINITY;
    for _ in 0..3 {
        let t = Instant::now();
        let f = fitted.embed(&images, Device::Cpu).expect("embed");
        assert_eq!(f.size(), [n, 128]);
        best = best.min(secs(t));
    }
    println!("torchscript_threads: {}", tch::get_num_threads());
    println!("torchscript_10k_s: {best:.3}");
    println!("torchscript_img_per_s: {:.0}", n as f64 / best);
}
