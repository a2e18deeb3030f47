//! Runs the real `repbench` binary in a temp dir on a tiny generated dataset.
mod common;

use common::repbench;
use std::path::Path;

fn results(dir: &Path) -> (Vec<(String, f64)>, Vec<bool>) {
    common::results(&dir.join("runs/tiny"))
}

fn count_entries(cache: &Path) -> usize {
    walkdir::WalkDir::new(cache.join("objects")).min_depth(2).max_depth(2).into_iter().count()
}

#[test]
fn first_run_computes_second_is_all_cached_and_k_change_reruns_only_knn() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    common::make_dataset(dir, 240, 60);
    std::fs::write(dir.join("tiny.yaml"), common::suite(5)).unwrap();

    let out = repbench(dir, &["run", "tiny.yaml", "--device", "cpu"]).ok();
    let stdout = out.stdout.clone();
    assert!(stdout.trim().ends_with("report.md"), "{stdout}");
    for f in
        ["results.csv", "results.parquet", "summary.csv", "manifest.json", "report.md", "summary.png", "summary.svg"]
    {
        assert!(dir.join("runs/tiny").join(f).is_file(), "missing {f}");
    }
    let (first, cached) = results(dir);
    // 3 representations × 2 seeds × (12 probe metrics — top1, val_top1, train_top1, l2,
    // l2_edge, iterations, grad_max, converged, balanced_top1, worst_class_top1, ece, nll —
    // + 3 knn metrics: top1_k5, balanced_top1, worst_class_top1)
    assert_eq!(first.len(), 3 * 2 * 15);
    assert!(cached.iter().all(|c| !c));
    // The generated classes are easy: every representation's probe must learn them.
    for (k, v) in &first {
        if k.contains("/linear/top1/") || k.contains("/knn/top1_k5/") {
            assert!(*v > 0.9, "{k} = {v}");
        }
    }
    let entries = count_entries(&dir.join("cache"));
    // Where a fit ran is not in its key, so its entry records it.
    let fits: Vec<serde_json::Value> = walkdir::WalkDir::new(dir.join("cache/objects"))
        .into_iter()
        .map(|e| e.unwrap().into_path())
        .filter(|p| p.file_name().is_some_and(|n| n == "meta.json"))
        .map(|p| serde_json::from_str::<serde_json::Value>(&std::fs::read_to_string(p).unwrap()).unwrap())
        .filter(|m| m["stage"] == "fit")
        .collect();
    assert_eq!(fits.len(), 3 * 2);
    for m in &fits {
        let on = &m["info"]["computed_on"];
        assert_eq!((on["device"].as_str(), on["flush_denormals"].as_bool()), (Some("Cpu"), Some(true)), "{m}");
        assert!(on["threads"].as_i64().is_some_and(|t| t >= 1), "{m}");
    }

    let out = repbench(dir, &["run", "tiny.yaml", "--device", "cpu"]).ok();
    let stderr = out.stderr.clone();
    assert!(stderr.contains("0 computed, 12 cached"), "{stderr}");
    let (second, cached) = results(dir);
    assert_eq!(first, second, "cached results must be identical");
    assert!(cached.iter().all(|c| *c));
    assert_eq!(count_entries(&dir.join("cache")), entries);

    // Changing k re-runs only the k-NN evaluations: 3 reps × 2 seeds.
    std::fs::write(dir.join("tiny.yaml"), common::suite(3)).unwrap();
    let out = repbench(dir, &["run", "tiny.yaml", "--device", "cpu"]).ok();
    let stderr = out.stderr.clone();
    assert!(stderr.contains("6 computed, 6 cached"), "{stderr}");
    assert_eq!(count_entries(&dir.join("cache")), entries + 6, "only new evaluation entries");
    let (third, _) = results(dir);
    let linear = |v: &Vec<(String, f64)>| v.iter().filter(|(k, _)| k.contains("/linear/")).cloned().collect::<Vec<_>>();
    assert_eq!(linear(&first), linear(&third));
    assert!(third.iter().any(|(k, _)| k.contains("top1_k3")));

    // `report` rebuilds from stored results without running anything.
    std::fs::remove_file(dir.join("runs/tiny/report.md")).unwrap();
    repbench(dir, &["report", "runs/tiny"]).ok();
    let md = std::fs::read_to_string(dir.join("runs/tiny/report.md")).unwrap();
    assert!(md.contains("## linear (linear_probe)") && md.contains("## Provenance"), "{md}");

    // `compare --pair` tests two representations on the same test images, per
    // seed, with the stored predictions: the difference is that of the two
    // accuracies the run recorded.
    let out = repbench(dir, &["compare", "runs/tiny", "--pair", "raw", "hog", "--evaluation", "linear"]).ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "one line per seed: {lines:?}");
    let top1 = |rep: &str, seed: u64| {
        third.iter().find(|(k, _)| k == &format!("{rep}/linear/top1/{seed}")).map(|x| x.1).unwrap()
    };
    for (seed, line) in lines.iter().enumerate() {
        let want =
            format!("linear seed {seed} top1: raw − hog = {:+.4}", top1("raw", seed as u64) - top1("hog", seed as u64));
        assert!(line.starts_with(&want) && line.contains("McNemar exact on 60 test images"), "{line} vs {want}");
    }
    let out = repbench(dir, &["compare", "runs/tiny", "--pair", "raw", "hgo", "--evaluation", "linear"]).failed();
    assert!(out.stderr.contains("no cell of `hgo` in `linear`; it has: raw, pca, hog"), "{}", out.stderr);

    // `plan` sees everything cached.
    let out = repbench(dir, &["plan", "tiny.yaml"]).ok();
    let text = out.stdout.clone();
    assert!(!text.contains("to run"), "{text}");
}

