//! Where the time of one photo's decode goes, single-threaded: read, JPEG
//! decode (full size, and at the DCT scale the store would pick), RGB
//! conversion, resize, crop. Over the first 2,000 photos of
//! scripts/make_bench_photos.py's folder (`BENCH_PHOTOS`, default
//! /tmp/bench_photos). scripts/bench_decode.sh measures the whole store build
//! against torchvision.
use repbench::data::prep::{Crop, ImagePrep};
use std::path::PathBuf;
use std::time::Instant;

fn main() {
    let root = PathBuf::from(std::env::var("BENCH_PHOTOS").unwrap_or_else(|_| "/tmp/bench_photos".into()));
    let mut files: Vec<PathBuf> = walkdir::WalkDir::new(root.join("train"))
        .into_iter()
        .filter_map(|e| e.ok())
        .map(|e| e.into_path())
        .filter(|p| p.extension().is_some_and(|e| e == "jpg"))
        .take(2000)
        .collect();
    files.sort();
    if files.is_empty() {
        eprintln!(
            "skipping: no photos under {} (python scripts/make_bench_photos.py {})",
            root.display(),
            root.display()
        );
        return;
    }
    let bytes: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(f).expect("reads")).collect();
    let n = bytes.len() as f64;
    let ms = |t: Instant| t.elapsed().as_secs_f64() * 1e3 / n;
    for (size, resize) in [(224u32, 256u32), (64, 73)] {
        let prep = ImagePrep { size, resize: Some(resize), crop: Crop::Center, channels: 3, jpeg_dct_scaling: true };
        let t = Instant::now();
        let imgs: Vec<_> =
            bytes.iter().map(|b| repbench::data::decode::decode_full("x", b).expect("decodes")).collect();
        let full = ms(t);
        let t = Instant::now();
        let scaled: Vec<_> =
            bytes.iter().map(|b| repbench::data::decode::decode("x", b, Some(resize)).expect("decodes")).collect();
        let dct = ms(t);
        let t = Instant::now();
        let rgb: Vec<Vec<u8>> = scaled.iter().map(|i| repbench::data::prep::to_channels(i, 3)).collect();
        let conv = ms(t);
        let t = Instant::now();
        for (i, px) in scaled.iter().zip(&rgb) {
            let (rw, rh) = prep.resized_dims(i.width(), i.height());
            std::hint::black_box(repbench::data::prep::resize(px, i.width(), i.height(), rw, rh, 3).expect("resizes"));
        }
        let rs = ms(t);
        let t = Instant::now();
        for i in &scaled {
            std::hint::black_box(i.clone());
        }
        let clone = ms(t);
        let t = Instant::now();
        for i in &scaled {
            std::hint::black_box(prep.apply(i.clone()).expect("prepares"));
        }
        let all = ms(t);
        println!(
            "{size}x{size} (resize {resize}), per photo on one core over {n} photos {}x{}: full decode {full:.3} ms, decode at DCT scale {dct:.3} ms, to RGB {conv:.3} ms, resize {rs:.3} ms, whole prep {:.3} ms",
            imgs[0].width(),
            imgs[0].height(),
            all - clone
        );
    }
}
