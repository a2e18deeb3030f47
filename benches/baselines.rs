//! Benchmarks for the hand-engineered path on full Fashion-MNIST (60k/10k):
//! HOG extraction of all 70,000 images, the linear probe on 60k×784
//! standardized raw pixels, and raw-pixel / HOG accuracies.
//!
//! `cargo bench --bench baselines` (needs /usr/share/datasets/fashion-mnist).
//! Results go to docs/benchmarks.md by hand, with the machine they ran on.
use repbench::data::named::FASHION_MNIST_DEBIAN;
use repbench::eval::linear_probe::LinearProbeParams;
use repbench::eval::{knn::KnnParams, EvalContext, Features};
use repbench::represent::{hog::HogParams, FitContext, Fitted, RepresentationSpec};
use std::path::Path;
use std::time::Instant;
use tch::{Device, Tensor};

fn features(fitted: &dyn Fitted, train: &Tensor, test: &Tensor, ty: &Tensor, sy: &Tensor, n_val: i64) -> Features {
    let tr = fitted.embed(train, Device::Cpu).unwrap();
    let te = fitted.embed(test, Device::Cpu).unwrap();
    let n = tr.size()[0];
    Features {
        train_x: tr.narrow(0, 0, n - n_val),
        train_y: ty.narrow(0, 0, n - n_val),
        val_x: tr.narrow(0, n - n_val, n_val),
        val_y: ty.narrow(0, n - n_val, n_val),
        test_x: te,
        test_y: sy.shallow_clone(),
        num_classes: 10,
    }
}

fn main() {
    let dir = Path::new(FASHION_MNIST_DEBIAN);
    if !dir.join("train-images-idx3-ubyte.gz").exists() {
        eprintln!("skipping: {FASHION_MNIST_DEBIAN} not installed (apt-get install dataset-fashion-mnist)");
        return;
    }
    println!("threads: {}", tch::get_num_threads());
    let t = Instant::now();
    let ds = repbench::data::idx::load_dir("fashion-mnist", dir).unwrap();
    println!("load 70k images (gz IDX): {:.2} s", t.elapsed().as_secs_f64());
    let all_train: Vec<usize> = (0..ds.train.len()).collect();
    let all_test: Vec<usize> = (0..ds.test.len()).collect();
    let (train, ty) = ds.train.select(&all_train);
    let (test, sy) = ds.test.select(&all_test);
    let both = Tensor::cat(&[&train, &test], 0);

    // HOG over all 70k images (9 orientations, 4×4 cells, 2×2 blocks).
    let hog = HogParams::default().fit_hog(&train).unwrap();
    let _ = hog.embed(&both.narrow(0, 0, 1000), Device::Cpu).unwrap(); // warm-up
    let mut times = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        let h = hog.embed(&both, Device::Cpu).unwrap();
        times.push(t.elapsed().as_secs_f64());
        assert_eq!(h.size(), vec![70000, 1296]);
    }
    times.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!("hog 70k images: best {:.2} s, median {:.2} s (3 runs)", times[0], times[1]);

    let ctx = EvalContext { device: Device::Cpu, seed: 0 };
    // Validation: the last 6,000 train images (the probe picks its L2 on them;
    // k-NN ignores them). The linear-probe timing below uses all 60k.
    let raw = RepresentationSpec::Raw(Default::default()).fit(&train, &FitContext::simple(Device::Cpu, 0)).unwrap();
    let fr = features(raw.as_ref(), &train, &test, &ty, &sy, 6000);
    let t = Instant::now();
    let out = LinearProbeParams::default().run(&fr, &ctx).unwrap();
    println!(
        "raw + linear probe (54k train, 4-point L2 grid, 30 epochs): {:.2} s, {:?}",
        t.elapsed().as_secs_f64(),
        out.metrics
    );
    let t = Instant::now();
    let out = KnnParams::default().run(&fr).unwrap();
    println!("raw + knn k=20 (bank: all 60k train, 10k test): {:.2} s, {:?}", t.elapsed().as_secs_f64(), out.metrics);

    // Linear probe on all 60k × 784 (one L2 value, as scikit-learn's single fit).
    let x = raw.embed(&train, Device::Cpu).unwrap();
    let single = LinearProbeParams { l2_grid: vec![1e-4], ..Default::default() };
    let t = Instant::now();
    let probe = single.train(&x, &ty, 10, 0).unwrap();
    let secs = t.elapsed().as_secs_f64();
    let acc = repbench::eval::accuracy(&probe.predict(&raw.embed(&test, Device::Cpu).unwrap()).get(0), &sy);
    println!("linear probe fit on 60k×784 (1 L2 value, 30 epochs): {secs:.2} s, test top1 {acc:.4}");
    let grid = LinearProbeParams::default();
    let t = Instant::now();
    let _ = grid.train(&x, &ty, 10, 0).unwrap();
    println!("linear probe fit on 60k×784 (4-point L2 grid at once, 30 epochs): {:.2} s", t.elapsed().as_secs_f64());

    let fh = features(&hog, &train, &test, &ty, &sy, 6000);
    let t = Instant::now();
    let out = LinearProbeParams::default().run(&fh, &ctx).unwrap();
    println!("hog + linear probe (54k train): {:.2} s, {:?}", t.elapsed().as_secs_f64(), out.metrics);
    let out = KnnParams::default().run(&fh).unwrap();
    println!("hog + knn k=20: {:?}", out.metrics);
}
