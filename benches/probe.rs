//! The linear probe's whole L2 path on 60,000 × 784 standardized raw Fashion-MNIST
//! pixels (train = the first 54,000 official training images, validation = the
//! last 6,000, test = the official 10,000), L-BFGS to max |grad| ≤ 1e-4 at every
//! grid point. benches/probe_sklearn.py fits scikit-learn's
//! LogisticRegression(solver="lbfgs") on the same data, the same path and the
//! same tolerance; scripts/bench_probe.sh runs both, side by side.
//!
//! `cargo bench --bench probe` (needs the Debian package dataset-fashion-mnist)
use repbench::eval::linear_probe::LinearProbeParams;
use std::time::Instant;
use tch::{Kind, Tensor};

fn accuracy(p: &Tensor, y: &Tensor) -> f64 {
    p.eq_tensor(y).to_kind(Kind::Double).mean(Kind::Double).double_value(&[])
}

fn main() {
    let ds = repbench::data::idx::load_dir(
        "fashion-mnist",
        std::path::Path::new(repbench::data::named::FASHION_MNIST_DEBIAN),
    )
    .expect("the Debian package dataset-fashion-mnist (bash scripts/setup.sh)");
    let (x, y) = ds.train.select(&(0..60_000).collect::<Vec<_>>());
    let (xt, yt) = ds.test.select(&(0..10_000).collect::<Vec<_>>());
    let flat = |x: &Tensor| x.to_kind(Kind::Float).flatten(1, -1) / 255.0;
    let (x, xt) = (flat(&x), flat(&xt));
    let (tr_x, tr_y) = (x.narrow(0, 0, 54_000), y.narrow(0, 0, 54_000));
    let (va_x, va_y) = (x.narrow(0, 54_000, 6_000), y.narrow(0, 54_000, 6_000));
    let p = LinearProbeParams::default();
    println!("threads: {}", tch::get_num_threads());
    let t = Instant::now();
    let probe = p.train(&tr_x, &tr_y, 10, 0).expect("probe");
    let secs = t.elapsed().as_secs_f64();
    let (val, test) = (probe.predict(&va_x), probe.predict(&xt));
    let mut total_iters = 0;
    for (i, l2) in p.l2_grid.iter().enumerate() {
        let (it, g, c) = probe.path[i].expect("lbfgs");
        total_iters += it;
        println!(
            "l2 {l2:e}: iterations {it}, max|grad| {g:.2e}, converged {c}, val {:.4}, test {:.4}",
            accuracy(&val.get(i as i64), &va_y),
            accuracy(&test.get(i as i64), &yt)
        );
    }
    println!("repbench_path_s: {secs:.2} ({total_iters} iterations over {} grid points)", p.l2_grid.len());
}
