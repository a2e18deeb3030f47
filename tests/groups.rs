//! Worst-group accuracy end to end: a CSV manifest with a synthetic `site`
//! column (site B's images are noisier), run by the real binary. The per-group
//! accuracies the report derives must equal those recomputed here from the
//! stored per-image results and the manifest's own rows; adding `groups` to a
//! finished suite must recompute nothing; bad `groups` are refused by field.
mod common;
use common::{make_images, repbench};
use std::path::Path;

/// Writes `tiny/manifest.csv` with PNGs: rows `path,label,split,site,scanner`;
/// returns each test row's site in the manifest's order.
fn make_manifest(dir: &Path) -> Vec<String> {
    let d = dir.join("tiny");
    std::fs::create_dir_all(d.join("img")).unwrap();
    let mut csv = String::from("path,label,split,site,scanner\n");
    let mut test_sites = Vec::new();
    for (split, n, offset) in [("train", 120, 0), ("test", 90, 7)] {
        let (pixels, labels) = make_images(n, offset);
        for i in 0..n {
            // Every fifth image comes from site B, whose images carry more noise
            // (the class is i % 3, so every class is at both sites).
            let site = if i % 5 == 1 { "B" } else { "A" };
            let mut px = pixels[i * 64..(i + 1) * 64].to_vec();
            if site == "B" {
                for (j, p) in px.iter_mut().enumerate() {
                    *p = p.wrapping_add(((i * 31 + j * 17) % 7 * 25) as u8);
                }
            }
            let name = format!("img/{split}{i}.png");
            image::GrayImage::from_raw(8, 8, px).unwrap().save(d.join(&name)).unwrap();
            csv.push_str(&format!("{name},{},{split},{site},s{}\n", labels[i], i % 2));
            if split == "test" {
                test_sites.push(site.to_string());
            }
        }
    }
    std::fs::write(d.join("manifest.csv"), csv).unwrap();
    test_sites
}

fn suite(groups: &str) -> String {
    format!(
        "suite: sites
dataset:
  path: tiny/manifest.csv
  format: csv
  val_fraction: 0.2{groups}
representations:
  raw: {{kind: raw}}
  pca: {{kind: pca, components: 6}}
evaluations:
  linear: {{kind: linear_probe}}
  knn: {{kind: knn, k: [5]}}
matrix:
  seed: [0, 1]
"
    )
}

fn bits(b64: &str, n: usize) -> Vec<bool> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD.decode(b64).unwrap();
    (0..n).map(|i| bytes[i / 8] >> (i % 8) & 1 == 1).collect()
}

