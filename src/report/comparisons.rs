//! Which representations the data separate, with the family-wise error rate
//! held at 0.05. Two designs, chosen before the data are seen:
//!
//! - **baseline** (`baseline: <representation>` in the suite): every other
//!   representation against it, Holm over the k − 1 comparisons — the
//!   many-to-one design, valid because the control is fixed in advance;
//! - **all pairs** (no baseline): every pair, Holm over k(k − 1)/2, and a
//!   representation *leads* only when it is resolved above every other.
//!
//! Testing the rest against the leader picked on the same test numbers (what
//! repbench did before) lets the selection inflate the error: simulated under
//! equal means its family-wise false-positive rate is 0.06–0.08 (the
//! simulation test below reproduces it). Each comparison also gets, with a
//! `margin:`, TOST equivalence and non-inferiority (Holm within the family for
//! each), and the smallest difference its design detects at 80 % power. The
//! verdict is exactly one of better, worse, equivalent (±m), non-inferior (−m),
//! not resolved — or not tested, with the reason.
use super::equivalence::{detectable, noninferiority, tost};
use super::hypothesis::{difference, holm, Difference};
use super::index::{ResultsIndex, SeriesKey};
use super::significance::{one_seed, RankedHeadline};
use super::stats::SummaryRow;
use crate::runner::{Artifact, ResultRow};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Level of every Holm family of a report that is one look at its whole
/// seed plan (an interim look uses less: report::seed_plan).
pub const LEVEL: f64 = 0.05;

/// What a comparison concludes, in the direction of the metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Better,
    Worse,
    /// Within ±margin by TOST.
    Equivalent,
    /// Not worse by more than the margin (one-sided).
    NonInferior,
    NotResolved,
    /// No test could be made (the note says why).
    NotTested,
}

impl Verdict {
    /// The words of the verdict; `margin` as the report prints it.
    pub fn words(self, margin: &str) -> String {
        match self {
            Verdict::Better => "better".into(),
            Verdict::Worse => "worse".into(),
            Verdict::Equivalent => format!("equivalent (±{margin})"),
            Verdict::NonInferior => format!("non-inferior (−{margin})"),
            Verdict::NotResolved => "not resolved".into(),
            Verdict::NotTested => "not tested".into(),
        }
    }

    /// Better or worse at Holm p < 0.05.
    pub fn resolved(self) -> bool {
        matches!(self, Verdict::Better | Verdict::Worse)
    }
}

/// How a family of comparisons was designed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Design {
    /// Every other representation against this one.
    Baseline(String),
    AllPairs,
}

/// One comparison: `representation` − `against` on the family's metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    pub representation: String,
    pub against: String,
    /// mean(representation) − mean(against).
    pub diff: f64,
    pub ci: Option<(f64, f64)>,
    pub p_value: Option<f64>,
    /// Holm-adjusted over the family.
    pub p_holm: Option<f64>,
    /// TOST and non-inferiority p-values, each Holm-adjusted over the family
    /// (only with a margin).
    pub p_equivalent: Option<f64>,
    pub p_noninferior: Option<f64>,
    /// The smallest true difference this design detects with 80 % power
    /// (filled by `compare`; the null simulations do not need it).
    pub detectable: Option<f64>,
    pub test: String,
    pub note: Option<String>,
    /// A per-image test of one training run per representation: it does not
    /// cover training-to-training variation.
    pub one_run: bool,
    pub verdict: Verdict,
}

/// The comparisons of one ranked headline in one params group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Family {
    pub evaluation: String,
    pub params: String,
    pub metric: String,
    pub design: Design,
    pub margin: Option<f64>,
    /// (representation, mean), best mean first.
    pub order: Vec<(String, f64)>,
    pub comparisons: Vec<Comparison>,
    /// All pairs: the representation resolved above every other, if one is.
    pub leader: Option<String>,
    /// All pairs: the best mean and every representation not resolved below it.
    pub top: Vec<String>,
    /// Why the design is not the one the suite asked for, if it is not.
    pub note: Option<String>,
    /// The level of the family's tests (0.05, less at an interim look).
    pub level: f64,
}

impl Family {
    /// The comparison of `representation` with `against`, in either order as stored.
    pub fn between(&self, representation: &str, against: &str) -> Option<&Comparison> {
        self.comparisons.iter().find(|c| c.representation == representation && c.against == against)
    }

    /// What the report's table shows for a representation: its comparison
    /// with the baseline, or with the best mean (all pairs).
    pub fn row_of(&self, representation: &str) -> Option<&Comparison> {
        self.between(representation, self.reference()?)
    }