#[test]
fn bad_spec_reports_file_line_and_suggestion() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let spec = common::suite(5).replace("kind: linear_probe}", "kind: linear_probe, tolerence: 0.001}");
    std::fs::write(dir.join("bad.yaml"), &spec).unwrap();
    let out = repbench(dir, &["validate", "bad.yaml"]).code(2);
    let err = out.stderr.clone();
    let line = spec.lines().position(|l| l.contains("tolerence:")).unwrap() + 1;
    assert!(err.contains(&format!("bad.yaml:{line}:")), "{err}");
    assert!(err.contains("unknown field `tolerence`, did you mean `tolerance`?"), "{err}");

    let spec = common::suite(0);
    std::fs::write(dir.join("range.yaml"), &spec).unwrap();
    let out = repbench(dir, &["validate", "range.yaml"]).code(2);
    let err = out.stderr.clone();
    assert!(err.contains("evaluations.knn.k[0]: must be at least 1"), "{err}");
}

/// Photo settings are checked before anything runs, each with its field path
/// and line; a folder of mixed sizes stops with the `image:` line to add.
#[test]
fn photo_settings_are_checked_and_mixed_sizes_ask_for_the_image_line() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let spec = common::suite(5).replace(
        "  format: idx\n",
        "  format: idx\n  image: {size: 4, channels: 2}\n  shards: {train: \"t-{0..3}.tar\"}\n  test_fraction: 0.2\n",
    );
    std::fs::write(dir.join("photo.yaml"), &spec).unwrap();
    let err = repbench(dir, &["validate", "photo.yaml"]).code(2).stderr;
    for want in [
        "dataset.image: applies to photo formats",
        "dataset.shards: applies to the webdataset format",
        "dataset.test_fraction: applies to a CSV manifest",
    ] {
        assert!(err.contains(want), "{want}: {err}");
    }
    // A folder of two sizes, run for real.
    for (split, class, w) in
        [("train", "a", 8), ("train", "a", 9), ("train", "b", 8), ("test", "a", 8), ("test", "b", 8)]
    {
        let d = dir.join("photos").join(split).join(class);
        std::fs::create_dir_all(&d).unwrap();
        image::GrayImage::from_pixel(w, 8, image::Luma([w as u8 * 20])).save(d.join(format!("{w}.png"))).unwrap();
    }
    let suite = "suite: photos\ndataset: {path: photos, format: folder, val_fraction: 0.4}\nrepresentations: {raw: {kind: raw}}\nevaluations: {knn: {kind: knn, k: [1]}}\n";
    std::fs::write(dir.join("photos.yaml"), suite).unwrap();
    let err = repbench(dir, &["run", "photos.yaml", "--cache", "c"]).failed().stderr;
    assert!(
        err.contains("9.png: image is 9x8 but the first image") && err.contains("image: {size: 8, resize: 9}"),
        "{err}"
    );
    let fixed = suite.replace("format: folder,", "format: folder, image: {size: 8},");
    std::fs::write(dir.join("photos.yaml"), fixed).unwrap();
    let out = repbench(dir, &["run", "photos.yaml", "--cache", "c"]).ok();
    assert!(out.stderr.contains("1 cells (1 computed"), "{}", out.stderr);
    let manifest = std::fs::read_to_string(dir.join("runs/photos/manifest.json")).unwrap();
    assert!(manifest.contains("\"images\"") && manifest.contains("\"skipped\": 0"), "{manifest}");
}

