//! Bring your own representation: files made by PyTorch 2.11 / torchvision 0.26
//! (tests/fixtures/byo, written by its make_fixtures.py on the committed
//! Fashion-MNIST subset) load and give the features PyTorch computed; every
//! import error names its file and what is wrong; export → import gives the
//! same metrics.
mod common;

use common::{repbench, results};
use repbench::represent::checkpoint::CheckpointParams;
use repbench::represent::embeddings::EmbeddingsParams;
use repbench::represent::torchscript::TorchscriptParams;
use repbench::represent::{FitContext, Part, Representation};
use std::path::{Path, PathBuf};
use tch::{Device, Kind, Tensor};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/byo").join(name)
}

fn subset() -> repbench::data::Dataset {
    repbench::data::idx::load_dir("subset", &repbench::data::named::fashion_mnist_subset()).unwrap()
}

fn max_abs_diff(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.size(), b.size());
    (a - b).abs().max().double_value(&[])
}

/// The fixtures' input: (x / 255 − 0.2860) / 0.3530.
const NORM: &str = "input: {mean: [0.2860], std: [0.3530]}";

#[test]
fn torchscript_fixture_gives_pytorchs_features() {
    let spec: TorchscriptParams =
        serde_yaml::from_str(&format!("path: {}\n{NORM}\nbatch_size: 50", fixture("small_cnn.ts.pt").display()))
            .unwrap();
    let fitted = spec.load(Device::Cpu).unwrap();
    let ds = subset();
    let (x, _) = ds.test.select(&(0..64).collect::<Vec<_>>());
    let got = repbench::represent::Fitted::embed(&fitted, &x, Device::Cpu).unwrap();
    let want = Tensor::read_npy(fixture("small_cnn_expected.npy")).unwrap();
    let d = max_abs_diff(&got, &want);
    assert!(d <= 1e-5, "max abs difference {d}");
}

#[test]
fn torchvision_resnet_checkpoint_gives_pytorchs_features() {
    let spec: CheckpointParams = serde_yaml::from_str(&format!(
        "path: {}\nencoder: {{arch: resnet18, width: 0.125}}\nrename: {{'backbone.': ''}}\n{NORM}",
        fixture("resnet18_cifar.safetensors").display()
    ))
    .unwrap();
    let ds = subset();
    let (train, _) = ds.train.select(&(0..32).collect::<Vec<_>>());
    let fitted = spec.fit(&train, &FitContext::simple(Device::Cpu, 0)).unwrap();
    let (x, _) = ds.test.select(&(0..64).collect::<Vec<_>>());
    let got = fitted.embed(&x, Device::Cpu).unwrap();
    let want = Tensor::read_npy(fixture("resnet18_cifar_expected.npy")).unwrap();
    let d = max_abs_diff(&got, &want);
    assert!(d <= 1e-5, "max abs difference {d}");
    // The same weights restored from the fitted state embed identically.
    let restored = spec.restore(&fitted.state().into(), Device::Cpu).unwrap();
    assert_eq!(max_abs_diff(&restored.embed(&x, Device::Cpu).unwrap(), &got), 0.0);
}

#[test]
fn checkpoint_key_errors_list_missing_and_unexpected_with_nearest_names() {
    let base = format!(
        "path: {}\nencoder: {{arch: resnet18, width: 0.125}}\n{NORM}",
        fixture("resnet18_cifar.safetensors").display()
    );
    let (train, _) = subset().train.select(&[0, 1, 2, 3]);
    let ctx = FitContext::simple(Device::Cpu, 0);
    // Without the prefix rename nothing matches.
    let spec: CheckpointParams = serde_yaml::from_str(&base).unwrap();
    let e = spec.fit(&train, &ctx).err().unwrap().to_string();
    assert!(e.contains("resnet18_cifar.safetensors") && e.contains("missing (") && e.contains("unexpected ("), "{e}");
    assert!(e.contains("every key starts with `backbone.`: add `rename: {'backbone.': ''}`"), "{e}");
    assert!(e.contains("backbone.layer1.0.bn1.bias (nearest: layer1.0.bn1.bias)"), "{e}");
    // A wrong width: shapes are named.
    let wide: CheckpointParams =
        serde_yaml::from_str(&format!("{}\nrename: {{'backbone.': ''}}", base.replace("0.125", "0.25"))).unwrap();
    let e = wide.fit(&train, &ctx).err().unwrap().to_string();
    assert!(e.contains("tensors do not have the resnet18 encoder's shapes"), "{e}");
    assert!(e.contains("layer1.0.bn1.bias: [8] in the file, [16] in the encoder"), "{e}");
}

