//! Helpers the test binaries share: tiny generated datasets (IDX files and
//! in-memory image tensors), a suite over them, running the real binary and
//! reading its results.
#![allow(dead_code)]
use std::path::{Path, PathBuf};
use tch::{Device, Kind, Tensor};

/// Writes an IDX file (uncompressed).
pub fn write_idx(path: &Path, dims: &[u32], data: &[u8]) {
    let mut buf = vec![0u8, 0, 0x08, dims.len() as u8];
    for d in dims {
        buf.extend_from_slice(&d.to_be_bytes());
    }
    buf.extend_from_slice(data);
    std::fs::write(path, buf).unwrap();
}

/// 3 classes of 8×8 images: a bright row band, a bright column band, or a
/// diagonal, at a class-specific place, plus deterministic noise.
pub fn make_images(n: usize, offset: usize) -> (Vec<u8>, Vec<u8>) {
    let mut imgs = Vec::with_capacity(n * 64);
    let mut labels = Vec::with_capacity(n);
    let mut state = 12345u64 + offset as u64;
    for i in 0..n {
        let c = (i % 3) as u8;
        for y in 0..8 {
            for x in 0..8 {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let noise = (state >> 61) as u8 * 10;
                let on = match c {
                    0 => (3..5).contains(&y),
                    1 => (3..5).contains(&x),
                    _ => x == y || x + 1 == y,
                };
                imgs.push(if on { 200 + noise / 4 } else { noise });
            }
        }
        labels.push(c);
    }
    (imgs, labels)
}

/// A dataset folder in the MNIST layout with `n_train` / `n_test` images.
pub fn make_dataset(dir: &Path, n_train: usize, n_test: usize) -> PathBuf {
    let d = dir.join("tiny");
    std::fs::create_dir_all(&d).unwrap();
    let (ti, tl) = make_images(n_train, 0);
    write_idx(&d.join("train-images-idx3-ubyte"), &[n_train as u32, 8, 8], &ti);
    write_idx(&d.join("train-labels-idx1-ubyte"), &[n_train as u32], &tl);
    let (si, sl) = make_images(n_test, 7);
    write_idx(&d.join("t10k-images-idx3-ubyte"), &[n_test as u32, 8, 8], &si);
    write_idx(&d.join("t10k-labels-idx1-ubyte"), &[n_test as u32], &sl);
    d
}

pub fn suite(knn_k: usize) -> String {
    format!(
        "suite: tiny
dataset:
  path: tiny
  format: idx
  val_fraction: 0.2
representations:
  raw: {{kind: raw}}
  pca: {{kind: pca, components: 8}}
  hog: {{kind: hog, cell_size: 2, orientations: 4, block_size: 2}}
evaluations:
  linear: {{kind: linear_probe}}
  knn: {{kind: knn, k: [{knn_k}]}}
matrix:
  seed: [0, 1]
"
    )
}

/// The binary under test (built by cargo for integration tests).
pub const BIN: &str = env!("CARGO_BIN_EXE_repbench");

/// A finished run of the binary, with its output as text.
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Asserts exit status 0.
    pub fn ok(self) -> Run {
        assert_eq!(self.code, Some(0), "expected success\nstdout: {}\nstderr: {}", self.stdout, self.stderr);
        self
    }
    /// Asserts the given exit status.
    pub fn code(self, code: i32) -> Run {
        assert_eq!(self.code, Some(code), "expected exit {code}\nstdout: {}\nstderr: {}", self.stdout, self.stderr);
        self
    }
    /// Asserts a non-zero exit status.
    pub fn failed(self) -> Run {
        assert!(
            self.code.is_some_and(|c| c != 0),
            "expected failure\nstdout: {}\nstderr: {}",
            self.stdout,
            self.stderr
        );
        self
    }
}

/// Runs `repbench ARGS` in `dir` with the cache at `dir/cache` and no GPU.
pub fn repbench(dir: &Path, args: &[&str]) -> Run {
    let o = std::process::Command::new(BIN)
        .current_dir(dir)
        .args(args)
        .env("REPBENCH_CACHE", dir.join("cache"))
        .env_remove("CUDA_VISIBLE_DEVICES")
        .env_remove("REPBENCH_KEEP_DENORMALS")
        .output()
        .expect("the repbench binary runs");
    Run {
        code: o.status.code(),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// (representation/evaluation/metric/seed, value) sorted, plus the cached flags,
/// from a run directory's results.parquet.
pub fn results(run_dir: &Path) -> (Vec<(String, f64)>, Vec<bool>) {
    let rows = repbench::report::table::read_results(&run_dir.join("results.parquet")).unwrap();
    let mut vals: Vec<(String, f64)> = rows
        .iter()
        .map(|r| (format!("{}/{}/{}/{}", r.representation, r.evaluation, r.metric, r.seed), r.value))
        .collect();
    vals.sort_by(|a, b| a.0.cmp(&b.0));
    (vals, rows.iter().map(|r| r.cached).collect())
}

/// `n` images 1×16×16 in 3 classes — a bright horizontal bar, a vertical bar,
/// or a bright square, at a place that varies — on uniform noise, drawn under
/// `seed`; labels i64.
pub fn bar_images(n: i64, seed: u64) -> (Tensor, Tensor) {
    repbench::runtime::seeding::with_torch_seed(seed, || {
        let imgs = Tensor::rand([n, 1, 16, 16], (Kind::Float, Device::Cpu)) * 60.0;
        let y = Tensor::arange(n, (Kind::Int64, Device::Cpu)).remainder(3);
        for i in 0..n {
            let o = i * 7 % 10;
            let img = imgs.get(i);
            let mut region = match i % 3 {
                0 => img.narrow(1, o, 4),
                1 => img.narrow(2, o, 4),
                _ => img.narrow(1, o / 2 + 3, 6).narrow(2, o / 2 + 3, 6),
            };
            let _ = region.fill_(230.0);
        }
        (imgs.to_kind(Kind::Uint8), y)
    })
}

/// Frozen features of the three splits of `s`, embedded by `f` on the CPU.
pub fn features(f: &dyn repbench::represent::Fitted, s: &repbench::eval::SplitImages) -> repbench::eval::Features {
    let e = |x: &Tensor| f.embed(x, Device::Cpu).unwrap();
    repbench::eval::Features {
        train_x: e(&s.train.0),
        train_y: s.train.1.shallow_clone(),
        val_x: e(&s.val.0),
        val_y: s.val.1.shallow_clone(),
        test_x: e(&s.test.0),
        test_y: s.test.1.shallow_clone(),
        num_classes: s.num_classes,
    }
}
