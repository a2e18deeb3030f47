//! Beyond top-1 in each classification section: accuracy per class (mean over
//! seeds, the worst class marked), where two representations differ class by
//! class (McNemar's exact test on each class's test images, Holm over the
//! classes), and the train–test gap with its interval over seeds.
use super::hypothesis::{decode_bits, holm, mcnemar_exact};
use super::index::{CellKey, SeriesKey};
use super::manifest::EvaluationRecord;
use super::stats::{ci95_half_width, mean_std, params_groups};
use super::ReportData;
use crate::eval::class_metrics::{labels_from_b64, per_class_accuracy};
use crate::eval::figure_data::{get, ConfusionData};
use crate::runner::Artifact;
use std::fmt::Write;

/// Per-class accuracy of a representation, mean over the seeds' confusion matrices.
fn mean_per_class(cells: &[&Artifact]) -> Option<Vec<Option<f64>>> {
    let per_seed: Vec<Vec<Option<f64>>> = cells
        .iter()
        .filter_map(|c| get::<ConfusionData>(&c.details).ok())
        .map(|d| per_class_accuracy(&d.confusion))
        .collect();
    let first = per_seed.first()?;
    Some(
        (0..first.len())
            .map(|k| {
                let v: Vec<f64> = per_seed.iter().filter_map(|s| s.get(k).copied().flatten()).collect();
                (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
            })
            .collect(),
    )
}

/// (class, right by a only, right by b only, a's accuracy − b's) per class on one seed's test images.
fn discordant(a: &Artifact, b: &Artifact, classes: usize) -> Option<Vec<(u64, u64, f64)>> {
    let n = a.details.get("test_images")?.as_u64()? as usize;
    let labels = labels_from_b64(a.details.get("test_labels")?.as_str()?, classes)?;
    let labels_b = labels_from_b64(b.details.get("test_labels")?.as_str()?, classes)?;
    if labels != labels_b || labels.len() != n {
        return None;
    }
    let ra = decode_bits(a.details.get("test_correct")?.as_str()?, n)?;
    let rb = decode_bits(b.details.get("test_correct")?.as_str()?, n)?;
    let mut out = vec![(0u64, 0u64, 0i64, 0i64); classes];
    for i in 0..n {
        let k = labels[i];
        let slot = out.get_mut(k)?;
        match (ra[i], rb[i]) {
            (true, false) => slot.0 += 1,
            (false, true) => slot.1 += 1,
            _ => {}
        }
        slot.2 += 1;
        slot.3 += ra[i] as i64 - rb[i] as i64;
    }
    Some(out.into_iter().map(|(x, y, n, d)| (x, y, if n > 0 { d as f64 / n as f64 } else { f64::NAN })).collect())
}

/// The per-class table and the per-class comparison with the reference (the
/// evaluation's baseline, else the representation with the best mean headline).
pub fn per_class_section(o: &mut String, data: &ReportData, ev: &EvaluationRecord) {
    let index = data.index();
    let cells = index.artifacts(&ev.name);
    if !cells.iter().any(|c| c.details.get("test_labels").is_some() && c.details.get("confusion").is_some()) {
        return;
    }
    let reps = &data.manifest.representations;
    for params in params_groups(index.summaries(&ev.name).iter().copied()) {
        let of = |rep: &str| -> Vec<&Artifact> {
            cells.iter().copied().filter(|c| c.representation == rep && c.params == params).collect()
        };
        let rows: Vec<(&String, Vec<Option<f64>>)> =
            reps.iter().filter_map(|r| mean_per_class(&of(r)).map(|v| (r, v))).collect();
        let Some(classes) = rows.first().map(|r| r.1.len()) else { continue };
        let what = if params.is_empty() { String::new() } else { format!(" [{params}]") };
        let names: Vec<String> = (0..classes as i64).map(|k| data.class_name_in(params, k)).collect();
        let _ =
            writeln!(o, "Per-class top-1 (%){what}, mean over seeds; **bold**: the representation's worst class:\n");
        let _ = writeln!(o, "| representation | {} |", names.join(" | "));
        let _ = writeln!(o, "|---|{}", "---|".repeat(classes));
        for (rep, acc) in &rows {
            let worst = acc.iter().flatten().copied().fold(f64::INFINITY, f64::min);
            let cells: Vec<String> = acc
                .iter()
                .map(|a| match a {
                    Some(v) if *v == worst => format!("**{:.1}**", v * 100.0),
                    Some(v) => format!("{:.1}", v * 100.0),
                    None => "—".into(),
                })
                .collect();
            let _ = writeln!(o, "| {rep} | {} |", cells.join(" | "));
        }
        o.push('\n');
        per_class_tests(o, data, ev, params, &names);
    }
}

fn fmt_p(p: f64) -> String {
    if p < 0.001 {
        "< 0.001".into()
    } else {
        format!("= {p:.3}")
    }
}

/// The reference of the per-class comparisons and why it was chosen.
pub(super) fn reference<'a>(
    data: &'a ReportData,
    ev: &'a EvaluationRecord,
    params: &str,
) -> Option<(String, &'static str)> {
    if let Some(b) = &ev.baseline {
        return Some((b.clone(), "the baseline"));
    }
    let index = data.index();
    index
        .metric(&ev.name, &ev.headline)
        .filter(|s| s.params == params)
        .max_by(|a, b| if ev.higher_is_better { a.mean.total_cmp(&b.mean) } else { b.mean.total_cmp(&a.mean) })
        .map(|s| (s.representation.clone(), "the best mean headline"))
}