/// Fine-tuning a TorchScript module: frozen trains only the head, `last-n`
/// the module's last parameter-owning submodules, full everything.
#[test]
fn torchscript_modules_fine_tune_in_every_mode() {
    use repbench::eval::finetune::FinetuneParams;
    use repbench::eval::{ModelInputs, SplitImages};
    let ds = subset();
    let take =
        |set: &repbench::data::ImageSet, from: usize, n: usize| set.select(&(from..from + n).collect::<Vec<_>>());
    let images = SplitImages {
        train: take(&ds.train, 0, 300),
        val: take(&ds.train, 300, 100),
        test: take(&ds.test, 0, 200),
        num_classes: 10,
    };
    let spec: repbench::represent::RepresentationSpec =
        serde_yaml::from_str(&format!("kind: torchscript\npath: {}\n{NORM}", fixture("small_cnn.ts.pt").display()))
            .unwrap();
    let fitted = spec.fit(&images.train.0, &FitContext::simple(Device::Cpu, 0)).unwrap();
    let m = ModelInputs { fitted: fitted.as_ref(), spec: &spec, images: &images };
    let run = |mode: &str| {
        let p: FinetuneParams = serde_yaml::from_str(&format!(
            "{{mode: {mode}, blocks: 1, train: {{epochs: 4, batch_size: 50, optimizer: {{kind: adamw, lr: 0.01}}}}}}"
        ))
        .unwrap();
        let out = p.run(&m, Device::Cpu, 3).unwrap();
        let get = |k: &str| out.metrics.iter().find(|(n, _)| n == k).unwrap().1;
        (get("trained_params"), get("top1"))
    };
    let head = (128 * 10 + 10) as f64;
    let (frozen, acc) = run("frozen");
    assert_eq!(frozen, head);
    assert!(acc > 0.6, "a head on the trained CNN's features: {acc}");
    assert_eq!(run("last-n").0, head + (64 * 49 * 128 + 128) as f64, "the last Linear(3136, 128)");
    let all = head + (32 * 9 + 32 + 32 * 2 + 64 * 32 * 9 + 64 + 64 * 2 + 64 * 49 * 128 + 128) as f64;
    assert_eq!(run("full").0, all);
}

/// Writes `arrays` as an npz in `dir`.
fn npz(dir: &Path, name: &str, arrays: &[(&str, Tensor)]) -> PathBuf {
    let p = dir.join(name);
    Tensor::write_npz(arrays, &p).unwrap();
    p
}

fn emb(path: &Path) -> EmbeddingsParams {
    EmbeddingsParams { path: Some(path.to_path_buf()), ..Default::default() }
}

#[test]
fn embeddings_align_by_index_or_by_ids_and_read_fp16() {
    let d = tempfile::tempdir().unwrap();
    let train = Tensor::arange(20, (Kind::Float, Device::Cpu)).view([10, 2]);
    let test = Tensor::arange(8, (Kind::Float, Device::Cpu)).view([4, 2]) + 100.0;
    let plain = emb(&npz(d.path(), "a.npz", &[("train", train.shallow_clone()), ("test", test.shallow_clone())]))
        .load()
        .unwrap();
    let perm = Tensor::from_slice(&[3i64, 0, 9, 1, 2, 8, 4, 7, 6, 5]);
    let shuffled = emb(&npz(
        d.path(),
        "b.npz",
        &[
            ("train", train.index_select(0, &perm).to_kind(Kind::Half)),
            ("train_ids", perm),
            ("test", test.shallow_clone()),
        ],
    ))
    .load()
    .unwrap();
    use repbench::represent::Fitted;
    let rows = [7usize, 2, 5];
    let a = plain.embed_rows(Part::Train, &rows, 10).unwrap().unwrap();
    let b = shuffled.embed_rows(Part::Train, &rows, 10).unwrap().unwrap();
    assert_eq!(a.kind(), Kind::Float);
    assert_eq!(max_abs_diff(&a, &b), 0.0, "fp16 holds these small integers exactly");
    assert_eq!(a.double_value(&[0, 0]), 14.0);
    // Row count ≠ the part's image count, without ids.
    let e = plain.embed_rows(Part::Test, &[0], 5).unwrap().unwrap_err().to_string();
    assert!(
        e.contains("a.npz (test)") && e.contains("has 4 rows but the dataset's official test part holds 5 images"),
        "{e}"
    );
    // Ids out of range of the part.
    let e = shuffled.embed_rows(Part::Train, &[0], 9).unwrap().unwrap_err().to_string();
    assert!(e.contains("image index 9 is out of range"), "{e}");
}

