//! Report generation and `compare` from stored-result fixtures: no training,
//! only the files a run directory holds.
use repbench::report::manifest::{DatasetRecord, EvaluationRecord, Manifest};
use repbench::report::{self, ReportData};
use repbench::runner::{Artifact, ResultRow, TrainLogRecord};
use serde_json::json;

fn manifest(suite: &str) -> Manifest {
    let ev = |name: &str, kind: &str, headline: &str, ranks: bool| {
        let spec: repbench::eval::EvaluationSpec = serde_json::from_value(json!({ "kind": kind })).unwrap();
        let figures = Some(spec.as_dyn().figures().to_vec());
        EvaluationRecord {
            name: name.into(),
            kind: kind.into(),
            headline: headline.into(),
            ranks,
            higher_is_better: true,
            proportion: spec.headline().proportion,
            figures,
            choices: vec![],
            baseline: None,
            margin: None,
        }
    };
    Manifest {
        suite: suite.into(),
        description: Some("fixture".into()),
        spec_path: "fixture.yaml".into(),
        spec_sha256: "0".repeat(64),
        spec_text: "suite: fixture\n".into(),
        seeds_override: None,
        command: vec!["repbench".into(), "run".into()],
        started_unix: 0,
        device: "cpu".into(),
        cache_dir: "/nonexistent".into(),
        environment: repbench::runtime::environment::collect(),
        datasets: vec![DatasetRecord {
            name: "fixture".into(),
            format: "idx".into(),
            root: "/data".into(),
            files: 4,
            fingerprint: "ab".repeat(32),
            note: None,
            images: None,
        }],
        representations: vec!["raw".into(), "hog".into(), "simclr".into()],
        evaluations: vec![
            ev("linear", "linear_probe", "top1", true),
            ev("labels", "label_efficiency", "top1@0.1", true),
            ev("cka", "similarity", "cka", false),
            ev("map", "embedding_map", "map_knn5", false),
        ],
        cells: 0,
        computed_cells: 0,
        cached_cells: 0,
        total_seconds: 1.0,
        failures: vec![],
        skipped: vec![],
        interrupted: false,
        imported_files: vec![],
        split_counts: vec![],
        merged_from: vec![],
        plan: None,
    }
}

fn row(rep: &str, eval: &str, kind: &str, metric: &str, seed: u64, value: f64) -> ResultRow {
    ResultRow {
        suite: "fixture".into(),
        representation: rep.into(),
        kind: "raw".into(),
        evaluation: eval.into(),
        eval_kind: kind.into(),
        metric: metric.into(),
        value,
        seed,
        params: String::new(),
        cell_key: format!("{rep}{eval}{seed}").repeat(4),
        cached: false,
        fit_seconds: 0.0,
        embed_seconds: 0.0,
        eval_seconds: 0.0,
    }
}

/// Three representations over three seeds; `shift` is added to simclr's values.
fn fixture(shift: f64) -> ReportData {
    let reps = [("raw", 0.84), ("hog", 0.88), ("simclr", 0.80 + shift)];
    let mut rows = Vec::new();
    let mut artifacts = Vec::new();
    for seed in 0..3u64 {
        let noise = [0.0, 0.004, -0.004][seed as usize];
        for (rep, base) in reps {
            rows.push(row(rep, "linear", "linear_probe", "top1", seed, base + noise));
            rows.push(row(rep, "labels", "label_efficiency", "top1@0.1", seed, base - 0.1 + noise));
            rows.push(row(rep, "labels", "label_efficiency", "top1@1", seed, base + noise));
            rows.push(row(rep, "map", "embedding_map", "map_knn5", seed, base - 0.05 + noise));
            for (other, _) in reps {
                rows.push(row(
                    rep,
                    "cka",
                    "similarity",
                    &format!("cka:{other}"),
                    seed,
                    if other == rep { 1.0 } else { 0.5 },
                ));
            }
            artifacts.push(Artifact {
                representation: rep.into(),
                evaluation: "linear".into(),
                eval_kind: "linear_probe".into(),
                seed,
                params: String::new(),
                cell_key: "k".into(),
                details: json!({ "confusion": [[9, 1], [2, 8]] }),
            });
            artifacts.push(Artifact {
                representation: rep.into(),
                evaluation: "map".into(),
                eval_kind: "embedding_map".into(),
                seed,
                params: String::new(),
                cell_key: "k".into(),
                details: json!({ "method": "tsne", "x": [0.0, 1.0, 2.0, 3.0], "y": [0.0, 1.0, 0.0, 1.0], "labels": [0, 1, 0, 1] }),
            });
        }
    }
    let logs = vec![TrainLogRecord {
        representation: "simclr".into(),
        seed: 0,
        params: String::new(),
        log: serde_json::from_value(json!([{"epoch": 1, "loss": 5.0, "lr": 0.001, "seconds": 1.0, "images_per_s": 10.0}, {"epoch": 2, "loss": 4.0, "lr": 0.0005, "seconds": 1.0, "images_per_s": 10.0, "diagnostics": {"teacher_entropy": 0.9}}])).unwrap(),
    }];
    ReportData::new(rows, manifest("fixture"), artifacts, logs)
}

