//! The end of report.md: cells not applicable or failed, images per class and
//! split, and the provenance a reviewer needs to reproduce or audit the numbers.
use crate::report::manifest::MergedSource;
use crate::report::ReportData;
use std::collections::BTreeSet;
use std::fmt::Write;

/// Cells that do not apply, and cells that failed, with their reasons.
pub(super) fn skipped_and_failed(o: &mut String, data: &ReportData) {
    let m = &data.manifest;
    if !m.skipped.is_empty() {
        let _ = writeln!(o, "## Not applicable\n\n| representation | evaluation | seed | reason |\n|---|---|---|---|");
        for f in &m.skipped {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} |",
                f.representation,
                f.evaluation,
                f.seed,
                f.error.replace('|', "\\|")
            );
        }
        o.push('\n');
    }
    if !m.failures.is_empty() {
        let _ = writeln!(
            o,
            "## Failures\n\n| representation | evaluation | seed | params | stage | error |\n|---|---|---|---|---|---|"
        );
        for f in &m.failures {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} | {} |",
                f.representation,
                f.evaluation,
                f.seed,
                f.params,
                f.stage,
                f.error.replace('|', "\\|").replace('\n', " ")
            );
        }
        o.push('\n');
    }
}

/// How many images of each class every split used, so a reader sees what the
/// numbers rest on (and a class a subset left out).
pub(super) fn data_section(o: &mut String, data: &ReportData) {
    let counts = &data.manifest.split_counts;
    if counts.is_empty() {
        return;
    }
    let _ = writeln!(o, "## Data: images per class and split\n");
    for c in counts.iter().take(6) {
        let points = if c.points.len() > 4 {
            format!("{} and {} more points", c.points[..3].join(", "), c.points.len() - 3)
        } else {
            c.points.join(", ")
        };
        let _ = writeln!(o, "{} — {points}:\n", c.dataset);
        let head: Vec<String> = (0..c.classes)
            .map(|k| c.class_names.get(k).map(|n| format!("{k} {n}")).unwrap_or_else(|| k.to_string()))
            .collect();
        let _ = writeln!(o, "| split | {} | total |", head.join(" | "));
        let _ = writeln!(o, "|---|{}---|", "---|".repeat(c.classes));
        for (name, v) in [("train", &c.train), ("val", &c.val), ("test", &c.test)] {
            let cells: Vec<String> = v.iter().map(|n| n.to_string()).collect();
            let _ = writeln!(o, "| {name} | {} | {} |", cells.join(" | "), v.iter().sum::<usize>());
        }
        o.push('\n');
    }
    if counts.len() > 6 {
        let _ = writeln!(o, "({} more splits in manifest.json.)\n", counts.len() - 6);
    }
}

/// For a run pooled by `repbench merge`: where its seeds come from, and a note
/// when the runs' code or device differ (the merge checked their settings only).
pub(super) fn merged_note(o: &mut String, data: &ReportData) {
    let src = &data.manifest.merged_from;
    if src.is_empty() {
        return;
    }
    let _ = writeln!(
        o,
        "Pooled by `repbench merge` from {} runs whose suites differ only in their seeds (checked); cell counts and time are their sums; the runs are listed under Provenance.\n",
        src.len()
    );
    let distinct = |f: fn(&MergedSource) -> String| src.iter().map(f).collect::<BTreeSet<String>>();
    let commits = distinct(|s| format!("`{}`{}", short(&s.git_commit), if s.git_dirty { " (dirty)" } else { "" }));
    if commits.len() > 1 {
        let _ = writeln!(
            o,
            "**Note:** the runs were built from different commits ({}): the merge compares their settings, not the code between the commits.\n",
            commits.into_iter().collect::<Vec<_>>().join(", ")
        );
    }
    let devices = distinct(|s| s.device.clone());
    if devices.len() > 1 {
        let _ = writeln!(
            o,
            "**Note:** the runs used different devices ({}).\n",
            devices.into_iter().collect::<Vec<_>>().join("; ")
        );
    }
}

fn short(commit: &str) -> &str {
    &commit[..10.min(commit.len())]
}