#[test]
fn embeddings_errors_name_file_array_and_numbers() {
    let d = tempfile::tempdir().unwrap();
    let f = |n: i64| Tensor::zeros([n, 3], (Kind::Float, Device::Cpu));
    let err = |p: PathBuf| emb(&p).load().err().unwrap().to_string();
    let nan = f(5);
    let _ = nan.get(3).get(1).fill_(f64::NAN);
    let e = err(npz(d.path(), "nan.npz", &[("train", nan), ("test", f(2))]));
    assert!(e.contains("nan.npz") && e.contains("array `train` has NaN or Inf values, first in row 3"), "{e}");
    let e = err(npz(
        d.path(),
        "3d.npz",
        &[("train", Tensor::zeros([2, 3, 4], (Kind::Float, Device::Cpu))), ("test", f(2))],
    ));
    assert!(e.contains("array `train` has shape [2, 3, 4]: features must be 2-d"), "{e}");
    let e = err(npz(d.path(), "0d.npz", &[("train", f(2)), ("test", Tensor::from(1.0f32))]));
    assert!(e.contains("array `test` has shape []"), "{e}");
    let e = err(npz(d.path(), "notest.npz", &[("train", f(2))]));
    assert!(e.contains("notest.npz") && e.contains("has no `test` array"), "{e}");
    let e = err(npz(
        d.path(),
        "rep.npz",
        &[("train", f(3)), ("train_ids", Tensor::from_slice(&[0i64, 2, 0])), ("test", f(2))],
    ));
    assert!(e.contains("array `train_ids` row 2: image index 0 is repeated"), "{e}");
    let e =
        err(npz(d.path(), "cols.npz", &[("train", f(3)), ("test", Tensor::zeros([2, 4], (Kind::Float, Device::Cpu)))]));
    assert!(e.contains("array `test` has 4 columns but `train` has 3"), "{e}");
    let e = err(npz(d.path(), "val.npz", &[("train", f(3)), ("test", f(2)), ("val", f(1))]));
    assert!(e.contains("has a `val` array but no `val_ids`"), "{e}");
    let e = err(npz(d.path(), "typo.npz", &[("train", f(3)), ("tset", f(2))]));
    assert!(e.contains("an array `tset` repbench does not know"), "{e}");
}

#[test]
fn pickled_torch_save_is_refused_with_the_conversion() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("model.pth");
    std::fs::write(&p, [0x80u8, 2, b'}', b'q']).unwrap();
    let spec = TorchscriptParams { path: p.clone(), ..Default::default() };
    let e = spec.load(Device::Cpu).err().unwrap().to_string();
    assert!(e.contains("model.pth") && e.contains("pickled torch.save file") && e.contains("torch.jit.trace"), "{e}");
}