#[test]
fn corrupt_dataset_fails_with_file_name_and_leaves_no_cache_entry() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let d = common::make_dataset(dir, 60, 30);
    // Truncate the train images: the header still declares 60 images.
    let f = d.join("train-images-idx3-ubyte");
    let bytes = std::fs::read(&f).unwrap();
    std::fs::write(&f, &bytes[..bytes.len() - 100]).unwrap();
    std::fs::write(dir.join("tiny.yaml"), common::suite(5)).unwrap();
    let out = repbench(dir, &["run", "tiny.yaml", "--device", "cpu"]).code(1);
    let err = out.stderr.clone();
    assert!(err.contains("train-images-idx3-ubyte") && err.contains("truncated"), "{err}");
    assert_eq!(count_entries(&dir.join("cache")), 0);
    let manifest = std::fs::read_to_string(dir.join("runs/tiny/manifest.json")).unwrap();
    assert!(manifest.contains("truncated"));
}

#[test]
fn env_reports_libtorch() {
    let tmp = tempfile::tempdir().unwrap();
    let out = repbench(tmp.path(), &["env"]).ok();
    let text = out.stdout.clone();
    assert!(text.contains("libtorch 2.11.0"), "{text}");
}

#[test]
fn env_checks_that_libtorch_threads_flush_subnormals_unless_asked_to_keep_them() {
    let tmp = tempfile::tempdir().unwrap();
    let env = |keep: Option<&str>| {
        let mut c = std::process::Command::new(common::BIN);
        c.current_dir(tmp.path()).arg("env").env_remove("REPBENCH_KEEP_DENORMALS");
        if let Some(v) = keep {
            c.env("REPBENCH_KEEP_DENORMALS", v);
        }
        let o = c.output().unwrap();
        assert!(o.status.success());
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let on = env(None);
    assert!(on.contains("subnormal floats: flushed to zero (FTZ/DAZ) (0 of 4194304 survive"), "{on}");
    let off = env(Some("1"));
    assert!(off.contains("subnormal floats: kept (IEEE) (4194304 of 4194304 survive"), "{off}");
    assert!(env(Some("0")).contains("flushed to zero"));
}

#[test]
fn cache_verify_quarantines_a_corrupt_entry_and_the_next_run_recomputes_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    common::make_dataset(dir, 120, 30);
    std::fs::write(dir.join("tiny.yaml"), common::suite(5).replace("seed: [0, 1]", "seed: [0]")).unwrap();
    repbench(dir, &["run", "tiny.yaml", "--device", "cpu"]).ok();
    let out = repbench(dir, &["cache", "ls"]).ok();
    assert!(out.stdout.contains("eval"));
    repbench(dir, &["cache", "verify"]).ok();
    // Corrupt one evaluation's metrics.
    let metrics = walkdir::WalkDir::new(dir.join("cache/objects"))
        .into_iter()
        .flatten()
        .find(|e| e.file_name() == "metrics.json")
        .unwrap()
        .into_path();
    std::fs::write(&metrics, b"{\"metrics\": [[\"top1\", 1.0]]}").unwrap();
    let out = repbench(dir, &["cache", "verify"]).code(1);
    let text = out.stdout.clone();
    assert!(text.contains("1 corrupt") && text.contains("quarantined"), "{text}");
    assert!(!metrics.exists());
    let out = repbench(dir, &["run", "tiny.yaml", "--device", "cpu"]).ok();
    let stderr = out.stderr.clone();
    assert!(stderr.contains("1 computed, 5 cached"), "{stderr}");
}

