//! Many tasks in one suite, on the real binary: `datasets:` with a fine and a
//! coarse (`label_map`) version of the same data, each a matrix point; the
//! coarse task's classes carry the groups' names; the report ranks the
//! representations per task and aggregates over tasks.
mod common;

use common::repbench;

fn suite(extra: &str) -> String {
    format!(
        "suite: tiny
datasets:
  fine: {{path: tiny, format: idx, val_fraction: 0.2}}
  coarse:
    path: tiny
    format: idx
    val_fraction: 0.2
    label_map: {{bars: [0, 1], squares: [2]}}
{extra}representations:
  raw: {{kind: raw}}
  pca: {{kind: pca, components: 4}}
evaluations:
  linear: {{kind: linear_probe}}
  nn: {{kind: retrieval, k: 3, queries: 2}}
matrix:
  seed: [0, 1]
"
    )
}

#[test]
fn two_tasks_are_two_points_ranked_and_aggregated() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    common::make_dataset(dir, 240, 60);
    std::fs::write(dir.join("tiny.yaml"), suite("")).unwrap();
    repbench(dir, &["run", "tiny.yaml", "--device", "cpu"]).ok();
    let run = dir.join("runs/tiny");
    let rows = repbench::report::table::read_results(&run.join("results.parquet")).unwrap();
    let params: std::collections::BTreeSet<&str> = rows.iter().map(|r| r.params.as_str()).collect();
    assert_eq!(params.into_iter().collect::<Vec<_>>(), vec!["dataset=coarse", "dataset=fine"]);
    let md = std::fs::read_to_string(run.join("report.md")).unwrap();
    // The coarse task has two classes, named by the map's groups.
    assert!(md.contains("Per-class top-1 (%) [dataset=coarse]"), "{md}");
    let coarse = md.split("Per-class top-1 (%) [dataset=coarse]").nth(1).unwrap();
    assert!(coarse.lines().nth(2).unwrap().contains("| representation | bars | squares |"), "{coarse}");
    let across = md.split("## Across tasks").nth(1).expect("an Across tasks section");
    assert!(
        across.contains(
            "| representation | dataset=fine | dataset=coarse | mean rank [95 % CI] | IQM normalised [95 % CI] |"
        ),
        "{across}"
    );
    assert!(across.lines().any(|l| l.starts_with("| raw |")) && across.lines().any(|l| l.starts_with("| pca |")));
    // Each task's top-1 is that point's own mean over seeds.
    let mean = |p: &str| {
        let v: Vec<f64> = rows
            .iter()
            .filter(|r| r.params == p && r.representation == "raw" && r.metric == "top1")
            .map(|r| r.value)
            .collect();
        assert_eq!(v.len(), 2);
        v.iter().sum::<f64>() / 2.0 * 100.0
    };
    // A figure per task, each titled with its task and drawn with its own class names.
    for task in ["fine", "coarse"] {
        let f = format!("nn_dataset_{task}_neighbours.png");
        assert!(run.join("figures").join(&f).is_file(), "missing {f}");
        assert!(md.contains(&format!("nn [dataset={task}] — each representation")), "{task}");
    }
    let raw = across.lines().find(|l| l.starts_with("| raw |")).unwrap();
    for p in ["dataset=fine", "dataset=coarse"] {
        assert!(raw.contains(&format!("{:.1}", mean(p))), "{p}: {raw}");
    }
}

#[test]
fn a_bad_label_map_or_both_dataset_keys_are_refused_by_field() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    common::make_dataset(dir, 60, 30);
    let both = suite("dataset: {path: tiny, format: idx}\n");
    std::fs::write(dir.join("both.yaml"), both).unwrap();
    let r = repbench(dir, &["validate", "both.yaml"]);
    assert!(r.code != Some(0) && r.stderr.contains("dataset") && r.stderr.contains("not both"), "{}", r.stderr);
    let twice = suite("").replace("squares: [2]", "squares: [2, 1]");
    std::fs::write(dir.join("twice.yaml"), twice).unwrap();
    let r = repbench(dir, &["validate", "twice.yaml"]);
    assert!(
        r.stderr.contains("datasets.coarse.label_map.squares") && r.stderr.contains("already in group `bars`"),
        "{}",
        r.stderr
    );
    // Leaving a class out is found when the data is read: the run says which.
    let missing = suite("").replace("squares: [2]", "squares: [1]").replace("bars: [0, 1]", "bars: [0]");
    std::fs::write(dir.join("missing.yaml"), missing).unwrap();
    let r = repbench(dir, &["run", "missing.yaml", "--device", "cpu", "-q"]);
    assert!(r.code != Some(0) && r.stderr.contains("label_map leaves out class(es) 2"), "{}", r.stderr);
}