/// The review suite in miniature on the committed subset: PyTorch's CNN as
/// TorchScript and as embeddings, a torchvision ResNet checkpoint, raw pixels.
fn byo_suite(dir: &Path) -> String {
    for f in ["small_cnn.ts.pt", "small_cnn_subset.npz", "resnet18_cifar.safetensors"] {
        std::fs::copy(fixture(f), dir.join(f)).unwrap();
    }
    format!(
        "suite: byo
dataset: {{path: {}, format: idx, train_size: 1000, test_size: 500}}
representations:
  raw: {{kind: raw}}
  cnn_ts: {{kind: torchscript, path: small_cnn.ts.pt, {NORM}}}
  cnn_npz: {{kind: embeddings, path: small_cnn_subset.npz}}
  resnet: {{kind: checkpoint, path: resnet18_cifar.safetensors, encoder: {{arch: resnet18, width: 0.125}}, rename: {{'backbone.': ''}}, {NORM}}}
evaluations:
  knn: {{kind: knn, k: [10]}}
  linear: {{kind: linear_probe}}
",
        repbench::data::named::fashion_mnist_subset().display()
    )
}

#[test]
fn torchscript_and_its_embeddings_give_the_same_metrics_through_the_cli() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("byo.yaml"), byo_suite(d.path())).unwrap();
    repbench(d.path(), &["run", "byo.yaml", "--out", "run"]).ok();
    let (vals, _) = results(&d.path().join("run"));
    let get = |k: &str| vals.iter().find(|(n, _)| n == k).unwrap_or_else(|| panic!("{k} in {vals:?}")).1;
    // PyTorch's features of every subset image, looked up, against the module run here.
    // k-NN is deterministic: the same votes (features agree to 1e-5). The probes'
    // seeds derive from the representation's name, so their minibatches differ.
    let (ts, npz) = (get("cnn_ts/knn/top1_k10/0"), get("cnn_npz/knn/top1_k10/0"));
    assert_eq!(ts, npz, "k-NN: torchscript {ts} vs embeddings {npz}");
    let (ts, npz) = (get("cnn_ts/linear/top1/0"), get("cnn_npz/linear/top1/0"));
    assert!((ts - npz).abs() <= 0.01, "linear: torchscript {ts} vs embeddings {npz}");
    assert!(get("cnn_ts/knn/top1_k10/0") > get("raw/knn/top1_k10/0"), "the trained CNN beats raw pixels");
    // Changing a byte of the embeddings file recomputes what depends on it, and only that.
    let plan = repbench(d.path(), &["plan", "byo.yaml"]).ok().stdout;
    assert!(!plan.contains("to run"), "{plan}");
    let npz = d.path().join("small_cnn_subset.npz");
    let arrays = Tensor::read_npz(&npz).unwrap();
    let bumped: Vec<(String, Tensor)> =
        arrays.into_iter().map(|(n, t)| if n == "test" { (n, t + 1e-3) } else { (n, t) }).collect();
    Tensor::write_npz(&bumped, &npz).unwrap();
    let plan = repbench(d.path(), &["plan", "byo.yaml"]).ok().stdout;
    let rerun: Vec<&str> = plan.lines().filter(|l| l.contains("to run")).collect();
    assert!(!rerun.is_empty() && rerun.iter().all(|l| l.contains("cnn_npz")), "{plan}");
}