#[test]
fn alias_bombs_and_huge_matrices_are_refused_with_located_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut bomb = String::from("suite: bomb\ndataset: {name: fashion-mnist}\nrepresentations: {raw: {kind: raw}}\nevaluations: {linear: {kind: linear_probe}}\nmatrix:\n  x0: &a0 [\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\"]\n");
    for i in 1..9 {
        let p = i - 1;
        bomb.push_str(&format!("  x{i}: &a{i} [*a{p},*a{p},*a{p},*a{p},*a{p},*a{p},*a{p},*a{p},*a{p},*a{p}]\n"));
    }
    bomb.push_str("  seed: [*a8,*a8,*a8,*a8,*a8,*a8,*a8,*a8,*a8,*a8]\n");
    std::fs::write(dir.join("bomb.yaml"), bomb).unwrap();
    let out = repbench(dir, &["validate", "bomb.yaml"]).failed();
    let err = out.stderr.clone();
    assert!(err.contains("bomb.yaml:7:") && err.contains("alias bomb"), "{err}");

    // 20 × 20 × 20 × 20 = 160,000 cells: refused before expanding.
    let values: Vec<String> = (0..20).map(|i| i.to_string()).collect();
    let list = format!("[{}]", values.join(", "));
    let huge = format!("suite: huge\ndataset: {{name: fashion-mnist}}\nrepresentations: {{pca: {{kind: pca, components: 8}}}}\nevaluations: {{knn: {{kind: knn}}}}\nmatrix:\n  seed: {list}\n  representations.pca.components: {list}\n  evaluations.knn.temperature: {list}\n  dataset.val_fraction: {list}\n");
    std::fs::write(dir.join("huge.yaml"), huge).unwrap();
    let out = repbench(dir, &["validate", "huge.yaml"]).failed();
    let err = out.stderr.clone();
    assert!(
        err.contains("huge.yaml:5:") && err.contains("more than 10000 cells") && err.contains("seed: 20 × "),
        "{err}"
    );
}

#[test]
fn names_that_would_escape_the_run_directory_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(dir.join("esc.yaml"), "suite: ../evil\ndataset: {name: fashion-mnist}\nrepresentations: {\"a/b\": {kind: raw}}\nevaluations: {\"../x\": {kind: knn}}\n").unwrap();
    let out = repbench(dir, &["validate", "esc.yaml"]).failed();
    let err = out.stderr.clone();
    for bad in ["suite: `../evil`", "representations.a/b: `a/b`", "evaluations.../x: `../x`"] {
        assert!(err.contains(bad), "{bad} not refused: {err}");
    }
    repbench(dir, &["run", "esc.yaml"]).failed();
    assert!(!dir.join("evil").exists() && !dir.join("runs").exists());
}

#[test]
fn cache_gc_keeps_what_a_suite_or_run_needs_and_deletes_the_rest() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    common::make_dataset(dir, 240, 60);
    std::fs::write(dir.join("a.yaml"), common::suite(5)).unwrap();
    std::fs::write(dir.join("b.yaml"), common::suite(7).replace("suite: tiny", "suite: other")).unwrap();
    repbench(dir, &["run", "a.yaml", "--device", "cpu", "-q"]).ok();
    repbench(dir, &["run", "b.yaml", "--device", "cpu", "-q"]).ok();
    let before = count_entries(&dir.join("cache"));
    // Without roots gc refuses; a dry run deletes nothing.
    repbench(dir, &["cache", "gc"]).failed();
    let out = repbench(dir, &["cache", "gc", "--keep", "a.yaml", "--dry-run"]).ok();
    let text = out.stdout.clone();
    // b differs from a only in its k-NN: 2 seeds × 3 representations of knn cells go.
    assert!(text.contains("would delete 6 entries"), "{text}");
    assert_eq!(count_entries(&dir.join("cache")), before);
    // Keeping b's run directory keeps its cells (and, through upstream keys, their fits).
    repbench(dir, &["cache", "gc", "--keep", "a.yaml", "--keep", "runs/other"]).ok();
    assert_eq!(count_entries(&dir.join("cache")), before);
    repbench(dir, &["cache", "gc", "--keep", "a.yaml"]).ok();
    assert_eq!(count_entries(&dir.join("cache")), before - 6);
    // a is still fully cached; b recomputes only its k-NN cells.
    let out = repbench(dir, &["run", "a.yaml", "--device", "cpu"]).ok();
    assert!(out.stderr.contains("0 computed, 12 cached"));
    let out = repbench(dir, &["run", "b.yaml", "--device", "cpu"]).ok();
    assert!(out.stderr.contains("6 computed, 6 cached"));
}

