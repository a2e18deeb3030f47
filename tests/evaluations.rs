//! Model-based evaluations on a tiny synthetic dataset: fine-tuning trains
//! exactly the parameters its mode says, probes by depth cover every block,
//! attention maps exist only for ViTs.
mod common;

use repbench::error::Error;
use repbench::eval::{EvalContext, EvaluationSpec, Input, ModelInputs, SplitImages};
use repbench::represent::{learned, FitContext, RepresentationSpec};
use tch::{Device, Tensor};

/// 150 images 1×16×16 in 3 classes (see `common::bar_images`).
fn images() -> (Tensor, Tensor) {
    common::bar_images(150, 5)
}

fn split() -> SplitImages {
    let (x, y) = images();
    SplitImages {
        train: (x.narrow(0, 0, 90), y.narrow(0, 0, 90)),
        val: (x.narrow(0, 90, 30), y.narrow(0, 90, 30)),
        test: (x.narrow(0, 120, 30), y.narrow(0, 120, 30)),
        num_classes: 3,
    }
}

fn fitted(yaml: &str, s: &SplitImages) -> (RepresentationSpec, learned::FittedLearned) {
    let spec: RepresentationSpec = serde_yaml::from_str(yaml).unwrap();
    let ctx = FitContext {
        device: Device::Cpu,
        seed: 1,
        labels: Some(&s.train.1),
        val: None,
        num_classes: 3,
        checkpoint_dir: None,
        log: &|_| {},
        rows: None,
    };
    let f = learned::fit(spec.method().unwrap(), &s.train.0, &ctx).unwrap();
    (spec, f)
}

fn metric(out: &repbench::eval::EvalOutput, name: &str) -> f64 {
    out.metrics.iter().find(|(k, _)| k == name).unwrap_or_else(|| panic!("no {name} in {out:?}")).1
}

const CONV: &str = "kind: supervised\nencoder: {arch: convnet, widths: [8, 16], convs_per_block: 1}\ntrain: {epochs: 2, batch_size: 30, warmup_epochs: 0}";

#[test]
fn finetune_modes_train_head_last_block_or_everything() {
    let s = split();
    let (spec, f) = fitted(CONV, &s);
    let feats = common::features(&f, &s);
    let run = |mode: &str| {
        let e: EvaluationSpec = serde_yaml::from_str(&format!("kind: finetune\nmode: {mode}\nblocks: 1\ntrain: {{epochs: 8, batch_size: 30, warmup_epochs: 0, optimizer: {{lr: 0.005}}}}")).unwrap();
        let m = ModelInputs { fitted: &f, spec: &spec, images: &s };
        e.evaluate(&Input::Model(&feats, &m), &EvalContext { device: Device::Cpu, seed: 3 }).unwrap()
    };
    let (frozen, last, full) = (run("frozen"), run("last-n"), run("full"));
    // Head: BatchNorm without affine + Linear(16 → 3) = 16·3 + 3 parameters.
    assert_eq!(metric(&frozen, "trained_params"), 51.0);
    // Last block: conv 8→16 without bias (3·3·8·16) + BatchNorm (2·16), plus the head.
    assert_eq!(metric(&last, "trained_params"), 51.0 + 1152.0 + 32.0);
    // Full: also the first block, conv 1→8 (72) + BatchNorm (16).
    assert_eq!(metric(&full, "trained_params"), 51.0 + 1152.0 + 32.0 + 88.0);
    assert!(metric(&full, "top1") > 0.6, "{full:?}");
    // Fine-tuning starts from the fitted weights: the fitted model is unchanged.
    assert!(common::features(&f, &s).test_x.allclose(&feats.test_x, 0.0, 0.0, false));
}

