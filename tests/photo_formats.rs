//! The photo readers against files made by the real libraries
//! (tests/fixtures/photos/make_fixtures.py: Pillow, torchvision, `datasets`,
//! `webdataset`): every folder mode decoded as Pillow decodes it, resize +
//! centre crop as torchvision computes it, and the same images through the
//! CSV manifest, the Hugging Face parquet files and the webdataset shards.
use repbench::cache::store::Store;
use repbench::data::listing::Loc;
use repbench::data::named::Source;
use repbench::data::Dataset;
use repbench::spec::DatasetSpec;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tch::Tensor;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/photos")
}

fn reference() -> HashMap<String, Vec<u8>> {
    Tensor::read_npz(fixtures().join("reference.npz"))
        .unwrap()
        .into_iter()
        .map(|(k, t)| (k, Vec::<u8>::try_from(t.flatten(0, -1)).unwrap()))
        .collect()
}

fn source(yaml: &str) -> Source {
    let spec: DatasetSpec = serde_yaml::from_str(yaml).unwrap();
    spec.source(&fixtures()).unwrap()
}

fn load(src: &Source, cache: &Path) -> repbench::error::Result<Dataset> {
    let store = Store::open(cache).unwrap();
    let fp = repbench::data::fingerprint::fingerprint(src.base_dir(), &src.files, None).unwrap();
    src.load_in(&store, &fp, false)
}

/// `<split>/<class>/<file>` of each train-then-test row (the store's order).
fn row_keys(src: &Source) -> Vec<String> {
    let l = src.list().unwrap();
    l.train
        .iter()
        .chain(&l.test)
        .map(|it| match &it.loc {
            Loc::File(p) => p.strip_prefix(fixtures().join("folder")).unwrap().to_string_lossy().into_owned(),
            other => panic!("not a file: {other}"),
        })
        .collect()
}

/// Row `i` of the train-then-test parts, as H×W×C (the reference's order).
fn hwc(ds: &Dataset, i: usize) -> Vec<u8> {
    let (set, j) = if i < ds.train.len() { (&ds.train, i) } else { (&ds.test, i - ds.train.len()) };
    let d = set.image_len();
    let chw = &set.images[j * d..(j + 1) * d];
    let n = set.height * set.width;
    (0..n).flat_map(|p| (0..set.channels).map(move |c| chw[c * n + p])).collect()
}

fn mean_abs(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (*x as f64 - *y as f64).abs()).sum::<f64>() / a.len() as f64
}

/// Mixed sizes without `image:` are refused with the line to add.
#[test]
fn mixed_sizes_ask_for_the_image_line() {
    let cache = tempfile::tempdir().unwrap();
    let src = source("{path: folder, format: folder}");
    let e = load(&src, cache.path()).unwrap_err().to_string();
    assert!(e.contains("but the first image") && e.contains("image: {size:"), "{e}");
    // Nothing half-built stays in the cache.
    let objects = cache.path().join("objects");
    assert!(
        !objects.exists()
            || walkdir::WalkDir::new(&objects).into_iter().filter_map(|e| e.ok()).all(|e| e.file_type().is_dir())
    );
}