/// A subset larger than the data is refused, not silently shrunk.
#[test]
fn subset_sizes_larger_than_the_data_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    common::make_dataset(dir, 60, 30);
    let spec = common::suite(5).replace("  val_fraction: 0.2\n", "  val_fraction: 0.2\n  train_size: 100\n");
    std::fs::write(dir.join("big.yaml"), spec).unwrap();
    let out = repbench(dir, &["run", "big.yaml", "--device", "cpu"]).failed();
    let all = format!("{}{}", out.stdout, out.stderr);
    let report = std::fs::read_to_string(dir.join("runs/tiny/report.md")).unwrap_or_default();
    assert!((all + &report).contains("train_size 100 but the train part holds 60 images"), "{}", report);
}

/// One seed: the comparison with the best is McNemar's exact test on the shared
/// test images with a paired bootstrap CI, from the correctness bits each
/// classification cell stores (a few hundred bytes here).
#[test]
fn one_seed_comparisons_use_the_per_example_test() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    common::make_dataset(dir, 240, 60);
    std::fs::write(dir.join("one.yaml"), common::suite(5).replace("seed: [0, 1]", "seed: [0]")).unwrap();
    repbench(dir, &["run", "one.yaml", "--device", "cpu"]).ok();
    let md = std::fs::read_to_string(dir.join("runs/tiny/report.md")).unwrap();
    // The generated classes are easy: representations that are right on the
    // same images are said to be (the per-example path), never given p = 1.
    let per_example =
        |l: &&str| l.contains("McNemar exact on 60 test images") || l.contains("right on exactly the same test images");
    assert!(
        md.lines().filter(|l| l.starts_with("| raw |") || l.starts_with("| pca |")).any(|l| per_example(&l)),
        "{md}"
    );
    let details = std::fs::read_to_string(dir.join("runs/tiny/details.json")).unwrap();
    assert!(details.contains("\"test_correct\""));
}

/// `class_names:` reaches the report (the per-class data table) and the
/// manifest; a list whose length is not the data's class count is refused,
/// naming the field and both counts.
#[test]
fn class_names_reach_the_report_and_a_wrong_count_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    common::make_dataset(dir, 120, 30);
    let names = "  class_names: [horizontal, vertical, diagonal]\n";
    let spec = common::suite(5)
        .replace("seed: [0, 1]", "seed: [0]")
        .replace("  val_fraction: 0.2\n", &format!("  val_fraction: 0.2\n{names}"));
    std::fs::write(dir.join("named.yaml"), &spec).unwrap();
    repbench(dir, &["run", "named.yaml", "--device", "cpu"]).ok();
    let md = std::fs::read_to_string(dir.join("runs/tiny/report.md")).unwrap();
    assert!(md.contains("| split | 0 horizontal | 1 vertical | 2 diagonal | total |"), "{md}");
    let manifest = std::fs::read_to_string(dir.join("runs/tiny/manifest.json")).unwrap();
    assert!(manifest.contains("\"diagonal\""));
    std::fs::write(dir.join("wrong.yaml"), spec.replace("[horizontal, vertical, diagonal]", "[horizontal, vertical]"))
        .unwrap();
    let out = repbench(dir, &["run", "wrong.yaml", "--device", "cpu"]).failed();
    let all = format!("{}{}", out.stdout, out.stderr);
    let report = std::fs::read_to_string(dir.join("runs/tiny/report.md")).unwrap_or_default();
    assert!((all + &report).contains("dataset.class_names lists 2 names, but the data holds 3 classes"), "{report}");
}

