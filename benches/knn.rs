//! Weighted k-NN on full Fashion-MNIST raw pixels (bank = 60k train, 10k
//! queries, k = 20, T = 0.07): repbench's `knn_vote::predict`, timed as
//! benches/knn_torch.py times the same vote in PyTorch (scripts/bench_knn.sh
//! runs both, one after the other).
use repbench::data::named::FASHION_MNIST_DEBIAN;
use std::path::Path;
use std::time::Instant;
use tch::Kind;

fn main() {
    let dir = Path::new(FASHION_MNIST_DEBIAN);
    if !dir.join("train-images-idx3-ubyte.gz").exists() {
        eprintln!("skipping: {FASHION_MNIST_DEBIAN} not installed (apt-get install dataset-fashion-mnist)");
        return;
    }
    let ds = repbench::data::idx::load_dir("fashion-mnist", dir).expect("Fashion-MNIST loads");
    let (train, ty) = ds.train.select(&(0..ds.train.len()).collect::<Vec<_>>());
    let (test, sy) = ds.test.select(&(0..ds.test.len()).collect::<Vec<_>>());
    let flat = |x: &tch::Tensor| x.flatten(1, -1).to_kind(Kind::Float) / 255.0;
    let (train, test) = (flat(&train), flat(&test));
    let mut best = f64::INFINITY;
    let mut acc = 0.0;
    for _ in 0..3 {
        let t = Instant::now();
        let p = repbench::knn_vote::predict(&train, &ty, &test, &[20], 0.07, 10).expect("k-NN runs");
        best = best.min(t.elapsed().as_secs_f64());
        acc = p[0].eq_tensor(&sy).to_kind(Kind::Float).mean(Kind::Float).double_value(&[]);
    }
    println!(
        "repbench k-NN k=20 (60k bank, 10k queries, 784-d, {} threads): {best:.2} s (best of 3), top-1 {acc:.4}",
        tch::get_num_threads()
    );
}
