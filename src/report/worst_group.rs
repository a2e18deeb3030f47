//! Worst-group accuracy (`dataset.groups`): each classification cell's top-1
//! in every group of test images (a manifest column's value, or class ×
//! value), and the smallest of them — how the representation fares on the
//! hospital, scanner or background it serves worst.
//!
//! Computed when a run is written, from what is already stored: the test
//! split's groups (`SplitCounts::groups`, from the image store's metadata)
//! and each cell's per-image correctness (`test_correct`). The cell gains a
//! `group_top1` detail and a `worst_group_top1` result row, so the metric has
//! its seeds' statistics, a summary-table column and a place in results.csv
//! like any other; nothing is re-fitted or re-evaluated for it.
use super::index::SeriesKey;
use super::manifest::{EvaluationRecord, SplitCounts};
use super::stats::params_groups;
use super::ReportData;
use crate::runner::{Artifact, ResultRow};
use serde::{Deserialize, Serialize};
use std::fmt::Write;

/// The metric each cell gains.
pub const METRIC: &str = "worst_group_top1";
/// The detail that holds the per-group accuracies.
const DETAIL: &str = "group_top1";
/// Below this many test images, a group's accuracy is marked coarse in the report.
const SMALL_GROUP: usize = 30;

/// One cell's accuracy per group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupTop1 {
    /// What defines the groups (`dataset.groups`).
    pub by: Vec<String>,
    pub names: Vec<String>,
    pub counts: Vec<usize>,
    /// Top-1 per group (NaN for a group without test images — none arise from a split).
    pub top1: Vec<f64>,
    /// The metric whose predictions `test_correct` holds.
    pub of: String,
}

impl GroupTop1 {
    /// The lowest accuracy and its group's index.
    pub fn worst(&self) -> Option<(usize, f64)> {
        self.top1.iter().copied().enumerate().filter(|(_, v)| v.is_finite()).min_by(|a, b| a.1.total_cmp(&b.1))
    }
}

/// Top-1 per group of one cell, when it stored per-image correctness for the
/// test split the groups describe.
pub fn of_cell(cell: &Artifact, counts: &[SplitCounts], headline: &str) -> Option<GroupTop1> {
    let groups = counts.iter().find(|c| c.has_point(cell.seed, &cell.params))?.groups.as_ref()?;
    let right = super::significance::correct_of(cell)?;
    let codes = groups.codes()?;
    if codes.len() != right.len() {
        return None;
    }
    let mut hits = vec![(0usize, 0usize); groups.names.len()];
    for (&g, &ok) in codes.iter().zip(&right) {
        hits[g].0 += ok as usize;
        hits[g].1 += 1;
    }
    let of = cell.details.get("test_correct_metric").and_then(|m| m.as_str()).unwrap_or(headline).to_string();
    Some(GroupTop1 {
        by: groups.by.clone(),
        names: groups.names.clone(),
        counts: hits.iter().map(|h| h.1).collect(),
        top1: hits.iter().map(|&(r, t)| if t > 0 { r as f64 / t as f64 } else { f64::NAN }).collect(),
        of,
    })
}

/// Adds each eligible cell's `group_top1` detail and `worst_group_top1` row
/// (a copy of the cell's headline row with the metric and value replaced).
pub fn derive(
    rows: &mut Vec<ResultRow>,
    artifacts: &mut [Artifact],
    counts: &[SplitCounts],
    evaluations: &[EvaluationRecord],
) {
    if counts.iter().all(|c| c.groups.is_none()) {
        return;
    }
    for cell in artifacts.iter_mut().filter(|c| c.representation != "*") {
        let ev = evaluations.iter().find(|e| e.name == cell.evaluation);
        let Some(g) = of_cell(cell, counts, ev.map_or("", |e| e.headline.as_str())) else { continue };
        let Some((_, worst)) = g.worst() else { continue };
        let same = |r: &ResultRow| {
            r.cell_key == cell.cell_key
                && r.representation == cell.representation
                && r.seed == cell.seed
                && r.params == cell.params
        };
        if rows.iter().any(|r| same(r) && r.metric == METRIC) {
            continue;
        }
        let Some(template) = rows.iter().find(|r| same(r)).cloned() else { continue };
        rows.push(ResultRow { metric: METRIC.into(), value: worst, ..template });
        if let (Ok(v), Some(d)) = (serde_json::to_value(&g), cell.details.as_object_mut()) {
            d.insert(DETAIL.into(), v);
        }
    }
}