/// Every suite the repository ships validates with today's binary, except an
/// investigation whose header says it is refused (kept as the record of a run
/// made before a check existed) — and that one must still be refused, so the
/// header cannot go stale.
#[test]
fn every_shipped_suite_validates_and_refused_investigations_say_so() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut suites: Vec<_> = ["experiments", "experiments/investigations"]
        .iter()
        .flat_map(|d| std::fs::read_dir(root.join(d)).unwrap().map(|e| e.unwrap().path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    suites.sort();
    assert!(suites.len() >= 19, "{} suites", suites.len());
    for suite in suites {
        let refused = std::fs::read_to_string(&suite).unwrap().starts_with("# REFUSED");
        let out = repbench(suite.parent().unwrap(), &["validate", suite.to_str().unwrap()]);
        assert_eq!(out.code == Some(0), !refused, "{}: {}{}", suite.display(), out.stdout, out.stderr);
    }
}

#[test]
fn merge_pools_runs_that_differ_only_in_seeds_and_refuses_the_rest() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    common::make_dataset(dir, 60, 30);
    let both = common::suite(5);
    let part = |seed: &str, name: &str| both.replace("seed: [0, 1]", seed).replace("suite: tiny", name);
    std::fs::write(dir.join("both.yaml"), &both).unwrap();
    std::fs::write(dir.join("a.yaml"), part("seed: [0]", "suite: part_a")).unwrap();
    std::fs::write(dir.join("b.yaml"), part("seed: [1]", "suite: part_b")).unwrap();
    std::fs::write(dir.join("c.yaml"), part("seed: [2]", "suite: part_c").replace("k: [5]", "k: [3]")).unwrap();
    for (spec, out) in [("both.yaml", "one"), ("a.yaml", "a"), ("b.yaml", "b"), ("c.yaml", "c")] {
        repbench(dir, &["run", spec, "--device", "cpu", "--out", out]).ok();
    }
    // a.yaml's plan is seed 0 alone: b's seed 1 is outside it. Named with
    // --plan, both.yaml's seeds (0, 1) are the plan the parts belong to.
    let out = repbench(dir, &["merge", "a", "b", "--out", "merged"]).failed();
    assert!(
        out.stderr.contains("seed 1 is not in the seed plan of") && out.stderr.contains("--plan"),
        "{}",
        out.stderr
    );
    repbench(dir, &["merge", "a", "b", "--out", "merged", "--plan", "both.yaml"]).ok();
    let manifest = std::fs::read_to_string(dir.join("merged/manifest.json")).unwrap();
    assert!(
        manifest.contains("\"spec_path\": \"both.yaml\""),
        "the merged manifest names the plan's suite: {manifest}"
    );
    // The pooled run is the two-seed run: the same numbers, the same statistics
    // over seeds, the same cell keys.
    assert_eq!(common::results(&dir.join("merged")).0, common::results(&dir.join("one")).0);
    let summary = |d: &str| std::fs::read_to_string(dir.join(d).join("summary.csv")).unwrap();
    assert_eq!(summary("merged"), summary("one"));
    let md = std::fs::read_to_string(dir.join("merged/report.md")).unwrap();
    assert!(md.contains("merged from 2 runs"), "{md}");
    assert!(md.contains("a.yaml") && md.contains("b.yaml"), "{md}");

    // A seed in two runs would be counted twice.
    let out = repbench(dir, &["merge", "a", "one", "--out", "x"]).failed();
    assert!(out.stderr.contains("seed 0 is also in"), "{}", out.stderr);
    // Settings that differ in more than the seeds.
    let out = repbench(dir, &["merge", "a", "c", "--out", "x"]).failed();
    assert!(out.stderr.contains("evaluations.knn.k"), "{}", out.stderr);
    assert!(out.stderr.contains("manifest.json"), "{}", out.stderr);
    // Writing over a source.
    repbench(dir, &["merge", "a", "b", "--out", "a"]).failed();
    assert!(!dir.join("x").exists(), "a refused merge wrote nothing");
}