/// Every mode, decoded at full size, against Pillow's
/// `exif_transpose(...).convert("RGB")`; then resize + crop against torchvision.
#[test]
fn folder_modes_equal_pillow_and_prep_follows_torchvision() {
    let reference = reference();
    let cache = tempfile::tempdir().unwrap();
    // Full-size decodes: one image at a time through the decoder the store uses.
    let src = source("{path: folder, format: folder}");
    let mut worst: Vec<(String, f64)> = Vec::new();
    for key in row_keys(&src) {
        let bytes = std::fs::read(fixtures().join("folder").join(&key)).unwrap();
        let img = repbench::data::decode::decode_full(&key, &bytes).unwrap();
        let ours = repbench::data::prep::to_channels(&img, 3);
        let theirs = &reference[&format!("full/{key}")];
        let d = mean_abs(&ours, theirs);
        // PNG is lossless: exact. JPEG and WebP decoders (zune-jpeg, image-webp
        // against libjpeg-turbo, libwebp) may round IDCT and upsampling differently.
        if key.ends_with(".png") {
            assert_eq!(d, 0.0, "{key}");
        } else {
            assert!(d < 1.5, "{key}: mean |difference| {d:.3} grey levels");
        }
        worst.push((key, d));
    }
    worst.sort_by(|a, b| b.1.total_cmp(&a.1));
    eprintln!("full decode, largest mean |difference| to Pillow: {:?}", &worst[..3]);

    let src = source("{path: folder, format: folder, image: {size: 32, resize: 36, jpeg_dct_scaling: false}}");
    let ds = load(&src, cache.path()).unwrap();
    assert_eq!((ds.train.channels, ds.train.height, ds.train.width), (3, 32, 32));
    assert_eq!(ds.class_names, ["astronaut", "cat", "coffee"]);
    let keys = row_keys(&src);
    let mut total = 0.0;
    for (i, key) in keys.iter().enumerate() {
        let d = mean_abs(&hwc(&ds, i), &reference[&format!("prep/{key}")]);
        assert!(d < 2.0, "{key}: mean |difference| to torchvision {d:.3}");
        total += d;
    }
    let mean = total / keys.len() as f64;
    eprintln!(
        "Resize(36) + CenterCrop(32), mean |difference| to torchvision over {} images: {mean:.3} grey levels",
        keys.len()
    );
    assert!(mean < 1.0, "{mean}");
    // A re-open maps the store instead of decoding again.
    let again = load(&src, cache.path()).unwrap();
    assert!(again.train.images.is_mapped());
    assert_eq!(*again.train.images, *ds.train.images);
}

/// The same images through the CSV manifest, parquet and webdataset readers.
#[test]
fn manifest_parquet_and_shards_store_the_same_images() {
    let cache = tempfile::tempdir().unwrap();
    let img = "image: {size: 32, resize: 36}";
    let folder = load(&source(&format!("{{path: folder, format: folder, {img}}}")), cache.path()).unwrap();
    let csv_src = source(&format!("{{path: manifest.csv, format: csv, {img}}}"));
    let csv = load(&csv_src, cache.path()).unwrap();
    // Class names from the label column, sorted: the folder's order.
    assert_eq!(csv.class_names, folder.class_names);
    assert_eq!(csv.train.len(), folder.train.len());
    assert_eq!(csv_src.list().unwrap().meta_columns, ["site"]);
    // The store keeps each row's `site` (its test rows in the manifest's order),
    // and a re-open reads the same values from the mapped store.
    let want: Vec<String> = std::fs::read_to_string(fixtures().join("manifest.csv"))
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect::<Vec<_>>())
        .filter(|c| c[2] == "test")
        .map(|c| c[3].to_string())
        .collect();
    for ds in [&csv, &load(&csv_src, cache.path()).unwrap()] {
        let meta = ds.metadata.as_deref().expect("the manifest's extra column is stored");
        let got: Vec<&str> = (0..ds.test.len()).map(|i| meta.test_value(i, 0).unwrap()).collect();
        assert_eq!(got, want);
        assert_eq!(meta.train.len(), ds.train.len());
    }
    // Same files, other order: compare as sets of (label, pixels).
    let set = |ds: &Dataset| {
        let mut v: Vec<(i64, Vec<u8>)> = (0..ds.train.len() + ds.test.len())
            .map(|i| {
                (if i < ds.train.len() { ds.train.labels[i] } else { ds.test.labels[i - ds.train.len()] }, hwc(ds, i))
            })
            .collect();
        v.sort();
        v
    };
    assert_eq!(set(&csv), set(&folder));

    let pq = load(&source(&format!("{{path: parquet, format: parquet, {img}}}")), cache.path()).unwrap();
    // ClassLabel names in the dataset's own order.
    assert_eq!(pq.class_names, ["cat", "coffee", "astronaut"]);
    let wds = load(&source(&format!("{{path: webdataset, format: webdataset, {img}}}")), cache.path()).unwrap();
    assert_eq!((pq.train.len(), pq.test.len()), (wds.train.len(), wds.test.len()));
    assert_eq!(*pq.train.images, *wds.train.images);
    assert_eq!(pq.train.labels, wds.train.labels);
    // Each parquet image is one of the folder's, under the same class name.
    let folder_set = set(&folder);
    for i in 0..pq.train.len() {
        let name = &pq.class_names[pq.train.labels[i] as usize];
        let label = folder.class_names.iter().position(|n| n == name).unwrap() as i64;
        assert!(folder_set.contains(&(label, hwc(&pq, i))), "parquet row {i}");
    }
}