/// Suite file, command, commit, libtorch, machine, datasets and cache: what a
/// reviewer needs to reproduce or audit the numbers.
pub(super) fn provenance(o: &mut String, data: &ReportData) {
    let m = &data.manifest;
    let e = &m.environment;
    let _ = writeln!(o, "## Provenance\n");
    let _ = writeln!(o, "- suite file: `{}` (sha256 `{}`)", m.spec_path, m.spec_sha256);
    let _ = writeln!(o, "- command: `{}`", m.command.join(" "));
    if !m.merged_from.is_empty() {
        let _ = writeln!(o, "- merged from {} runs (the environment below is the first's):", m.merged_from.len());
        for s in &m.merged_from {
            let seeds: Vec<String> = s.seeds.iter().map(u64::to_string).collect();
            let _ = writeln!(
                o,
                "  - `{}`: suite `{}` from `{}` (sha256 `{}`), seeds {}; commit `{}`{}; {}; {}; {} computed and {} cached cells in {:.1} s",
                s.dir,
                s.suite,
                s.spec_path,
                short(&s.spec_sha256),
                seeds.join(", "),
                short(&s.git_commit),
                if s.git_dirty { " (dirty tree)" } else { "" },
                s.machine,
                s.device,
                s.computed_cells,
                s.cached_cells,
                s.total_seconds
            );
        }
    }
    if let Some(p) = &m.plan {
        let seeds: Vec<String> = p.seeds.iter().map(u64::to_string).collect();
        let _ = writeln!(
            o,
            "- seed plan: seeds {} of `{}` (sha256 `{}`); looks at it, in order (this report: look {}):",
            seeds.join(", "),
            p.suite_path,
            short(&p.spec_sha256),
            p.index() + 1
        );
        for (i, l) in p.looks.iter().enumerate() {
            let seeds: Vec<String> = l.seeds.iter().map(u64::to_string).collect();
            let _ = writeln!(o, "  {}. seeds {} → `{}` (unix time {})", i + 1, seeds.join(", "), l.dir, l.started_unix);
        }
    }
    let _ = writeln!(
        o,
        "- repbench {} at commit `{}`{}",
        e.repbench_version,
        e.git_commit,
        if e.git_dirty { " (dirty tree)" } else { "" }
    );
    let _ = writeln!(
        o,
        "- libtorch {}; device {}; CUDA available: {} ({})",
        e.libtorch_version, m.device, e.cuda_available, e.cuda_note
    );
    let _ = writeln!(
        o,
        "- machine: {} cpus ({}), {} torch threads, {}; subnormal floats {}",
        e.cpus,
        e.cpu_model,
        e.torch_threads,
        e.os,
        if e.flush_denormals { "flushed to zero" } else { "kept" }
    );
    for d in &m.datasets {
        let _ = writeln!(
            o,
            "- dataset {}: {} files at `{}` ({}), fingerprint `{}`",
            d.name, d.files, d.root, d.format, d.fingerprint
        );
        if let Some(n) = &d.note {
            let _ = writeln!(o, "  - note: {n}");
        }
        if let Some(s) = &d.images {
            let [c, h, w] = s.shape;
            let _ = writeln!(
                o,
                "  - decoded once into the image store `{}`: {} train, {} validation, {} test images of {c}×{h}×{w} ({:.1} MB, decoded in {:.1} s)",
                &s.key[..12.min(s.key.len())],
                s.train,
                s.val,
                s.test,
                s.bytes as f64 / 1e6,
                s.build_seconds
            );
            if s.skipped > 0 {
                let shown: Vec<String> =
                    s.skipped_examples.iter().map(|k| format!("`{}` ({})", k.origin, k.error)).collect();
                let _ = writeln!(
                    o,
                    "  - **{} undecodable image{} skipped** (`on_bad_image: skip`): {}{}",
                    s.skipped,
                    if s.skipped == 1 { "" } else { "s" },
                    shown.join("; "),
                    if s.skipped > shown.len() { "; …" } else { "" }
                );
            }
        }
    }
    for f in &m.imported_files {
        let _ = writeln!(o, "- imported `{}` ({}): `{}`, sha256 `{}`", f.representation, f.field, f.path, f.sha256);
    }
    let _ = writeln!(
        o,
        "- cache: `{}`; every number above is stored under its cell key there (`objects/<2>/<key>/metrics.json`).",
        m.cache_dir
    );
    let _ = writeln!(o, "\nFiles: `results.csv` / `results.parquet` (one row per metric and seed), `summary.csv`, `details.json` (per-cell details behind the figures), `train_logs.json`, `manifest.json` (with the full suite text).");
    let _ = writeln!(
        o,
        "\n<details><summary>Suite file{}</summary>\n\n```yaml\n{}\n```\n\n</details>",
        if m.merged_from.is_empty() { "" } else { " of the first merged run" },
        m.spec_text.trim_end()
    );
}