#[test]
fn seeds_on_the_command_line_extend_a_run_without_a_copied_suite() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    common::make_dataset(dir, 60, 30);
    std::fs::write(dir.join("both.yaml"), common::suite(5)).unwrap();
    repbench(dir, &["run", "both.yaml", "--device", "cpu", "--out", "one"]).ok();
    // The same suite file, one seed at a time: the parts pool into the two-seed run.
    repbench(dir, &["run", "both.yaml", "--device", "cpu", "--out", "s0", "--seeds", "0"]).ok();
    repbench(dir, &["run", "both.yaml", "--device", "cpu", "--out", "s1", "--seeds", "1"]).ok();
    let seeds = |d: &str| {
        let mut s: Vec<String> =
            common::results(&dir.join(d)).0.iter().map(|(k, _)| k.rsplit('/').next().unwrap().to_string()).collect();
        s.dedup();
        s
    };
    assert_eq!(seeds("s1"), ["1"]);
    let manifest = std::fs::read_to_string(dir.join("s1/manifest.json")).unwrap();
    assert!(manifest.contains("\"seeds_override\": [\n    1\n  ]"), "{manifest}");
    // Each part is an interim look at the two-seed plan, tested at the level
    // O'Brien–Fleming spending releases; the merge of both is the full look.
    let s0 = std::fs::read_to_string(dir.join("s0/report.md")).unwrap();
    assert!(s0.contains("**Interim: 1 of 2 planned seeds**"), "{s0}");
    repbench(dir, &["merge", "s0", "s1", "--out", "merged"]).ok();
    assert_eq!(common::results(&dir.join("merged")).0, common::results(&dir.join("one")).0);
    let merged = std::fs::read_to_string(dir.join("merged/report.md")).unwrap();
    assert!(!merged.contains("Interim"), "{merged}");
    // Seeds outside the plan are an unplanned extension, said so.
    repbench(dir, &["run", "both.yaml", "--device", "cpu", "--out", "s7", "--seeds", "7"]).ok();
    let s7 = std::fs::read_to_string(dir.join("s7/report.md")).unwrap();
    assert!(s7.contains("seeds 7 are not in the suite's seed plan (0, 1)"), "{s7}");
    // A list that cannot be meant is refused before anything runs.
    for bad in ["3-1", "1,1", "x"] {
        let out = repbench(dir, &["run", "both.yaml", "--out", "bad", "--seeds", bad]).failed();
        assert!(out.stderr.contains("--seeds"), "{bad}: {}", out.stderr);
    }
    assert!(!dir.join("bad").exists());
}

#[test]
fn two_identical_representations_under_other_names_get_identical_numbers_in_every_evaluation() {
    // Label subsets, minibatch orders and cluster starts are drawn from the
    // data, the seed and the evaluation, never from the representation's name,
    // so a representation imported twice pairs with itself exactly.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    common::make_dataset(dir, 150, 60);
    let suite = "suite: tiny
dataset: {path: tiny, format: idx, val_fraction: 0.2, holdout_classes: [2]}
representations:
  first: {kind: raw}
  second: {kind: raw}
evaluations:
  labels: {kind: label_efficiency, fractions: [0.1, 0.5]}
  labels_knn: {kind: label_efficiency, probe: knn, fractions: [0.5], knn: {k: [3]}}
  adam: {kind: linear_probe, solver: adam, epochs: 3, l2_grid: [0.0001]}
  clusters: {kind: clustering, restarts: 2}
  outliers: {kind: anomaly}
matrix:
  seed: [0, 1]
";
    std::fs::write(dir.join("tiny.yaml"), suite).unwrap();
    // --force: each representation computes its own cells (their keys are
    // equal, so without it the second would read the first's from the cache).
    let out = repbench(dir, &["run", "tiny.yaml", "--device", "cpu", "--force"]).ok();
    assert!(out.stderr.contains("(20 computed, 0 cached"), "{}", out.stderr);
    let (vals, _) = results(dir);
    let of = |rep: &str| -> Vec<(String, f64)> {
        vals.iter()
            .filter_map(|(k, v)| k.strip_prefix(&format!("{rep}/")).map(|rest| (rest.to_string(), *v)))
            .filter(|(k, _)| !k.contains("seconds"))
            .collect()
    };
    let (a, b) = (of("first"), of("second"));
    assert!(a.len() >= 10, "{vals:?}");
    assert_eq!(a, b);
}