    /// The baseline, or the representation with the best mean.
    pub fn reference(&self) -> Option<&str> {
        match &self.design {
            Design::Baseline(b) => Some(b),
            Design::AllPairs => self.order.first().map(|(r, _)| r.as_str()),
        }
    }

    /// The family's size (comparisons with a test).
    pub fn tested(&self) -> usize {
        self.comparisons.iter().filter(|c| c.p_holm.is_some()).count()
    }
}

/// Fills Holm-adjusted p-values, equivalence, non-inferiority, power and the
/// verdict of a family's comparisons (each a `Difference` of representation −
/// against). `sign` is +1 when higher is better.
fn judge(
    pairs: Vec<(String, String, Difference, bool)>,
    sign: f64,
    margin: Option<f64>,
    level: f64,
) -> Vec<Comparison> {
    let p: Vec<Option<f64>> = pairs.iter().map(|(_, _, d, _)| d.p).collect();
    let with_se = |f: &dyn Fn(f64, f64, f64, f64) -> Option<f64>| -> Vec<Option<f64>> {
        pairs
            .iter()
            .map(|(_, _, d, _)| match (margin, d.se, d.df) {
                (Some(m), Some(se), Some(df)) => f(d.diff, se, df, m),
                _ => None,
            })
            .collect()
    };
    let p_eq = holm(&with_se(&|diff, se, df, m| tost(diff, se, df, m)));
    let p_ni = holm(&with_se(&|diff, se, df, m| noninferiority(sign * diff, se, df, m)));
    let p_holm = holm(&p);
    pairs
        .into_iter()
        .enumerate()
        .map(|(i, (representation, against, d, one_run))| {
            let below = |p: Option<f64>| p.is_some_and(|p| p < level);
            let verdict = if below(p_holm[i]) {
                if sign * d.diff > 0.0 {
                    Verdict::Better
                } else {
                    Verdict::Worse
                }
            } else if below(p_eq[i]) {
                Verdict::Equivalent
            } else if below(p_ni[i]) {
                Verdict::NonInferior
            } else if d.p.is_none() {
                Verdict::NotTested
            } else {
                Verdict::NotResolved
            };
            Comparison {
                representation,
                against,
                diff: d.diff,
                ci: d.ci,
                p_value: d.p,
                p_holm: p_holm[i],
                p_equivalent: p_eq[i],
                p_noninferior: p_ni[i],
                detectable: None,
                test: d.test,
                note: d.note,
                one_run,
                verdict,
            }
        })
        .collect()
}

/// The (representation, against) pairs a design compares, by index into
/// `order` (best mean first): against the baseline, or every pair with the
/// lower mean as `representation`.
fn design_pairs(design: &Design, order: &[&str]) -> Vec<(usize, usize)> {
    match design {
        Design::Baseline(b) => {
            let Some(bi) = order.iter().position(|r| r == b) else { return Vec::new() };
            (0..order.len()).filter(|&i| i != bi).map(|i| (i, bi)).collect()
        }
        Design::AllPairs => (0..order.len()).flat_map(|j| (j + 1..order.len()).map(move |i| (i, j))).collect(),
    }
}

/// What a report's comparisons depend on, hashed: every result's identity and
/// value (not its timings or cached flag), the stored cells' details, the
/// headlines' designs and levels, and this code's version. A re-run that
/// changed none of them reuses the stored families (`comparisons.json`).
fn inputs_hash(rows: &[ResultRow], headlines: &[RankedHeadline], artifacts: &[Artifact]) -> Option<String> {
    use sha2::{Digest, Sha256};
    let ids: Vec<(&str, &str, &str, &str, u64, f64)> = rows
        .iter()
        .map(|r| {
            (r.representation.as_str(), r.evaluation.as_str(), r.params.as_str(), r.metric.as_str(), r.seed, r.value)
        })
        .collect();
    let mut h = Sha256::new();
    h.update(format!("comparisons v{VERSION}\n{headlines:?}\n").as_bytes());
    h.update(serde_json::to_vec(&ids).ok()?);
    h.update(serde_json::to_vec(artifacts).ok()?);
    Some(hex::encode(h.finalize()))
}

/// Version of the comparisons' arithmetic, part of `comparisons.json`'s inputs hash.
const VERSION: u32 = 1;

/// `comparisons.json` of a run directory: the families with the hash of their inputs.
#[derive(Serialize, Deserialize)]
struct Stored {
    inputs: String,
    families: Vec<Family>,
}