/// A repbench-trained ConvNet exported as embeddings, weights and TorchScript
/// and imported back as `embeddings`, `checkpoint` and `torchscript`: the same
/// metrics on CPU, bit for bit.
#[test]
fn export_then_import_gives_identical_metrics() {
    let d = tempfile::tempdir().unwrap();
    let data = format!(
        "dataset: {{path: {}, format: idx, train_size: 600, test_size: 300}}",
        repbench::data::named::fashion_mnist_subset().display()
    );
    let evals = "evaluations:\n  knn: {kind: knn, k: [5]}\n  linear: {kind: linear_probe}\n";
    std::fs::write(
        d.path().join("own.yaml"),
        format!(
            "suite: own\n{data}\nrepresentations:\n  cnn: {{kind: supervised, encoder: {{arch: convnet, widths: [8, 16]}}, train: {{epochs: 1, batch_size: 64}}}}\n{evals}"
        ),
    )
    .unwrap();
    repbench(d.path(), &["run", "own.yaml", "--out", "own"]).ok();
    for f in ["embeddings", "weights", "torchscript"] {
        repbench(d.path(), &["export", "own.yaml", "-r", "cnn", "--format", f, "--out", "exp", "--batch-size", "100"])
            .ok();
    }
    let cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.path().join("exp/cnn.json")).unwrap()).unwrap();
    assert_eq!(cfg["kind"], "torchscript", "the TorchScript export's config is written last");
    let weights_cfg =
        repbench(d.path(), &["export", "own.yaml", "-r", "cnn", "--format", "weights", "--out", "w"]).ok();
    assert!(weights_cfg.stdout.contains("cnn.json"));
    let w: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.path().join("w/cnn.json")).unwrap()).unwrap();
    // Evaluation seeds derive from the representation's name: each import is named `cnn` too.
    let imports = [
        ("npz", "{kind: embeddings, path: exp/cnn.npz}".to_string()),
        ("ts", "{kind: torchscript, path: exp/cnn.ts.pt, batch_size: 100, fixed_batch: true}".to_string()),
        (
            "ckpt",
            format!("{{kind: checkpoint, path: w/cnn.safetensors, encoder: {}, input: {}}}", w["encoder"], w["input"]),
        ),
    ];
    let (own, _) = results(&d.path().join("own"));
    for (name, rep) in imports {
        std::fs::write(
            d.path().join(format!("{name}.yaml")),
            format!("suite: {name}\n{data}\nrepresentations:\n  cnn: {rep}\n{evals}"),
        )
        .unwrap();
        repbench(d.path(), &["run", &format!("{name}.yaml"), "--out", name]).ok();
        let (back, _) = results(&d.path().join(name));
        let top1: Vec<&(String, f64)> = own.iter().filter(|(k, _)| k.contains("/top1")).collect();
        assert_eq!(top1.len(), 2);
        for (k, v) in top1 {
            let got = back.iter().find(|(n, _)| n == k).unwrap_or_else(|| panic!("{k} in {back:?}")).1;
            assert_eq!(got, *v, "{name}: {k} imported {got} vs own {v}");
        }
    }
}

fn made(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/byo_made").join(name)
}

/// Scripted control flow, tuple and dict outputs and a 3-channel 32×32 model
/// fed gray 28×28 images (tests/fixtures/byo_made/make.py) give PyTorch's values.
#[test]
fn scripted_modules_outputs_and_channel_adaptation_match_pytorch() {
    let images = (Tensor::arange(2 * 28 * 28, (Kind::Int64, Device::Cpu)).remainder(256))
        .to_kind(Kind::Uint8)
        .view([2, 1, 28, 28]);
    let expected: Vec<(String, Tensor)> = Tensor::read_npz(made("expected.npz")).unwrap();
    let want = |n: &str| expected.iter().find(|(k, _)| k == n).unwrap().1.shallow_clone();
    for (name, settings) in [
        ("branchy", ""),
        ("pair", "output: 1"),
        ("named", "output: embedding"),
        ("rgb", "input: {channels: 3, size: [32, 32]}"),
    ] {
        let spec: TorchscriptParams =
            serde_yaml::from_str(&format!("path: {}\n{settings}", made(&format!("{name}.ts.pt")).display())).unwrap();
        let got = repbench::represent::Fitted::embed(&spec.load(Device::Cpu).unwrap(), &images, Device::Cpu).unwrap();
        let d = max_abs_diff(&got, &want(name));
        assert!(d <= 1e-5, "{name}: max abs difference {d}");
    }
    // A tuple without `output:` is refused with what the module returned.
    let spec: TorchscriptParams = serde_yaml::from_str(&format!("path: {}", made("pair.ts.pt").display())).unwrap();
    let e = repbench::represent::Fitted::embed(&spec.load(Device::Cpu).unwrap(), &images, Device::Cpu)
        .unwrap_err()
        .to_string();
    assert!(e.contains("pair.ts.pt") && e.contains("a tuple/list of 2 elements") && e.contains("set `output:`"), "{e}");
    let spec: TorchscriptParams =
        serde_yaml::from_str(&format!("path: {}\noutput: features", made("named.ts.pt").display())).unwrap();
    let e = repbench::represent::Fitted::embed(&spec.load(Device::Cpu).unwrap(), &images, Device::Cpu)
        .unwrap_err()
        .to_string();
    assert!(e.contains("a dict with keys `embedding`, `norm`"), "{e}");
    // torch.save's zip archive (not TorchScript) is refused as a pickle.
    let spec = TorchscriptParams { path: made("pickled.pth"), ..Default::default() };
    let e = spec.load(Device::Cpu).err().unwrap().to_string();
    assert!(e.contains("pickled torch.save file") && e.contains("save_file"), "{e}");
}