#[test]
fn report_from_fixture_has_every_section_figure_and_test() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let md_path = report::write_run(&dir, &fixture(0.0)).unwrap();
    let md = std::fs::read_to_string(&md_path).unwrap();
    for s in [
        "## Summary",
        "## Ranks across evaluations",
        "## linear (linear_probe)",
        "## labels (label_efficiency)",
        "## cka (similarity)",
        "## map (embedding_map)",
        "## Training",
        "## Provenance",
    ] {
        assert!(md.contains(s), "report.md lacks {s}");
    }
    // hog has the best mean everywhere; simclr is 0.08 below it in every seed —
    // the seed noise is shared (paired), so the difference has no spread: said,
    // not tested, and so hog is not called the leader (all pairs, no baseline).
    assert!(md.contains("| hog | — | **top1** | 0.8800 ± 0.0040 | [0.8701, 0.8899] | 3 | **best mean** |"), "{md}");
    assert!(
        md.lines().any(|l| l.starts_with("| simclr | — | **top1** |")
            && l.contains("Δ -0.0800: **not tested** — the same difference in all 3 seeds")),
        "{md}"
    );
    assert!(
        md.contains("## Findings")
            && md.contains("`linear`: the data cannot separate **hog**, **raw**, **simclr** at the top"),
        "{md}"
    );
    assert!(!md.contains("## Warnings: training collapse"), "a teacher at 0.9 is not a collapse: {md}");
    assert!(md.contains("| hog | 1 | 1 | 1.00 |"), "rank table (the map is descriptive, not ranked): {md}");
    for f in [
        "figures/labels_top1.png",
        "figures/cka.png",
        "figures/linear_confusion.png",
        "figures/map.png",
        "figures/training_curves.png",
        "summary.png",
    ] {
        assert!(dir.join("table.md").is_file() && dir.join("table.tex").is_file(), "no table.md / table.tex");
        assert!(dir.join(f).is_file(), "missing {f}");
        assert!(md.contains(f), "report.md does not show {f}");
    }
    // A method diagnostic in the training log gets its own panel, titled by its name.
    let curves = std::fs::read_to_string(dir.join("figures/training_curves.svg")).unwrap();
    assert!(curves.contains("teacher entropy"), "no diagnostic panel in the training curves");
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(html.contains("<table>") && html.contains("data:image/png;base64,"));
    assert!(!html.contains("src=\"figures/"), "every image is inlined");
    // `repbench report` rebuilds the same report from the stored files.
    std::fs::remove_file(dir.join("report.md")).unwrap();
    report::rebuild(&dir).unwrap();
    assert_eq!(std::fs::read_to_string(dir.join("report.md")).unwrap(), md);
}

/// A fit whose DINO teacher ended uniform is flagged above every table, so its
/// scores are not read as the method's.
#[test]
fn a_collapsed_fit_is_warned_about_before_the_tables() {
    let tmp = tempfile::tempdir().unwrap();
    let mut data = fixture(0.0);
    data.train_logs[0].log = serde_json::from_value(json!([
        {"epoch": 1, "loss": 7.0, "lr": 0.03, "seconds": 1.0, "images_per_s": 10.0, "diagnostics": {"teacher_entropy": 0.74, "teacher_logit_spread": 2.0}},
        {"epoch": 2, "loss": 3.0, "lr": 0.02, "seconds": 1.0, "images_per_s": 10.0, "diagnostics": {"teacher_entropy": 0.12, "teacher_logit_spread": 2.7}},
        {"epoch": 3, "loss": 7.6, "lr": 0.01, "seconds": 1.0, "images_per_s": 10.0, "diagnostics": {"teacher_entropy": 1.0, "teacher_logit_spread": 0.0}}
    ]))
    .unwrap();
    let md = std::fs::read_to_string(report::write_run(&tmp.path().join("run"), &data).unwrap()).unwrap();
    let warning = md.find("**simclr** (seed 0): the teacher ended uniform").expect("no collapse warning");
    assert!(warning < md.find("## linear (linear_probe)").unwrap(), "the warning comes after the tables: {md}");
}