/// Why groups were asked for and not computed, for the report's warnings.
pub fn errors(data: &ReportData) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for c in &data.manifest.split_counts {
        if let Some(e) = &c.groups_error {
            let line = format!("{} ({}): {e}", c.dataset, c.points.join("; "));
            if !out.contains(&line) {
                out.push(line);
            }
        }
    }
    out
}

fn pct(v: f64) -> String {
    if v.is_finite() {
        format!("{:.1}", v * 100.0)
    } else {
        "—".into()
    }
}

/// One representation's row of a panel.
struct RepGroups {
    representation: String,
    /// Top-1 per group, mean over seeds (groups of the panel's first cell).
    per_group: Vec<f64>,
    /// Seeds with groups.
    seeds: usize,
    /// Which group was lowest, with its number of seeds (most first).
    lowest_in: Vec<(String, usize)>,
}

/// The groups of one evaluation at one matrix point (`params`).
struct Panel {
    params: String,
    first: GroupTop1,
    /// Every cell has the first cell's groups (a per-seed test subset can lose a group).
    same_groups: bool,
    rows: Vec<RepGroups>,
}

fn panels(data: &ReportData, ev: &EvaluationRecord) -> Vec<Panel> {
    let index = data.index();
    let cells = index.artifacts(&ev.name);
    let stored = |c: &Artifact| serde_json::from_value::<GroupTop1>(c.details.get(DETAIL)?.clone()).ok();
    if !cells.iter().any(|c| c.details.get(DETAIL).is_some()) {
        return Vec::new();
    }
    let mut out = Vec::new();
    for params in params_groups(index.summaries(&ev.name).iter().copied()) {
        let of = |rep: &str| -> Vec<(u64, GroupTop1)> {
            cells
                .iter()
                .filter(|c| c.representation == rep && c.params == params)
                .filter_map(|c| Some((c.seed, stored(c)?)))
                .collect()
        };
        let cells_of: Vec<(&String, Vec<(u64, GroupTop1)>)> =
            data.manifest.representations.iter().map(|r| (r, of(r))).filter(|(_, v)| !v.is_empty()).collect();
        let Some(first) = cells_of.first().map(|r| r.1[0].1.clone()) else { continue };
        let same_groups = cells_of.iter().all(|(_, v)| v.iter().all(|(_, g)| g.names == first.names));
        let rows = cells_of
            .iter()
            .map(|(rep, v)| {
                let per_group = (0..first.names.len())
                    .map(|k| {
                        let vals: Vec<f64> = v.iter().filter_map(|(_, g)| g.top1.get(k).copied()).collect();
                        if vals.is_empty() {
                            f64::NAN
                        } else {
                            vals.iter().sum::<f64>() / vals.len() as f64
                        }
                    })
                    .collect();
                // Which group was lowest, counted over seeds (the first on ties).
                let mut lowest_in: Vec<(String, usize)> = Vec::new();
                for name in v.iter().filter_map(|(_, g)| g.worst().map(|(k, _)| g.names[k].clone())) {
                    match lowest_in.iter_mut().find(|w| w.0 == name) {
                        Some(w) => w.1 += 1,
                        None => lowest_in.push((name, 1)),
                    }
                }
                lowest_in.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
                RepGroups { representation: rep.to_string(), per_group, seeds: v.len(), lowest_in }
            })
            .collect();
        out.push(Panel { params: params.to_string(), first, same_groups, rows });
    }
    out
}

/// The groups' keys as written (`site` × `scanner`).
fn by_text(g: &GroupTop1) -> String {
    g.by.iter().map(|b| format!("`{b}`")).collect::<Vec<_>>().join(" × ")
}