#[test]
fn worst_group_accuracy_comes_from_the_stored_results_without_recomputing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let sites = make_manifest(dir);
    std::fs::write(dir.join("plain.yaml"), suite("")).unwrap();
    repbench(dir, &["run", "plain.yaml", "--out", "plain", "--quiet"]).ok();
    let plain = std::fs::read_to_string(dir.join("plain/report.md")).unwrap();
    assert!(!plain.contains("worst group"), "no groups asked for, none shown");

    std::fs::write(dir.join("grouped.yaml"), suite("\n  groups: [site]")).unwrap();
    repbench(dir, &["run", "grouped.yaml", "--out", "grouped", "--quiet"]).ok();
    let run = dir.join("grouped");
    let rows = repbench::report::table::read_results(&run.join("results.parquet")).unwrap();
    assert!(rows.iter().all(|r| r.cached), "groups are read from stored results: nothing recomputed");
    let details: Vec<repbench::runner::Artifact> =
        serde_json::from_str(&std::fs::read_to_string(run.join("details.json")).unwrap()).unwrap();
    let mut checked = 0;
    for cell in details.iter().filter(|c| c.evaluation == "linear" || c.evaluation == "knn") {
        let n = cell.details["test_images"].as_u64().unwrap() as usize;
        assert_eq!(n, sites.len(), "the whole test part, in the manifest's order");
        let right = bits(cell.details["test_correct"].as_str().unwrap(), n);
        let acc = |s: &str| {
            let members: Vec<bool> = right.iter().zip(&sites).filter(|(_, t)| *t == s).map(|(r, _)| *r).collect();
            members.iter().filter(|&&r| r).count() as f64 / members.len() as f64
        };
        let want = [acc("A"), acc("B")];
        let g = &cell.details["group_top1"];
        assert_eq!(g["names"], serde_json::json!(["site=A", "site=B"]));
        assert_eq!(g["counts"], serde_json::json!([72, 18]));
        let got: Vec<f64> = serde_json::from_value(g["top1"].clone()).unwrap();
        assert_eq!(got, want, "{} {}", cell.representation, cell.evaluation);
        let row = rows
            .iter()
            .find(|r| {
                r.metric == "worst_group_top1"
                    && r.representation == cell.representation
                    && r.evaluation == cell.evaluation
                    && r.seed == cell.seed
            })
            .expect("a worst-group row per cell");
        assert_eq!(row.value, want[0].min(want[1]));
        checked += 1;
    }
    assert_eq!(checked, 8, "2 representations × 2 evaluations × 2 seeds");
    let md = std::fs::read_to_string(run.join("report.md")).unwrap();
    assert!(md.contains("Top-1 per group (%), groups by `site`"), "{md}");
    assert!(md.contains("site=B (n=18)"), "{md}");
    assert!(md.contains("**Small group**: site=B has 18 test images"), "{md}");
    // Compared like a headline (all pairs here, Holm over the family): in the
    // findings, and Δ with its verdict in the group table.
    assert!(md.contains("- worst-group top-1 of `linear`"), "{md}");
    assert!(md.contains("| reference |"), "{md}");
    let table = std::fs::read_to_string(run.join("table.md")).unwrap();
    assert!(table.contains("linear worst group"), "{table}");
    // The rebuilt report reads the same stored rows and details.
    repbench(dir, &["report", "grouped"]).ok();
    assert_eq!(std::fs::read_to_string(run.join("report.md")).unwrap(), md);

    // Class × site × scanner groups: 3 × 2 × 2 = 12, every one present.
    std::fs::write(dir.join("cross.yaml"), suite("\n  groups: [label, site, scanner]")).unwrap();
    repbench(dir, &["run", "cross.yaml", "--out", "cross", "--quiet"]).ok();
    let details: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("cross/details.json")).unwrap()).unwrap();
    let names = &details.as_array().unwrap().iter().find(|c| c["evaluation"] == "linear").unwrap()["details"]
        ["group_top1"]["names"];
    assert_eq!(names.as_array().unwrap().len(), 12, "{names}");
    assert_eq!(names[0], "class 0, site=A, scanner=s0");
}

#[test]
fn groups_naming_a_column_the_data_lacks_are_refused_with_the_field() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    make_manifest(dir);
    std::fs::write(dir.join("bad.yaml"), suite("\n  groups: [label, hospital]")).unwrap();
    let r = repbench(dir, &["run", "bad.yaml", "--quiet"]).failed();
    assert!(
        r.stderr.contains("bad.yaml:6") && r.stderr.contains("dataset.groups[1]: `hospital` is not an extra column"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("it has: site, scanner"), "{}", r.stderr);
    // `plan` (and `prepare`, `submit`) refuse it too, before any work.
    let r = repbench(dir, &["plan", "bad.yaml"]).failed();
    assert!(r.stderr.contains("dataset.groups[1]: `hospital`"), "{}", r.stderr);
    // Two tasks on one manifest, each checked for its own columns and named by its field.
    std::fs::write(
        dir.join("tasks.yaml"),
        "suite: s\ndatasets:\n  fine: {path: tiny/manifest.csv, format: csv, groups: [site]}\n  coarse: {path: tiny/manifest.csv, format: csv, groups: [label, sitex]}\nrepresentations: {raw: {kind: raw}}\nevaluations: {linear: {kind: linear_probe}}\n",
    )
    .unwrap();
    let r = repbench(dir, &["plan", "tasks.yaml"]).failed();
    assert!(
        r.stderr.contains("tasks.yaml:4") && r.stderr.contains("datasets.coarse.groups[1]: `sitex`"),
        "{}",
        r.stderr
    );
    // An IDX dataset has no columns: refused when the suite is validated.
    std::fs::write(
        dir.join("idx.yaml"),
        "suite: s\ndataset: {path: tiny, format: idx, groups: [site]}\nrepresentations: {raw: {kind: raw}}\nevaluations: {linear: {kind: linear_probe}}\n",
    )
    .unwrap();
    let r = repbench(dir, &["validate", "idx.yaml"]).failed();
    assert!(r.stderr.contains("dataset.groups[0]") && r.stderr.contains("only a CSV manifest"), "{}", r.stderr);
}