/// A truncated image: named with its place; `skip` leaves it out and counts it.
#[test]
fn bad_images_are_named_or_skipped_and_counted() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("data");
    for split in ["train", "test"] {
        for class in ["cat", "coffee", "astronaut"] {
            let from = fixtures().join("folder").join(split).join(class);
            let to = root.join(split).join(class);
            std::fs::create_dir_all(&to).unwrap();
            for f in std::fs::read_dir(&from).unwrap() {
                let f = f.unwrap().path();
                std::fs::copy(&f, to.join(f.file_name().unwrap())).unwrap();
            }
        }
    }
    let bad = root.join("train/cat/a.jpg");
    let bytes = std::fs::read(&bad).unwrap();
    std::fs::write(&bad, &bytes[..bytes.len() / 3]).unwrap();
    let spec = |extra: &str| -> Source {
        let s: DatasetSpec =
            serde_yaml::from_str(&format!("{{path: data, format: folder, image: {{size: 16}}{extra}}}")).unwrap();
        s.source(d.path()).unwrap()
    };
    let cache = d.path().join("cache");
    let e = load(&spec(""), &cache).unwrap_err().to_string();
    assert!(e.contains("train/cat/a.jpg") && e.contains("cannot decode"), "{e}");
    let src = spec(", on_bad_image: skip");
    let ds = load(&src, &cache).unwrap();
    assert_eq!(ds.train.len(), 23);
    let store = Store::open(&cache).unwrap();
    let fp = repbench::data::fingerprint::fingerprint(src.base_dir(), &src.files, None).unwrap();
    let entry = store.get(&src.store_key(&fp)).unwrap().unwrap();
    let info: repbench::data::image_store::StoreInfo = repbench::files::read_json(&entry.file("store.json")).unwrap();
    assert_eq!(info.skipped.len(), 1);
    assert!(info.skipped[0].origin.ends_with("train/cat/a.jpg"), "{:?}", info.skipped);
}

/// Streamed training reads the same batches as a copy of the split would
/// give, and the normalizer's statistics agree with the in-memory ones.
#[test]
fn streamed_batches_and_statistics_equal_the_copied_split() {
    let cache = tempfile::tempdir().unwrap();
    let ds = load(&source("{path: folder, format: folder, image: {size: 32, resize: 36}}"), cache.path()).unwrap();
    assert!(ds.train.images.is_mapped());
    let rows_us: Vec<usize> = vec![5, 0, 17, 3, 9, 22];
    let rows = Tensor::from_slice(&rows_us.iter().map(|&i| i as i64).collect::<Vec<i64>>());
    // SAFETY: `ds` outlives the view, which is only read.
    let view = unsafe { ds.train.view_all() };
    let (copied, _) = ds.train.select(&rows_us);
    let labels = Tensor::zeros([6], (tch::Kind::Int64, tch::Device::Cpu));
    let streamed = repbench::train::trainer::TrainData { images: &view, rows: Some(&rows), labels: &labels };
    let whole = repbench::train::trainer::TrainData { images: &copied, rows: None, labels: &labels };
    let idx = Tensor::from_slice(&[4i64, 1, 2]);
    assert!(streamed.batch(&idx).equal(&whole.batch(&idx)));
    assert_eq!(streamed.len(), 6);
    let vs = tch::nn::VarStore::new(tch::Device::Cpu);
    let mut a = repbench::methods::Normalizer::new(&(vs.root() / "a"), 3);
    let mut b = repbench::methods::Normalizer::new(&(vs.root() / "b"), 3);
    a.fit(&copied);
    b.fit_rows(&view, &rows);
    let x = Tensor::ones([1, 3, 1, 1], (tch::Kind::Float, tch::Device::Cpu));
    let diff = (a.apply(&x) - b.apply(&x)).abs().max().double_value(&[]);
    assert!(diff < 1e-4, "{diff}");
}