/// The section of one evaluation: per-group top-1 (mean over seeds), the
/// worst group with its interval, and each representation's worst-group
/// accuracy against the reference (its comparison in `families`).
pub fn section(o: &mut String, data: &ReportData, ev: &EvaluationRecord, families: &[super::comparisons::Family]) {
    let index = data.index();
    for p in panels(data, ev) {
        let first = &p.first;
        let family = families.iter().find(|f| f.evaluation == ev.name && f.metric == METRIC && f.params == p.params);
        let reference = family.and_then(|f| f.reference()).map(|r| {
            let why = if matches!(family.map(|f| &f.design), Some(super::comparisons::Design::Baseline(_))) {
                "the baseline"
            } else {
                "the best mean worst-group top-1"
            };
            (r.to_string(), why)
        });
        let groups = first.names.len();
        if !p.same_groups {
            let _ = writeln!(o, "> **Groups differ between seeds** ({}): a test subset drawn per seed left some group out of some seeds; worst-group accuracy is shown per representation only.\n", ev.name);
        }
        let what = if p.params.is_empty() { String::new() } else { format!(" [{}]", p.params) };
        let _ = writeln!(
            o,
            "Top-1 per group (%){what}, groups by {} ({} groups; predictions of `{}`), mean over seeds; **worst group**: the lowest group's top-1 in each seed, mean ± half-width of the 95 % t-interval over seeds, and which group it was (seeds counted; the first on ties){}:\n",
            by_text(first),
            groups,
            first.of,
            match &reference {
                Some((r, why)) => format!("; Δ: minus {r}'s ({why}) with its 95 % CI and verdict, as the evaluation's table compares worst_group_top1 (paired over seeds, Holm over the family)"),
                None => String::new(),
            }
        );
        let wide = groups <= 12 && p.same_groups;
        let head: Vec<String> = if wide {
            first.names.iter().zip(&first.counts).map(|(n, c)| format!("{n} (n={c})")).collect()
        } else {
            vec![]
        };
        let _ = writeln!(
            o,
            "| representation | {}worst group | lowest in | Δ worst group |",
            head.iter().map(|h| format!("{h} | ")).collect::<String>()
        );
        let _ = writeln!(o, "|---|{}---|---|---|", "---|".repeat(head.len()));
        for r in &p.rows {
            let cols: String =
                if wide { r.per_group.iter().map(|&m| format!("{} | ", pct(m))).collect() } else { String::new() };
            let key = SeriesKey {
                evaluation: &ev.name,
                params: &p.params,
                metric: METRIC,
                representation: &r.representation,
            };
            let interval = match index.summary(&key) {
                Some(s) if s.n >= 2 => format!("{} ± {:.1}", pct(s.mean), (s.ci95_high - s.ci95_low) / 2.0 * 100.0),
                Some(s) => format!("{} (one seed: no interval)", pct(s.mean)),
                None => "—".into(),
            };
            let names: Vec<String> = match r.lowest_in.as_slice() {
                [(n, _)] => vec![n.clone()],
                many => many.iter().map(|(n, k)| format!("{n} ({k} of {})", r.seeds)).collect(),
            };
            let delta = match (family, &reference) {
                (_, Some((refr, _))) if *refr == r.representation => "reference".to_string(),
                (Some(f), Some(_)) => f
                    .row_of(&r.representation)
                    .map(|c| super::markdown::clause(c, f, true))
                    .unwrap_or_else(|| "—".into()),
                _ => "—".into(),
            };
            let _ = writeln!(o, "| {} | {cols}{interval} | {} | {delta} |", r.representation, names.join("; "));
        }
        o.push('\n');
        if let Some((k, &n)) = first.counts.iter().enumerate().min_by_key(|(_, &n)| n).filter(|(_, &n)| n < SMALL_GROUP)
        {
            let _ = writeln!(
                o,
                "> **Small group**: {} has {n} test images, so one image moves its top-1 by {:.1} points; its accuracy, and a worst-group accuracy it sets, is coarse.\n",
                first.names[k],
                100.0 / n as f64
            );
        }
    }
}