/// The families of a report, read from `dir/comparisons.json` when their
/// inputs have not changed (a cached re-run: the paired bootstraps over test
/// images are most of a report's rebuild), else computed and stored there.
pub fn compare_in(
    dir: &std::path::Path,
    rows: &[ResultRow],
    summary: &[SummaryRow],
    headlines: &[RankedHeadline],
    artifacts: &[Artifact],
) -> crate::error::Result<Vec<Family>> {
    let path = dir.join("comparisons.json");
    let hash = inputs_hash(rows, headlines, artifacts);
    if let (Some(h), Ok(bytes)) = (&hash, std::fs::read(&path)) {
        // An unreadable or stale file is recomputed, never trusted.
        if let Ok(stored) = serde_json::from_slice::<Stored>(&bytes) {
            if &stored.inputs == h {
                return Ok(stored.families);
            }
        }
    }
    let families = compare(rows, summary, headlines, artifacts);
    if let Some(inputs) = hash {
        crate::files::write_json_compact(&path, &Stored { inputs, families: families.clone() })?;
    }
    Ok(families)
}

/// The families of every ranked headline and params group.
pub fn compare(
    rows: &[ResultRow],
    summary: &[SummaryRow],
    headlines: &[RankedHeadline],
    artifacts: &[Artifact],
) -> Vec<Family> {
    let index = ResultsIndex::new(rows, summary, artifacts);
    let mut out = Vec::new();
    for h in headlines {
        let sign = if h.higher_is_better { 1.0 } else { -1.0 };
        for (params, mut members) in index.groups(&h.evaluation, &h.metric) {
            members.sort_by(|a, b| (sign * b.mean).total_cmp(&(sign * a.mean)));
            let order: Vec<&str> = members.iter().map(|m| m.representation.as_str()).collect();
            let (design, note) = match &h.baseline {
                Some(b) if order.contains(&b.as_str()) => (Design::Baseline(b.clone()), None),
                Some(b) => (Design::AllPairs, Some(format!("the baseline {b} has no result here; all pairs compared"))),
                None => (Design::AllPairs, None),
            };
            let pairs = design_pairs(&design, &order);
            // Each comparison draws from its own seeded generator, so computing
            // them in parallel gives the same intervals.
            let diffs: Vec<(String, String, Difference, bool)> = pairs
                .par_iter()
                .map(|&(i, j)| {
                    let (ka, kb) = (SeriesKey::of_summary(members[i]), SeriesKey::of_summary(members[j]));
                    let (a, b) = (index.values(&ka), index.values(&kb));
                    let (d, one_run) = match one_seed(&index, (&ka, a), (&kb, b)) {
                        Some(d) => (d, true),
                        None => (difference(a, b), false),
                    };
                    (order[i].to_string(), order[j].to_string(), d, one_run)
                })
                .collect();
            let power: Vec<Option<f64>> = diffs
                .par_iter()
                .map(|(_, _, d, _)| match (d.p, d.se, d.df) {
                    (Some(_), Some(se), Some(df)) => detectable(se, df),
                    _ => None,
                })
                .collect();
            let mut comparisons = judge(diffs, sign, h.margin, h.level);
            for (c, p) in comparisons.iter_mut().zip(power) {
                c.detectable = p;
            }
            let mut family = Family {
                evaluation: h.evaluation.clone(),
                params: params.to_string(),
                metric: h.metric.clone(),
                design,
                margin: h.margin,
                order: members.iter().map(|m| (m.representation.clone(), m.mean)).collect(),
                comparisons,
                leader: None,
                top: Vec::new(),
                note,
                level: h.level,
            };
            if family.design == Design::AllPairs {
                if let Some(best) = order.first() {
                    let below = |r: &str| family.between(r, best).is_some_and(|c| c.verdict == Verdict::Worse);
                    family.top = order.iter().filter(|r| *r == best || !below(r)).map(|r| r.to_string()).collect();
                    if order.len() > 1 && family.top.len() == 1 {
                        family.leader = Some(best.to_string());
                    }
                }
            }
            out.push(family);
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use statrs::distribution::{ContinuousCDF, StudentsT};

    /// A standard normal draw (Box–Muller) from the seeded generator (the
    /// null simulations here and in report::seed_plan).
    pub(crate) fn normal(rng: &mut rand_chacha::ChaCha8Rng) -> f64 {
        let (u, v): (f64, f64) = (rng.random_range(f64::EPSILON..1.0), rng.random());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }

    /// One null suite: k representations × n seeds, equal true means, a seed
    /// effect every representation shares (the split) plus independent noise.
    fn null_suite(rng: &mut rand_chacha::ChaCha8Rng, k: usize, n: usize) -> Vec<Vec<(u64, f64)>> {
        let seed_effect: Vec<f64> = (0..n).map(|_| normal(rng) * 0.01).collect();
        (0..k).map(|_| (0..n).map(|s| (s as u64, 0.8 + seed_effect[s] + normal(rng) * 0.005)).collect()).collect()
    }

    /// Whether a design calls any pair different in one null suite.
    fn false_positive(values: &[Vec<(u64, f64)>], design: &Design) -> bool {
        let mut order: Vec<usize> = (0..values.len()).collect();
        let mean = |v: &[(u64, f64)]| v.iter().map(|x| x.1).sum::<f64>() / v.len() as f64;
        order.sort_by(|&a, &b| mean(&values[b]).total_cmp(&mean(&values[a])));
        let names: Vec<String> = order.iter().map(|i| format!("r{i}")).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let pairs = design_pairs(design, &refs)
            .into_iter()
            .map(|(i, j)| (names[i].clone(), names[j].clone(), difference(&values[order[i]], &values[order[j]]), false))
            .collect();
        judge(pairs, 1.0, None, LEVEL).iter().any(|c| c.verdict.resolved())
    }

    /// The old design: the leader picked by the test means, Holm over the k − 1 others against it.
    fn old_false_positive(values: &[Vec<(u64, f64)>]) -> bool {
        let mean = |v: &[(u64, f64)]| v.iter().map(|x| x.1).sum::<f64>() / v.len() as f64;
        let best = (0..values.len()).max_by(|&a, &b| mean(&values[a]).total_cmp(&mean(&values[b]))).unwrap();
        let p: Vec<Option<f64>> =
            (0..values.len()).filter(|&i| i != best).map(|i| difference(&values[i], &values[best]).p).collect();
        holm(&p).iter().any(|p| p.is_some_and(|p| p < LEVEL))
    }

    /// The family-wise false-positive rate over `sims` null suites with its 95 % simulation half-width.
    fn rate(sims: usize, seed: u64, k: usize, n: usize, hit: impl Fn(&[Vec<(u64, f64)>]) -> bool) -> (f64, f64) {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let hits = (0..sims).filter(|_| hit(&null_suite(&mut rng, k, n))).count();
        let r = hits as f64 / sims as f64;
        (r, 1.96 * (r * (1.0 - r) / sims as f64).sqrt())
    }

    #[test]
    fn both_designs_hold_the_family_wise_rate_and_the_old_one_did_not() {
        // 20,000 null suites per design and shape (docs/statistics.md prints the rates).
        for (k, n) in [(3, 3), (5, 5)] {
            let (base, half) = rate(20_000, 1, k, n, |v| false_positive(v, &Design::Baseline("r0".into())));
            eprintln!("null FWER k = {k}, n = {n}: baseline {base:.4} ± {half:.4}");
            assert!(base - half <= LEVEL, "baseline, k = {k}, n = {n}: {base} ± {half}");
            let (pairs, half) = rate(20_000, 2, k, n, |v| false_positive(v, &Design::AllPairs));
            eprintln!("null FWER k = {k}, n = {n}: all pairs {pairs:.4} ± {half:.4}");
            assert!(pairs - half <= LEVEL, "all pairs, k = {k}, n = {n}: {pairs} ± {half}");
        }
        // Today's inflation, reproduced: 5 representations, 5 seeds.
        let (old, half) = rate(20_000, 3, 5, 5, old_false_positive);
        eprintln!("null FWER k = 5, n = 5: leader picked on the test means {old:.4} ± {half:.4}");
        assert!(old - half > LEVEL, "leader-picked design: {old} ± {half}");
    }

    fn diff(d: f64, se: f64) -> Difference {
        Difference {
            diff: d,
            ci: None,
            p: Some(2.0 * (1.0 - StudentsT::new(0.0, 1.0, 4.0).unwrap().cdf((d / se).abs()))),
            test: "paired t, 5 seeds".into(),
            note: None,
            se: Some(se),
            df: Some(4.0),
        }
    }

    #[test]
    fn verdict_words_follow_the_margin() {
        let one = |d: f64, se: f64, margin: Option<f64>, sign: f64| {
            judge(vec![("a".into(), "b".into(), diff(d, se), false)], sign, margin, LEVEL)[0].clone()
        };
        assert_eq!(one(0.05, 0.005, None, 1.0).verdict, Verdict::Better);
        assert_eq!(one(0.05, 0.005, None, -1.0).verdict, Verdict::Worse);
        // Small and precise: equivalent within ±0.01, but only with a margin.
        assert_eq!(one(0.001, 0.002, Some(0.01), 1.0).verdict, Verdict::Equivalent);
        assert_eq!(one(0.001, 0.002, None, 1.0).verdict, Verdict::NotResolved);
        // Above the margin's upper side but not below its lower one: non-inferior.
        assert_eq!(one(0.008, 0.003, Some(0.005), 1.0).verdict, Verdict::NonInferior);
        assert_eq!(Verdict::Equivalent.words("0.5 points"), "equivalent (±0.5 points)");
    }
}