#[test]
fn compare_reports_deltas_with_significance() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    report::write_run(&a, &fixture(0.0)).unwrap();
    // B: SimCLR 0.05 better, with seed noise of its own (a constant shift in
    // every seed would leave the paired test nothing to test).
    let mut fb = fixture(0.05);
    for r in fb.rows.iter_mut().filter(|r| r.representation == "simclr" && r.metric == "top1") {
        r.value += [0.002, -0.001, 0.0][r.seed as usize];
    }
    let fb = ReportData::new(fb.rows, fb.manifest, fb.artifacts, fb.train_logs);
    report::write_run(&b, &fb).unwrap();
    let d = report::compare::deltas(&report::load(&a).unwrap(), &report::load(&b).unwrap());
    let simclr =
        d.iter().find(|x| x.representation == "simclr" && x.evaluation == "linear" && x.metric == "top1").unwrap();
    assert!((simclr.delta - 0.05 - 0.001 / 3.0).abs() < 1e-9);
    assert!(simclr.p_value.unwrap() < 0.01 && simclr.test.starts_with("paired t"), "{simclr:?}");
    let (lo, hi) = simclr.ci.unwrap();
    assert!(lo < simclr.delta && simclr.delta < hi);
    // Identical in every seed: said, not tested (no p = 1 from a test of a constant).
    let hog = d.iter().find(|x| x.representation == "hog" && x.evaluation == "linear").unwrap();
    assert_eq!((hog.delta, hog.p_value), (0.0, None));
    assert!(hog.test.contains("identical in every seed"), "{hog:?}");
    assert!(d.iter().all(|x| !x.metric.starts_with("cka:")), "similarity is not compared metric by metric");
    let md = std::fs::read_to_string(report::compare::write(&tmp.path().join("cmp"), &a, &b).unwrap()).unwrap();
    assert!(
        md.lines().any(|l| l.starts_with("| simclr | linear | — | top1 |") && l.contains("+0.0503") && l.contains("▲")),
        "{md}"
    );
    // Arrows only on ranked headlines: the descriptive map metric gets a p but no arrow.
    assert!(md.lines().filter(|l| l.contains("| map_knn5 |")).all(|l| !l.contains('▲') && !l.contains('▼')), "{md}");
    assert!(tmp.path().join("cmp/compare.csv").is_file());
}

/// A ratio headline (`attention_foreground`) is not a share: the findings give
/// its difference as it is, not in percentage points.
#[test]
fn findings_give_a_ratio_headline_as_a_plain_difference() {
    let mut m = manifest("ratio");
    let spec: repbench::eval::EvaluationSpec = serde_json::from_value(json!({ "kind": "attention_maps" })).unwrap();
    m.evaluations = vec![EvaluationRecord::of("attention", &spec)];
    assert!(!m.evaluations[0].proportion && m.evaluations[0].ranks);
    m.representations = vec!["dino".into(), "sup".into()];
    let mut rows = Vec::new();
    for seed in 0..3u64 {
        let noise = [0.0, 0.02, -0.01][seed as usize];
        rows.push(row("dino", "attention", "attention_maps", "attention_foreground", seed, 1.5 + noise));
        rows.push(row("sup", "attention", "attention_maps", "attention_foreground", seed, 1.2 - noise));
    }
    let tmp = tempfile::tempdir().unwrap();
    let md_path = report::write_run(&tmp.path().join("run"), &ReportData::new(rows, m, vec![], vec![])).unwrap();
    let md = std::fs::read_to_string(&md_path).unwrap();
    let line = md.lines().find(|l| l.contains("**dino** leads `attention`")).unwrap_or_else(|| panic!("{md}"));
    // Paired over 3 seeds: differences 0.30, 0.34, 0.28 → mean 0.307.
    assert!(line.contains("against dino: Δ -0.307, CI [-") && line.contains("**worse**"), "{line}");
    assert!(!line.contains("points"), "{line}");
}

/// A manifest written before class names were recorded gets Fashion-MNIST's
/// names only when its record determines them (the named dataset from the
/// Debian package, no class subset); otherwise labels stay `class k`.
#[test]
fn old_manifests_get_class_names_only_when_the_record_determines_them() {
    use repbench::report::manifest::{self, SplitCounts};
    let counts = SplitCounts {
        points: vec!["seed=0".into()],
        dataset: "fashion-mnist".into(),
        classes: 10,
        class_names: vec![],
        train: vec![1; 10],
        val: vec![1; 10],
        test: vec![1; 10],
        groups: None,
        groups_error: None,
    };
    let named = |m: &mut Manifest| {
        m.datasets[0].name = "fashion-mnist".into();
        m.datasets[0].root = repbench::data::named::FASHION_MNIST_DEBIAN.into();
        m.split_counts = vec![counts.clone()];
    };
    let tmp = tempfile::tempdir().unwrap();
    let reread = |m: &Manifest| {
        let p = tmp.path().join("manifest.json");
        std::fs::write(&p, serde_json::to_vec(m).unwrap()).unwrap();
        ReportData::new(vec![], manifest::read(&p).unwrap(), vec![], vec![])
    };
    let mut m = manifest("old");
    named(&mut m);
    let data = reread(&m);
    assert_eq!(data.manifest.split_counts[0].class_names[0], "T-shirt/top");
    assert_eq!(data.class_name(9), "Ankle boot");
    // Without split counts (older still), the figures get the names too.
    m.split_counts.clear();
    assert_eq!(reread(&m).class_name(1), "Trouser");

    // A class subset, another folder, or names of its own: nothing is inferred.
    let mut subset = manifest("subset");
    named(&mut subset);
    subset.spec_text = "suite: s\ndataset: {name: fashion-mnist, classes: [0, 9]}\n".into();
    assert_eq!(reread(&subset).class_name(0), "class 0");
    let mut elsewhere = manifest("elsewhere");
    named(&mut elsewhere);
    elsewhere.datasets[0].root = "/data/fmnist".into();
    assert_eq!(reread(&elsewhere).class_name(0), "class 0");
    let mut own = manifest("own");
    named(&mut own);
    own.split_counts[0].class_names = (0..10).map(|k| format!("c{k}")).collect();
    assert_eq!(reread(&own).class_name(0), "c0");
}