/// The comparisons of every ranked evaluation's worst-group top-1, as its
/// headline is compared (the suite's baseline, else all pairs; a paired t over
/// seeds, Holm over the family; with one seed no test: the stored per-image
/// bits score the headline, not the worst group).
pub fn families(data: &ReportData) -> Vec<super::comparisons::Family> {
    let index = data.index();
    let headlines: Vec<super::significance::RankedHeadline> = data
        .ranked_headlines()
        .into_iter()
        .filter(|h| index.metric(&h.evaluation, METRIC).next().is_some())
        .map(|h| super::significance::RankedHeadline {
            metric: METRIC.into(),
            higher_is_better: true,
            margin: None,
            ..h
        })
        .collect();
    if headlines.is_empty() {
        return Vec::new();
    }
    super::comparisons::compare(&data.rows, &data.summary, &headlines, &data.artifacts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::groups::TestGroups;

    fn counts(codes: &[u16], names: &[&str]) -> SplitCounts {
        use base64::Engine;
        let bytes: Vec<u8> = codes.iter().flat_map(|c| c.to_le_bytes()).collect();
        let mut n = vec![0; names.len()];
        codes.iter().for_each(|&c| n[c as usize] += 1);
        SplitCounts {
            points: vec!["seed=3 lr=0.1".into()],
            dataset: "d".into(),
            classes: 2,
            class_names: vec![],
            train: vec![],
            val: vec![],
            test: vec![],
            groups: Some(TestGroups {
                by: vec!["site".into()],
                names: names.iter().map(|s| s.to_string()).collect(),
                counts: n,
                codes: base64::engine::general_purpose::STANDARD.encode(bytes),
            }),
            groups_error: None,
        }
    }

    fn cell(correct: &[bool], seed: u64, params: &str) -> Artifact {
        let mut bytes = vec![0u8; correct.len().div_ceil(8)];
        for (i, &c) in correct.iter().enumerate() {
            bytes[i / 8] |= (c as u8) << (i % 8);
        }
        use base64::Engine;
        Artifact {
            representation: "raw".into(),
            evaluation: "linear".into(),
            eval_kind: "linear_probe".into(),
            seed,
            params: params.into(),
            cell_key: "k".into(),
            details: serde_json::json!({
                "test_images": correct.len(),
                "test_correct": base64::engine::general_purpose::STANDARD.encode(bytes),
            }),
        }
    }

    /// Hand case: groups A B A B C A B B C; right: y y n n n y n n y.
    /// A: 2 of 3, B: 1 of 4, C: 1 of 2 → worst B at 0.25.
    #[test]
    fn per_group_accuracy_and_the_worst_group_come_from_the_stored_bits() {
        let c = counts(&[0, 1, 0, 1, 2, 0, 1, 1, 2], &["site=A", "site=B", "site=C"]);
        let right = [true, true, false, false, false, true, false, false, true];
        let g = of_cell(&cell(&right, 3, "lr=0.1"), std::slice::from_ref(&c), "top1").unwrap();
        assert_eq!(g.counts, [3, 4, 2]);
        assert!((g.top1[0] - 2.0 / 3.0).abs() < 1e-12 && g.top1[1] == 0.25 && g.top1[2] == 0.5);
        assert_eq!(g.worst(), Some((1, 0.25)));
        assert_eq!(g.of, "top1");
        // Another seed or matrix point has other test images: not paired with these groups.
        assert!(of_cell(&cell(&right, 4, "lr=0.1"), std::slice::from_ref(&c), "top1").is_none());
        assert!(of_cell(&cell(&right[..8], 3, "lr=0.1"), std::slice::from_ref(&c), "top1").is_none());
    }

    #[test]
    fn derive_adds_one_row_and_one_detail_per_cell_once() {
        let c = counts(&[0, 1, 0, 1], &["site=A", "site=B"]);
        let mut cells = vec![cell(&[true, false, true, true], 3, "lr=0.1")];
        let row = ResultRow {
            suite: "s".into(),
            representation: "raw".into(),
            kind: "raw".into(),
            evaluation: "linear".into(),
            eval_kind: "linear_probe".into(),
            metric: "top1".into(),
            value: 0.75,
            seed: 3,
            params: "lr=0.1".into(),
            cell_key: "k".into(),
            cached: false,
            fit_seconds: 0.0,
            embed_seconds: 0.0,
            eval_seconds: 0.0,
        };
        let mut rows = vec![row];
        let evs = [EvaluationRecord::of("linear", &crate::eval::EvaluationSpec::LinearProbe(Default::default()))];
        derive(&mut rows, &mut cells, std::slice::from_ref(&c), &evs);
        derive(&mut rows, &mut cells, std::slice::from_ref(&c), &evs);
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[1].metric.as_str(), rows[1].value), (METRIC, 0.5));
        assert_eq!(cells[0].details[DETAIL]["top1"], serde_json::json!([1.0, 0.5]));
    }
}
