//! What subnormal floats cost libtorch on this CPU, and what flushing them saves
//! (src/runtime/denormals.rs). Side by side in one process: a convolution forward
//! and backward (a ConvNet block's shapes, batch 128) and a matrix product (a
//! DINO head's), once on ordinary operands and once on operands scaled into the
//! subnormal range, with subnormals kept (IEEE, PyTorch's default) and flushed.
//! `cargo bench --bench denormals`; results in docs/benchmarks.md.
use repbench::runtime::denormals::set_flush;
use std::time::Instant;
use tch::{Device, Kind, Tensor};

const REPS: usize = 10;

/// Best of three timings of `REPS` repetitions, in milliseconds per repetition.
fn time(mut f: impl FnMut()) -> f64 {
    f(); // warm-up: oneDNN builds its kernels on the first call
    (0..3)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..REPS {
                f();
            }
            t.elapsed().as_secs_f64() * 1e3 / REPS as f64
        })
        .fold(f64::INFINITY, f64::min)
}

fn row(label: &str, scale: f64) -> (f64, f64) {
    let opts = (Kind::Float, Device::Cpu);
    tch::manual_seed(0);
    let x = Tensor::randn([128, 16, 28, 28], opts);
    let w = (Tensor::randn([32, 16, 3, 3], opts) * scale).set_requires_grad(true);
    let a = Tensor::randn([256, 2048], opts) * scale;
    let b = Tensor::randn([2048, 2048], opts);
    let conv = time(|| {
        let y = x.conv2d(&w, None::<Tensor>, [1], [1], [1], 1);
        y.sum(Kind::Float).backward();
    });
    let mm = time(|| {
        let _ = a.matmul(&b);
    });
    println!("| {label} | {conv:.1} | {mm:.1} |");
    (conv, mm)
}

fn main() {
    tch::set_num_threads(2);
    println!("libtorch threads: {}; {REPS} repetitions, best of 3", tch::get_num_threads());
    println!("| operands, subnormal handling | conv 16→32 3×3 on 128×28×28, fwd+bwd (ms) | matmul 256×2048 · 2048×2048 (ms) |");
    println!("|---|---|---|");
    // The kept rows first; then flushing is set on this thread, and the count of
    // subnormals surviving a parallel libtorch product checks that libtorch's
    // threads flush too.
    set_flush(false);
    let kept_n = row("ordinary, kept", 1.0);
    let kept_s = row("subnormal (×1e-39), kept", 1e-39);
    set_flush(true);
    let left = repbench::runtime::denormals::surviving_subnormals(1 << 22);
    let flush_n = row("ordinary, flushed", 1.0);
    let flush_s = row("subnormal (×1e-39), flushed", 1e-39);
    println!(
        "\nsubnormal/ordinary: kept conv {:.1}× matmul {:.1}×; flushed conv {:.1}× matmul {:.1}× \
         ({left} of 4194304 subnormals survived a libtorch product after flushing was set)",
        kept_s.0 / kept_n.0,
        kept_s.1 / kept_n.1,
        flush_s.0 / flush_n.0,
        flush_s.1 / flush_n.1
    );
}