/// Missing files and pickles are refused before anything runs, at their line.
#[test]
fn validate_names_the_field_and_line_of_a_bad_file() {
    let d = tempfile::tempdir().unwrap();
    std::fs::copy(made("pickled.pth"), d.path().join("model.pth")).unwrap();
    std::fs::write(
        d.path().join("s.yaml"),
        "suite: s\ndataset: {name: fashion-mnist}\nrepresentations:\n  a: {kind: embeddings, path: nowhere.npz}\n  b:\n    kind: torchscript\n    path: model.pth\nevaluations:\n  knn: {kind: knn}\n",
    )
    .unwrap();
    let e = repbench(d.path(), &["validate", "s.yaml"]).failed().stderr;
    assert!(e.contains("representations.a.path: file") && e.contains("nowhere.npz does not exist"), "{e}");
    assert!(
        e.contains("representations.b.path") && e.contains("pickled torch.save file") && e.contains("(line 7)"),
        "{e}"
    );
}

/// A ViT's weights, saved as a state dict (half of them in float16) and loaded
/// as `kind: checkpoint`, give the trained ViT's features and CLS attention;
/// blocks are there for probes by depth.
#[test]
fn vit_checkpoint_keeps_features_blocks_and_attention() {
    let (x, y) = common::bar_images(64, 1);
    let vit = "encoder: {arch: vit, patch_size: 4, dim: 16, depth: 2, heads: 2}";
    let trained: repbench::represent::RepresentationSpec =
        serde_yaml::from_str(&format!("kind: supervised\n{vit}\ntrain: {{epochs: 1, batch_size: 32}}")).unwrap();
    let ctx = FitContext { labels: Some(&y), num_classes: 3, ..FitContext::simple(Device::Cpu, 0) };
    let fitted = trained.fit(&x, &ctx).unwrap();
    let state = fitted.state();
    let get = |n: &str| state.iter().find(|(k, _)| k == n).unwrap().1.shallow_clone();
    let (mean, std) = (get("vs/norm.mean").double_value(&[0, 0, 0, 0]), get("vs/norm.std").double_value(&[0, 0, 0, 0]));
    let d = tempfile::tempdir().unwrap();
    let weights: Vec<(String, Tensor)> = state
        .iter()
        .filter_map(|(k, t)| k.strip_prefix("vs/encoder.").map(|r| (format!("model.{r}"), t.shallow_clone())))
        .enumerate()
        .map(|(i, (k, t))| (k, if i % 2 == 0 { t.to_kind(Kind::Half) } else { t }))
        .collect();
    let file = d.path().join("vit.safetensors");
    Tensor::write_safetensors(&weights, &file).unwrap();
    let spec: CheckpointParams = serde_yaml::from_str(&format!(
        "path: {}\n{vit}\nrename: {{'model.': ''}}\ninput: {{mean: [{mean}], std: [{std}]}}",
        file.display()
    ))
    .unwrap();
    let loaded = spec.fit(&x, &ctx).unwrap();
    let close = |a: &Tensor, b: &Tensor, tol: f64| {
        let diff = max_abs_diff(a, b);
        assert!(diff <= tol, "max abs difference {diff}");
    };
    // float16 keeps ~3 significant digits of half the weights.
    close(&loaded.embed(&x, Device::Cpu).unwrap(), &fitted.embed(&x, Device::Cpu).unwrap(), 0.05);
    let att =
        |f: &dyn repbench::represent::Fitted| f.cls_attention(&x, Device::Cpu).unwrap().expect("a ViT has attention");
    close(&att(loaded.as_ref()), &att(fitted.as_ref()), 0.01);
    assert_eq!(loaded.embed_blocks(&x, Device::Cpu).unwrap().map(|b| b.len()), Some(2));
}