fn per_class_tests(o: &mut String, data: &ReportData, ev: &EvaluationRecord, params: &str, names: &[String]) {
    let Some((refr, why)) = reference(data, ev, params) else { return };
    let index = data.index();
    let seed = index
        .artifacts(&ev.name)
        .iter()
        .filter(|c| c.representation == refr && c.params == params)
        .map(|c| c.seed)
        .min();
    let Some(seed) = seed else { return };
    let cell = |rep: &str| index.artifact(&CellKey { evaluation: &ev.name, params, representation: rep, seed });
    let Some(ref_cell) = cell(&refr) else { return };
    let level = data.test_level();
    let mut lines = Vec::new();
    for rep in data.manifest.representations.iter().filter(|r| **r != refr) {
        let Some(c) = cell(rep) else { continue };
        let Some(d) = discordant(c, ref_cell, names.len()) else { continue };
        let p: Vec<Option<f64>> = d.iter().map(|&(x, y, _)| mcnemar_exact(x, y)).collect();
        let adj = holm(&p);
        let above: Vec<String> = d
            .iter()
            .zip(&adj)
            .enumerate()
            .filter(|(_, (dd, h))| h.is_some_and(|h| h < level) && dd.2 > 0.0)
            .map(|(k, (dd, h))| {
                format!("{} ({:+.1} points, Holm p {})", names[k], dd.2 * 100.0, fmt_p(h.unwrap_or(1.0)))
            })
            .collect();
        let below: Vec<String> = d
            .iter()
            .zip(&adj)
            .enumerate()
            .filter(|(_, (dd, h))| h.is_some_and(|h| h < level) && dd.2 < 0.0)
            .map(|(k, (dd, h))| {
                format!("{} ({:+.1} points, Holm p {})", names[k], dd.2 * 100.0, fmt_p(h.unwrap_or(1.0)))
            })
            .collect();
        let fmt = |v: &[String]| if v.is_empty() { "none".to_string() } else { v.join("; ") };
        lines.push(format!("| {rep} | {} | {} |", fmt(&above), fmt(&below)));
    }
    if lines.is_empty() {
        return;
    }
    let _ = writeln!(o, "Where each representation differs from **{refr}** ({why}) class by class — McNemar's exact test on each class's test images of seed {seed} (a test over test images for these training runs), Holm over the {} classes, level {level:.3}:\n", names.len());
    let _ = writeln!(o, "| representation | classes resolved above {refr} | classes resolved below {refr} |");
    let _ = writeln!(o, "|---|---|---|");
    for l in lines {
        let _ = writeln!(o, "{l}");
    }
    o.push('\n');
}

/// The train–test gap: train and test top-1 per representation and their
/// difference per seed, mean with a 95 % t-interval over seeds.
pub fn gap_section(o: &mut String, data: &ReportData, ev: &EvaluationRecord) {
    let index = data.index();
    let test_metric = if index.metric(&ev.name, "top1").next().is_some() { "top1" } else { return };
    if index.metric(&ev.name, "train_top1").next().is_none() {
        return;
    }
    let _ = writeln!(o, "Train–test gap (top-1 on the training split − on the test split, per seed; mean and 95 % t-interval over seeds, in points):\n");
    let _ = writeln!(o, "| representation | params | train top-1 (%) | test top-1 (%) | gap (points) |");
    let _ = writeln!(o, "|---|---|---|---|---|");
    for params in params_groups(index.summaries(&ev.name).iter().copied()) {
        for rep in &data.manifest.representations {
            let key = SeriesKey { evaluation: &ev.name, params, metric: "train_top1", representation: rep };
            let train = index.values(&key);
            let test = index.values(&SeriesKey { metric: test_metric, ..key });
            let gaps: Vec<f64> =
                train.iter().filter_map(|(s, tr)| test.iter().find(|(t, _)| t == s).map(|(_, te)| tr - te)).collect();
            if gaps.is_empty() {
                continue;
            }
            let tr: Vec<f64> = train.iter().map(|v| v.1).collect();
            let te: Vec<f64> = test.iter().map(|v| v.1).collect();
            let (m, sd) = mean_std(&gaps);
            let h = ci95_half_width(sd, gaps.len());
            let gap = if h.is_finite() {
                format!("{:+.1} [{:+.1}, {:+.1}]", m * 100.0, (m - h) * 100.0, (m + h) * 100.0)
            } else {
                format!("{:+.1} (1 seed: no interval)", m * 100.0)
            };
            let p = if params.is_empty() { "—" } else { params };
            let _ = writeln!(
                o,
                "| {rep} | {p} | {:.1} | {:.1} | {gap} |",
                mean_std(&tr).0 * 100.0,
                mean_std(&te).0 * 100.0
            );
        }
    }
    o.push('\n');
}
