//! Benchmarks for the issue-4 analyses: linear CKA of two 10,000 × 512
//! embeddings, Barnes–Hut t-SNE of 5,000 points (raw pixels of the first 5,000
//! Fashion-MNIST test images, or random clusters when the dataset is absent).
//! `benches/reference_analysis.py` does the same with numpy / scikit-learn.
//!
//! `cargo bench --bench analysis`; results go to docs/benchmarks.md.
use repbench::eval::similarity::linear_cka;
use repbench::eval::tsne::{map_knn_accuracy, tsne, TsneConfig};
use std::time::Instant;
use tch::{Device, Kind, Tensor};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    println!("threads: {}", tch::get_num_threads());
    let (x, y) = repbench::runtime::seeding::with_torch_seed(0, || {
        let x = Tensor::randn([10_000, 512], (Kind::Float, Device::Cpu));
        let y = x.matmul(&Tensor::randn([512, 512], (Kind::Float, Device::Cpu)))
            + Tensor::randn([10_000, 512], (Kind::Float, Device::Cpu));
        (x, y)
    });
    let _ = linear_cka(&x, &y).unwrap();
    let times: Vec<f64> = (0..5)
        .map(|_| {
            let t = Instant::now();
            let _ = linear_cka(&x, &y).unwrap();
            t.elapsed().as_secs_f64()
        })
        .collect();
    println!(
        "linear CKA 10000x512 vs 10000x512: median {:.3} s of 5 (value {:.4})",
        median(times),
        linear_cka(&x, &y).unwrap()
    );

    let dir = std::path::Path::new(repbench::data::named::FASHION_MNIST_DEBIAN);
    let (points, labels, what) = if dir.join("t10k-images-idx3-ubyte.gz").exists() {
        let ds = repbench::data::idx::load_dir("fashion-mnist", dir).unwrap();
        let idx: Vec<usize> = (0..5000).collect();
        let (imgs, labels) = ds.test.select(&idx);
        (
            imgs.view([5000, -1]).to_kind(Kind::Float) / 255.0,
            Vec::<i64>::try_from(labels).unwrap(),
            "Fashion-MNIST test[:5000] raw pixels",
        )
    } else {
        let labels: Vec<i64> = (0..5000).map(|i| i % 10).collect();
        let c = Tensor::randn([10, 50], (Kind::Float, Device::Cpu)) * 5.0;
        (
            c.index_select(0, &Tensor::from_slice(&labels)) + Tensor::randn([5000, 50], (Kind::Float, Device::Cpu)),
            labels,
            "10 random gaussian clusters",
        )
    };
    let t = Instant::now();
    let map = tsne(&points, &TsneConfig::default()).unwrap();
    let secs = t.elapsed().as_secs_f64();
    println!("t-SNE of 5000 points ({what}; perplexity 30, 1000 iterations, theta 0.5): {secs:.2} s; 5-NN accuracy in the map {:.4}", map_knn_accuracy(&map, &labels, 5));
}
