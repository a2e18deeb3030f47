//! The robustness section's tables: ImageNet-C's corruption error (CE) of
//! each corruption normalised by the evaluation's baseline representation
//! (AlexNet's place in ImageNet-C; here the suite's choice, e.g. raw pixels),
//! its mean over corruptions (mCE) and the relative mCE (the drop from clean
//! accuracy, normalised the same way), each per seed then summarised over
//! seeds with a t-interval; and the mean accuracy per corruption.
use super::index::SeriesKey;
use super::manifest::EvaluationRecord;
use super::stats::{ci95_half_width, mean_std, params_groups};
use super::ReportData;
use std::fmt::Write;

/// A baseline drop (clean − corrupted top-1) below which relative CE is flagged.
const SMALL_DROP: f64 = 0.01;

/// Whether a metric of a robustness evaluation belongs in these tables and the
/// severity figure rather than in the section's main table.
pub fn is_detail_metric(metric: &str) -> bool {
    metric.contains('@') || metric.starts_with("top1:")
}

/// The corruptions a run's robustness evaluation measured, in its order.
fn corruptions(data: &ReportData, eval: &str, params: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in data.index().summaries(eval).iter().filter(|s| s.params == params) {
        if let Some(c) = s.metric.strip_prefix("top1:") {
            if !out.iter().any(|o| o == c) {
                out.push(c.to_string());
            }
        }
    }
    out
}

/// mean [low, high] over seeds, or the mean alone with one seed.
fn fmt_over_seeds(v: &[f64], scale: f64) -> String {
    if v.is_empty() {
        return "—".into();
    }
    let (m, sd) = mean_std(v);
    let h = ci95_half_width(sd, v.len());
    if h.is_finite() {
        format!("{:.1} [{:.1}, {:.1}]", m * scale, (m - h) * scale, (m + h) * scale)
    } else {
        format!("{:.1}", m * scale)
    }
}

/// One seed's (CE per corruption, relative CE per corruption); None where the
/// baseline's error (or drop) is zero there.
type SeedRatios = (Vec<Option<f64>>, Vec<Option<f64>>);

/// Per seed shared with the baseline: its `SeedRatios`.
fn ce_per_seed(
    data: &ReportData,
    ev: &EvaluationRecord,
    params: &str,
    rep: &str,
    base: &str,
    list: &[String],
) -> Vec<SeedRatios> {
    let index = data.index();
    let at = |metric: &str, r: &str, seed: u64| -> Option<f64> {
        let key = SeriesKey { evaluation: &ev.name, params, metric, representation: r };
        index.values(&key).iter().find(|(s, _)| *s == seed).map(|(_, v)| *v)
    };
    let clean_key = SeriesKey { evaluation: &ev.name, params, metric: "top1_clean", representation: rep };
    let mut out = Vec::new();
    for &(seed, clean) in index.values(&clean_key) {
        let Some(base_clean) = at("top1_clean", base, seed) else { continue };
        let mut ce = Vec::new();
        let mut rel = Vec::new();
        for c in list {
            let metric = format!("top1:{c}");
            let (a, b) = (at(&metric, rep, seed), at(&metric, base, seed));
            let (Some(a), Some(b)) = (a, b) else {
                ce.push(None);
                rel.push(None);
                continue;
            };
            ce.push((1.0 - b > 0.0).then(|| (1.0 - a) / (1.0 - b)));
            rel.push((base_clean - b > 0.0).then(|| (clean - a) / (base_clean - b)));
        }
        out.push((ce, rel));
    }
    out
}

/// The mean of the defined entries, None when any is undefined (a mean over
/// fewer corruptions would not be the mCE).
fn mean_all(v: &[Option<f64>]) -> Option<f64> {
    let got: Vec<f64> = v.iter().copied().collect::<Option<Vec<f64>>>()?;
    (!got.is_empty()).then(|| got.iter().sum::<f64>() / got.len() as f64)
}

