//! Helpers for the CLI tests: a tiny generated IDX dataset and a suite over it.
#![allow(dead_code)]
use std::path::{Path, PathBuf};

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
  linear: {{kind: linear_probe, epochs: 10, batch_size: 64, lr: 0.01}}
  knn: {{kind: knn, k: [{knn_k}]}}
matrix:
  seed: [0, 1]
"
    )
}