/// A declared baseline and margin: every other representation against the
/// baseline (Holm over k − 1), verdict words from the margin.
#[test]
fn a_declared_baseline_and_margin_give_many_to_one_verdicts() {
    let mut m = manifest("baseline");
    let spec: repbench::eval::EvaluationSpec = serde_json::from_value(json!({ "kind": "linear_probe" })).unwrap();
    m.evaluations = vec![EvaluationRecord {
        baseline: Some("raw".into()),
        margin: Some(0.01),
        ..EvaluationRecord::of("linear", &spec)
    }];
    m.representations = vec!["raw".into(), "hog".into(), "twin".into()];
    let mut rows = Vec::new();
    for seed in 0..5u64 {
        let split = [0.0, 0.01, -0.01, 0.005, -0.005][seed as usize];
        let wobble = [0.001, -0.001, 0.0005, -0.0005, 0.0][seed as usize];
        rows.push(row("raw", "linear", "linear_probe", "top1", seed, 0.84 + split));
        rows.push(row("hog", "linear", "linear_probe", "top1", seed, 0.87 + split + 2.0 * wobble));
        rows.push(row("twin", "linear", "linear_probe", "top1", seed, 0.84 + split + wobble));
    }
    let tmp = tempfile::tempdir().unwrap();
    let md = std::fs::read_to_string(
        report::write_run(&tmp.path().join("run"), &ReportData::new(rows, m, vec![], vec![])).unwrap(),
    )
    .unwrap();
    assert!(md.contains("| vs baseline raw |"), "{md}");
    assert!(md.lines().any(|l| l.starts_with("| raw | — | **top1** |") && l.contains("**baseline**")), "{md}");
    let findings = md.lines().find(|l| l.contains("against the baseline **raw**")).unwrap_or_else(|| panic!("{md}"));
    assert!(findings.contains("Holm over 2"), "{findings}");
    assert!(findings.contains("**hog** Δ +3.0 points") && findings.contains("**better**"), "{findings}");
    assert!(
        findings.contains("**twin** Δ +0.0 points") && findings.contains("**equivalent (±1.0 points)**"),
        "{findings}"
    );
    assert!(!md.contains("All pairs"), "a baseline design has no pairwise table: {md}");
}

/// A rebuild with unchanged inputs reuses the stored comparisons (a cached
/// re-run does not redo the bootstraps); a changed value recomputes them.
#[test]
fn comparisons_are_reused_only_while_their_inputs_are_unchanged() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let data = fixture(0.01);
    let md = std::fs::read_to_string(report::write_run(&dir, &data).unwrap()).unwrap();
    let stored = dir.join("comparisons.json");
    let text = std::fs::read_to_string(&stored).unwrap();
    assert!(text.contains("\"inputs\""), "{text}");
    // Mark the stored families: a rebuild with the same inputs shows the mark.
    assert!(text.contains("(no spread)"), "{text}");
    std::fs::write(&stored, text.replace("(no spread)", "(STORED)")).unwrap();
    report::rebuild(&dir).unwrap();
    let again = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(again.contains("STORED"), "the stored comparisons were not reused");
    // Another value: recomputed, and the same report as a fresh one.
    let changed = fixture(0.02);
    let fresh = std::fs::read_to_string(report::write_run(&tmp.path().join("fresh"), &changed).unwrap()).unwrap();
    let md2 = std::fs::read_to_string(report::write_run(&dir, &changed).unwrap()).unwrap();
    assert!(!md2.contains("STORED"));
    assert_eq!(md2.replace("fresh", "run"), fresh.replace("fresh", "run"));
    assert_ne!(md, md2);
}