/// The summary table (clean, mCA, mCE, relative mCE) and the table of mean
/// accuracy per corruption.
pub fn tables(o: &mut String, data: &ReportData, ev: &EvaluationRecord) {
    let index = data.index();
    let reps = &data.manifest.representations;
    for params in params_groups(index.summaries(&ev.name).iter().copied()) {
        let list = corruptions(data, &ev.name, params);
        if list.is_empty() {
            continue;
        }
        if !params.is_empty() {
            let _ = writeln!(o, "**{params}**\n");
        }
        let seeds_of = |metric: &str, rep: &str| -> Vec<f64> {
            let key = SeriesKey { evaluation: &ev.name, params, metric, representation: rep };
            index.values(&key).iter().map(|(_, v)| *v).collect()
        };
        let base = ev.baseline.as_deref().filter(|b| reps.iter().any(|r| r == b));
        let _ = writeln!(
            o,
            "| representation | clean top-1 (%) | mean corrupted top-1, mCA (%) | mCE (%) | relative mCE (%) |"
        );
        let _ = writeln!(o, "|---|---|---|---|---|");
        for rep in reps {
            let clean = seeds_of("top1_clean", rep);
            if clean.is_empty() {
                continue;
            }
            let (mce, rel) = match base {
                Some(b) => {
                    let per_seed = ce_per_seed(data, ev, params, rep, b, &list);
                    let m: Option<Vec<f64>> = per_seed.iter().map(|(ce, _)| mean_all(ce)).collect();
                    let r: Option<Vec<f64>> = per_seed.iter().map(|(_, rel)| mean_all(rel)).collect();
                    // Where the baseline makes no error, or loses nothing, on a
                    // corruption, its ratio has no denominator: name the corruptions.
                    let undefined = |pick: fn(&SeedRatios) -> &Vec<Option<f64>>, what: &str| {
                        let mut names: Vec<&str> = Vec::new();
                        for ps in &per_seed {
                            for (c, v) in list.iter().zip(pick(ps)) {
                                if v.is_none() && !names.contains(&c.as_str()) {
                                    names.push(c);
                                }
                            }
                        }
                        format!("n/a: {b} {what} on {} in a seed", names.join(", "))
                    };
                    let show = |v: Option<Vec<f64>>, why: String| match v {
                        Some(v) if !v.is_empty() => fmt_over_seeds(&v, 100.0),
                        _ => why,
                    };
                    (show(m, undefined(|p| &p.0, "makes no error")), show(r, undefined(|p| &p.1, "loses no accuracy")))
                }
                None => ("—".to_string(), "—".to_string()),
            };
            let _ = writeln!(
                o,
                "| {rep} | {} | {} | {mce} | {rel} |",
                fmt_over_seeds(&clean, 100.0),
                fmt_over_seeds(&seeds_of("mca", rep), 100.0)
            );
        }
        if let Some(b) = base {
            // Relative CE divides by the baseline's drop from clean accuracy: on a
            // corruption the baseline barely notices, that ratio is noise.
            let small: Vec<String> = list
                .iter()
                .filter_map(|c| {
                    let drops: Vec<f64> = index
                        .values(&SeriesKey { evaluation: &ev.name, params, metric: "top1_clean", representation: b })
                        .iter()
                        .filter_map(|(seed, clean)| {
                            let key = SeriesKey {
                                evaluation: &ev.name,
                                params,
                                metric: &format!("top1:{c}"),
                                representation: b,
                            };
                            index.values(&key).iter().find(|(s, _)| s == seed).map(|(_, a)| clean - a)
                        })
                        .collect();
                    let mean = mean_std(&drops).0;
                    (!drops.is_empty() && mean < SMALL_DROP).then(|| format!("{c} ({:.1} points)", mean * 100.0))
                })
                .collect();
            if !small.is_empty() {
                let _ = writeln!(o, "\n**Warning:** {b} loses less than {:.0} point of accuracy on {}: relative CE divides by that drop, so relative mCE is dominated by these corruptions and its interval is wide — read mCE instead.", SMALL_DROP * 100.0, small.join(", "));
            }
        }
        let n = seeds_of("top1_clean", &reps[0]).len();
        let how = match base {
            Some(b) => format!("CE of a corruption = the representation's error summed over severities ÷ the baseline **{b}**'s (ImageNet-C's normalisation, with {b} in AlexNet's place); mCE = the mean CE over the {} corruptions; relative mCE does the same with each error's rise above its own clean error. Below 100 % is more robust than {b}. Computed per seed (the same corrupted images for every representation), then mean and 95 % t-interval over the seeds.", list.len()),
            None => "No `baseline:` is declared for this evaluation, so no corruption error is normalised (ImageNet-C divides by a reference representation's error; declare one, e.g. `baseline: raw`).".to_string(),
        };
        let _ = writeln!(o, "\n{how} Brackets: 95 % t-interval over {n} seed(s).\n");
        let _ = writeln!(o, "Mean top-1 (%) per corruption, over severities and seeds:\n");
        let _ = writeln!(o, "| representation | {} |", list.join(" | "));
        let _ = writeln!(o, "|---|{}", "---|".repeat(list.len()));
        for rep in reps {
            let cells: Vec<String> = list
                .iter()
                .map(|c| {
                    let v = seeds_of(&format!("top1:{c}"), rep);
                    if v.is_empty() {
                        "—".into()
                    } else {
                        format!("{:.1}", mean_std(&v).0 * 100.0)
                    }
                })
                .collect();
            if cells.iter().all(|c| c == "—") {
                continue;
            }
            let _ = writeln!(o, "| {rep} | {} |", cells.join(" | "));
        }
        o.push('\n');
    }
}