#[test]
fn depth_probe_covers_every_block_and_attention_needs_a_vit() {
    let s = split();
    let (spec, f) = fitted(CONV, &s);
    let feats = common::features(&f, &s);
    let m = ModelInputs { fitted: &f, spec: &spec, images: &s };
    let ctx = EvalContext { device: Device::Cpu, seed: 0 };
    let depth: EvaluationSpec = serde_yaml::from_str("kind: depth_probe\nprobe: {}").unwrap();
    let out = depth.evaluate(&Input::Model(&feats, &m), &ctx).unwrap();
    let blocks: Vec<&String> = out.metrics.iter().map(|(k, _)| k).filter(|k| k.starts_with("top1_block")).collect();
    assert_eq!(blocks, ["top1_block1", "top1_block2"]);
    let cka: Vec<Vec<f64>> = serde_json::from_value(out.details["layer_cka"].clone()).unwrap();
    assert!((cka[0][0] - 1.0).abs() < 1e-6 && cka[0][1] < 1.0);
    // The selected block's per-example predictions, for the report's paired test.
    assert_eq!(out.details["test_correct_metric"], "selected_block_top1");
    let n = out.details["test_images"].as_u64().unwrap() as usize;
    let bits = repbench::report::hypothesis::decode_bits(out.details["test_correct"].as_str().unwrap(), n).unwrap();
    let hits = bits.iter().filter(|&&b| b).count() as f64 / n as f64;
    assert!((hits - metric(&out, "selected_block_top1")).abs() < 1e-9, "{hits}");

    let attention: EvaluationSpec = serde_yaml::from_str("kind: attention_maps\nimages: 3").unwrap();
    assert!(attention.applies_to(&spec).is_err(), "a ConvNet has no attention maps");
    assert!(matches!(attention.evaluate(&Input::Model(&feats, &m), &ctx), Err(Error::NotApplicable(_))));

    let (vspec, vf) = fitted("kind: supervised\nencoder: {arch: vit, patch_size: 4, dim: 16, depth: 2, heads: 2}\ntrain: {epochs: 1, batch_size: 30}", &s);
    assert!(attention.applies_to(&vspec).is_ok());
    let vm = ModelInputs { fitted: &vf, spec: &vspec, images: &s };
    let out = attention.evaluate(&Input::Model(&common::features(&vf, &s), &vm), &ctx).unwrap();
    // 3 images (one per class) × 2 heads × a 4×4 patch grid.
    assert_eq!(out.details["attention"].as_array().unwrap().len(), 3 * 2 * 16);
    assert_eq!(out.details["labels"], serde_json::json!([0, 1, 2]));
    let ent = metric(&out, "attention_entropy");
    assert!(ent > 0.0 && ent <= 1.0 + 1e-9, "{ent}");
    // The per-image foreground scores the report pairs: one per test image
    // looked at, their mean the metric; none stored when no image counted.
    let used = metric(&out, "foreground_images_used") as usize;
    if used > 0 {
        let per_image = out.details["per_image"]["attention_foreground"].as_array().unwrap();
        assert_eq!(per_image.len(), 30);
        let scored: Vec<f64> = per_image.iter().filter_map(|v| v.as_f64()).collect();
        assert_eq!(scored.len(), used);
        let mean = scored.iter().sum::<f64>() / used as f64;
        assert!((mean - metric(&out, "attention_foreground")).abs() < 1e-9, "{mean}");
    } else {
        assert!(out.details["per_image"].is_null());
    }
    assert_eq!(attention.headline().metric, "attention_foreground", "ranked on the object share");
}

/// Selection reads validation only: permuting the test labels changes the test
/// scores and nothing chosen — the probe's L2, the depth probe's block, the
/// label-efficiency probes' L2 at each fraction.
#[test]
fn permuted_test_labels_change_no_selection() {
    let s = split();
    let (spec, f) = fitted(CONV, &s);
    let feats = common::features(&f, &s);
    let perm = Tensor::from_slice(&(0..30i64).rev().collect::<Vec<_>>());
    let shuffled_y = s.test.1.index_select(0, &perm);
    let s2 = SplitImages { test: (s.test.0.shallow_clone(), shuffled_y.shallow_clone()), ..split() };
    let feats2 = repbench::eval::Features { test_y: shuffled_y, ..common::features(&f, &s) };
    let ctx = EvalContext { device: Device::Cpu, seed: 0 };
    let run = |yaml: &str, feats: &repbench::eval::Features, s: &SplitImages| {
        let e: EvaluationSpec = serde_yaml::from_str(yaml).unwrap();
        let m = ModelInputs { fitted: &f, spec: &spec, images: s };
        e.evaluate(&Input::Model(feats, &m), &ctx).unwrap()
    };
    for (yaml, chosen) in [
        ("kind: linear_probe", vec!["l2", "val_top1"]),
        ("kind: depth_probe\nprobe: {}\ncka_samples: 0", vec!["selected_block", "val_top1_block1", "val_top1_block2"]),
    ] {
        let (a, b) = (run(yaml, &feats, &s), run(yaml, &feats2, &s2));
        for c in chosen {
            assert_eq!(metric(&a, c), metric(&b, c), "{yaml}: {c}");
        }
        let test = if yaml.contains("depth") { "selected_block_top1" } else { "top1" };
        assert_ne!(metric(&a, test), metric(&b, test), "{yaml}: the test score does move");
    }
}
