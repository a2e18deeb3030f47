//! The tests behind every comparison in a report: a paired t-test over seeds
//! (cells of one seed share their split), Welch's test where seeds do not
//! pair, the 95 % CI of the difference, and Holm–Bonferroni over a family of
//! comparisons. Degenerate cases return a reason instead of a number.
use statrs::distribution::{Binomial, ContinuousCDF, DiscreteCDF, StudentsT};

/// A difference (a − b) with its 95 % CI and a two-sided test, or why there is none.
#[derive(Debug, Clone, PartialEq)]
pub struct Difference {
    pub diff: f64,
    /// The 95 % CI of the difference; None when it cannot be computed.
    pub ci: Option<(f64, f64)>,
    pub p: Option<f64>,
    /// `paired t` or `Welch t`, and how many seeds.
    pub test: String,
    /// Why there is no test, or a caution (n = 2).
    pub note: Option<String>,
    /// The standard error of `diff` and its degrees of freedom, where a t
    /// test was made: what equivalence, non-inferiority and power work from.
    pub se: Option<f64>,
    pub df: Option<f64>,
}

impl Difference {
    /// No difference measured (a representation against itself).
    pub fn none() -> Difference {
        Difference { diff: 0.0, ci: None, p: None, test: String::new(), note: None, se: None, df: None }
    }
}

fn t_quantile(df: f64) -> Option<f64> {
    StudentsT::new(0.0, 1.0, df).ok().map(|d| d.inverse_cdf(0.975))
}

fn two_sided_p(t: f64, df: f64) -> Option<f64> {
    StudentsT::new(0.0, 1.0, df).ok().map(|d| 2.0 * (1.0 - d.cdf(t.abs())))
}

/// Paired t-test of mean(a − b) ≠ 0 over pairs (a_i, b_i): (t, df, p). None
/// with fewer than 2 pairs or no spread in the differences.
pub fn paired_t(a: &[f64], b: &[f64]) -> Option<(f64, f64, f64)> {
    if a.len() != b.len() || a.len() < 2 {
        return None;
    }
    let d: Vec<f64> = a.iter().zip(b).map(|(x, y)| x - y).collect();
    let (m, s) = super::stats::mean_std(&d);
    if s == 0.0 {
        return None;
    }
    let df = (d.len() - 1) as f64;
    let t = m / (s / (d.len() as f64).sqrt());
    Some((t, df, two_sided_p(t, df)?))
}

/// Two-sided Welch t-test of mean(a) ≠ mean(b): (t, df, p). None with n < 2 on
/// either side or no spread on both (a test of a constant is no test).
pub fn welch(a: &[f64], b: &[f64]) -> Option<(f64, f64, f64)> {
    let (se, df) = welch_se(a, b)?;
    let t = (super::stats::mean_std(a).0 - super::stats::mean_std(b).0) / se;
    Some((t, df, two_sided_p(t, df)?))
}

/// The standard error of mean(a) − mean(b) without pooling, and its
/// Welch–Satterthwaite degrees of freedom. None as for `welch`.
fn welch_se(a: &[f64], b: &[f64]) -> Option<(f64, f64)> {
    if a.len() < 2 || b.len() < 2 {
        return None;
    }
    let (_, sa) = super::stats::mean_std(a);
    let (_, sb) = super::stats::mean_std(b);
    let (va, vb) = (sa * sa / a.len() as f64, sb * sb / b.len() as f64);
    let se2 = va + vb;
    if se2 == 0.0 {
        return None;
    }
    let df = se2 * se2 / (va * va / (a.len() as f64 - 1.0) + vb * vb / (b.len() as f64 - 1.0));
    Some((se2.sqrt(), df))
}

/// a − b over seeds: paired by seed when both have the same seeds, else Welch.
/// `a` and `b` are (seed, value).
pub fn difference(a: &[(u64, f64)], b: &[(u64, f64)]) -> Difference {
    let vals = |v: &[(u64, f64)]| v.iter().map(|x| x.1).collect::<Vec<f64>>();
    let (ma, _) = super::stats::mean_std(&vals(a));
    let (mb, _) = super::stats::mean_std(&vals(b));
    let diff = ma - mb;
    let mut sa: Vec<(u64, f64)> = a.to_vec();
    let mut sb: Vec<(u64, f64)> = b.to_vec();
    sa.sort_by_key(|x| x.0);
    sb.sort_by_key(|x| x.0);
    let paired = sa.len() == sb.len() && sa.iter().zip(&sb).all(|(x, y)| x.0 == y.0);
    let n = a.len().min(b.len());
    let none =
        |why: String| Difference { diff, ci: None, p: None, test: String::new(), note: Some(why), se: None, df: None };
    if n < 2 {
        return none(format!("no test: {} seed{}", n, if n == 1 { "" } else { "s" }));
    }
    let caution = (n == 2).then(|| "n = 2: one degree of freedom, low power".to_string());
    if paired {
        let d: Vec<f64> = sa.iter().zip(&sb).map(|(x, y)| x.1 - y.1).collect();
        let (m, s) = super::stats::mean_std(&d);
        if s == 0.0 {
            return none(if m == 0.0 {
                "no test: identical in every seed".into()
            } else {
                format!("no test: the same difference in all {n} seeds (no spread)")
            });
        }
        let df = (n - 1) as f64;
        let se = s / (n as f64).sqrt();
        let half = t_quantile(df).map(|q| q * se);
        let p = paired_t(&vals(&sa), &vals(&sb)).map(|r| r.2);
        return Difference {
            diff,
            ci: half.map(|h| (m - h, m + h)),
            p,
            test: format!("paired t, {n} seeds"),
            note: caution,
            se: Some(se),
            df: Some(df),
        };
    }
    let (va, vb) = (vals(a), vals(b));
    // The interval from the standard error itself: a difference of exactly 0
    // (t = 0) has a finite interval, not 0/0.
    match welch_se(&va, &vb) {
        None => none("no test: no spread on either side".into()),
        Some((se, df)) => {
            let half = t_quantile(df).map(|q| q * se);
            Difference {
                diff,
                ci: half.map(|h| (diff - h, diff + h)),
                p: two_sided_p(diff / se, df),
                test: format!("Welch t, {} and {} seeds", va.len(), vb.len()),
                note: caution,
                se: Some(se),
                df: Some(df),
            }
        }
    }
}

/// Holm–Bonferroni adjusted p-values (same order as given; None stays None):
/// with the m tests sorted by p, p_(i) · (m − i + 1), made monotone, capped at 1.
pub fn holm(p: &[Option<f64>]) -> Vec<Option<f64>> {
    let mut idx: Vec<usize> = (0..p.len()).filter(|&i| p[i].is_some()).collect();
    idx.sort_by(|&i, &j| p[i].unwrap_or(1.0).total_cmp(&p[j].unwrap_or(1.0)));
    let m = idx.len();
    let mut out = vec![None; p.len()];
    let mut running: f64 = 0.0;
    for (rank, &i) in idx.iter().enumerate() {
        let adj = (p[i].unwrap_or(1.0) * (m - rank) as f64).min(1.0);
        running = running.max(adj);
        out[i] = Some(running);
    }
    out
}

/// McNemar's exact test on the discordant pairs of two classifiers on the same
/// examples (b: only the first right, c: only the second right): two-sided
/// binomial p = min(1, 2·P(X ≤ min(b, c))), X ~ Bin(b + c, ½). None when no
/// example is discordant (the two are right on exactly the same examples).
pub fn mcnemar_exact(b: u64, c: u64) -> Option<f64> {
    let n = b + c;
    if n == 0 {
        return None;
    }
    let d = Binomial::new(0.5, n).ok()?;
    Some((2.0 * d.cdf(b.min(c))).min(1.0))
}

/// Per-example correctness from `eval::correct_bits` (base64 bitset of `n` bits).
pub fn decode_bits(text: &str, n: usize) -> Option<Vec<bool>> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD.decode(text).ok()?;
    if bytes.len() != n.div_ceil(8) {
        return None;
    }
    Some((0..n).map(|i| bytes[i / 8] >> (i % 8) & 1 == 1).collect())
}

/// a − b in accuracy on the same test examples, with McNemar's exact test and
/// a 95 % paired bootstrap CI (`resamples` draws of the test set, seeded).
pub fn per_example(a: &[bool], b: &[bool], resamples: usize, seed: u64) -> Option<Difference> {
    if a.len() != b.len() || a.is_empty() {
        return None;
    }
    let n = a.len();
    let d: Vec<i8> = a.iter().zip(b).map(|(&x, &y)| x as i8 - y as i8).collect();
    let diff = d.iter().map(|&v| v as f64).sum::<f64>() / n as f64;
    let (only_a, only_b) =
        (d.iter().filter(|&&v| v == 1).count() as u64, d.iter().filter(|&&v| v == -1).count() as u64);
    let ci = bootstrap_mean_ci_small(&d, resamples, seed);
    let p = mcnemar_exact(only_a, only_b);
    // The standard error of the mean per-image difference, for equivalence and power.
    let sd = super::stats::mean_std(&d.iter().map(|&v| v as f64).collect::<Vec<_>>()).1;
    let se = (p.is_some() && n >= 2).then(|| sd / (n as f64).sqrt());
    Some(Difference {
        diff,
        ci: Some(ci),
        p,
        test: format!("McNemar exact on {n} test images ({only_a} vs {only_b} discordant), paired bootstrap CI"),
        note: p.is_none().then(|| "no test: right on exactly the same test images".to_string()),
        se,
        df: se.map(|_| (n - 1) as f64),
    })
}

/// The 95 % paired bootstrap CI of the mean of `d` (per-example differences):
/// `resamples` draws of the examples with replacement, seeded.
fn bootstrap_mean_ci(d: &[f64], resamples: usize, seed: u64) -> (f64, f64) {
    use rand::Rng;
    let n = d.len();
    bootstrap_ci(resamples, seed, |rng| (0..n).map(|_| d[rng.random_range(0..n)]).sum::<f64>() / n as f64)
}

/// The same interval for differences in {−1, 0, 1} (a pair of correct/wrong
/// predictions), summed as integers: the same draws and, a sum of small
/// integers being exact in f64, the same interval to the last bit.
fn bootstrap_mean_ci_small(d: &[i8], resamples: usize, seed: u64) -> (f64, f64) {
    use rand::Rng;
    let n = d.len();
    bootstrap_ci(resamples, seed, |rng| (0..n).map(|_| d[rng.random_range(0..n)] as i64).sum::<i64>() as f64 / n as f64)
}

/// The 2.5 % and 97.5 % quantiles of `resamples` bootstrap means, each drawn by
/// `mean_of_resample` from one seeded generator in turn.
fn bootstrap_ci(
    resamples: usize,
    seed: u64,
    mut mean_of_resample: impl FnMut(&mut rand_chacha::ChaCha8Rng) -> f64,
) -> (f64, f64) {
    use rand::SeedableRng;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut boot: Vec<f64> = (0..resamples).map(|_| mean_of_resample(&mut rng)).collect();
    boot.sort_by(f64::total_cmp);
    let q = |p: f64| boot[((p * (resamples - 1) as f64).round() as usize).min(resamples - 1)];
    (q(0.025), q(0.975))
}

/// a − b in the mean of a per-example score (e.g. an image's attention on the
/// object) on the examples both scored (`None` = not scored): a paired t-test
/// over those examples and a 95 % paired bootstrap CI (`resamples` draws,
/// seeded). None when fewer than 2 examples pair.
pub fn per_example_values(a: &[Option<f64>], b: &[Option<f64>], resamples: usize, seed: u64) -> Option<Difference> {
    if a.len() != b.len() {
        return None;
    }
    let d: Vec<f64> = a.iter().zip(b).filter_map(|(x, y)| Some((*x)? - (*y)?)).filter(|v| v.is_finite()).collect();
    let n = d.len();
    if n < 2 {
        return None;
    }
    let (diff, sd) = super::stats::mean_std(&d);
    let p = (sd > 0.0).then(|| two_sided_p(diff / (sd / (n as f64).sqrt()), (n - 1) as f64)).flatten();
    let skipped = a.len() - n;
    let se = p.map(|_| sd / (n as f64).sqrt());
    Some(Difference {
        diff,
        ci: Some(bootstrap_mean_ci(&d, resamples, seed)),
        se,
        df: se.map(|_| (n - 1) as f64),
        p,
        test: format!("paired t over {n} test images, paired bootstrap CI"),
        note: match (p, skipped) {
            (None, _) => Some("no test: the same score on every test image".to_string()),
            (_, 0) => None,
            (_, 1) => Some("1 image not scored by both is left out".to_string()),
            (_, s) => Some(format!("{s} images not scored by both are left out")),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paired_t_matches_scipy_ttest_rel() {
        // scipy 1.17.1 (tests/reference/stats.py): ttest_rel([0.81, 0.83, 0.82, 0.85], [0.78, 0.80, 0.81, 0.80])
        // → statistic 3.6742346141747575, pvalue 0.03489698451015114, 95 % CI [0.004015434727497706, 0.05598456527250218].
        let (a, b) = ([0.81, 0.83, 0.82, 0.85], [0.78, 0.80, 0.81, 0.80]);
        let (t, df, p) = paired_t(&a, &b).unwrap();
        assert!((t - 3.674_234_614_174_757_5).abs() < 1e-9, "t = {t}");
        assert_eq!(df, 3.0);
        assert!((p - 0.034_896_984_510_151_14).abs() < 1e-9, "p = {p}");
        let seeds = |v: &[f64]| v.iter().enumerate().map(|(i, &x)| (i as u64, x)).collect::<Vec<_>>();
        let (lo, hi) = difference(&seeds(&a), &seeds(&b)).ci.unwrap();
        assert!(
            (lo - 0.004_015_434_727_497_706).abs() < 1e-9 && (hi - 0.055_984_565_272_502_18).abs() < 1e-9,
            "[{lo}, {hi}]"
        );
    }

    #[test]
    fn welch_interval_is_finite_when_the_means_are_equal() {
        // Seeds that do not pair, equal means: t = 0, and the interval came
        // from diff / t = 0/0 before it was built from the standard error.
        let d = difference(&[(0, 0.80), (1, 0.82)], &[(2, 0.79), (3, 0.81), (4, 0.83)]);
        assert!(d.test.starts_with("Welch"), "{d:?}");
        assert!(d.diff.abs() < 1e-12, "{d:?}");
        let (lo, hi) = d.ci.unwrap();
        assert!(lo.is_finite() && hi.is_finite() && lo < 0.0 && hi > 0.0, "{d:?}");
        assert!((d.p.unwrap() - 1.0).abs() < 1e-9, "{d:?}");
    }

    #[test]
    fn welch_matches_scipy() {
        // scipy 1.17: ttest_ind([0.81, 0.83, 0.82], [0.78, 0.80, 0.77, 0.79], equal_var=False)
        // → statistic 4.041451884327378, pvalue 0.01007694334798887, df 4.9591836734693935.
        let (t, df, p) = welch(&[0.81, 0.83, 0.82], &[0.78, 0.80, 0.77, 0.79]).unwrap();
        assert!((t - 4.041_451_884_327_378).abs() < 1e-9, "t = {t}");
        assert!((df - 4.959_183_673_469_393_5).abs() < 1e-9, "df = {df}");
        assert!((p - 0.010_076_943_347_988_87).abs() < 1e-9, "p = {p}");
        // scipy's 95 % CI of the difference: [0.012682885186612081, 0.05731711481338776].
        let welch_seeds =
            |v: &[f64], off: u64| v.iter().enumerate().map(|(i, &x)| (off + i as u64, x)).collect::<Vec<_>>();
        let d = difference(&welch_seeds(&[0.81, 0.83, 0.82], 0), &welch_seeds(&[0.78, 0.80, 0.77, 0.79], 10));
        let (lo, hi) = d.ci.unwrap();
        assert!(
            (lo - 0.012_682_885_186_612_081).abs() < 1e-9 && (hi - 0.057_317_114_813_387_76).abs() < 1e-9,
            "[{lo}, {hi}]"
        );
        assert!(welch(&[1.0], &[1.0, 2.0]).is_none());
        assert!(welch(&[1.0, 1.0], &[2.0, 2.0]).is_none(), "no spread: no test, not p = 0");
    }

    #[test]
    fn holm_matches_statsmodels() {
        // statsmodels 0.15.0 multipletests([0.01, 0.04, 0.03, 0.005], method="holm")[1]
        // → [0.03, 0.06, 0.06, 0.02].
        let adj = holm(&[Some(0.01), Some(0.04), Some(0.03), Some(0.005)]);
        let want = [0.03, 0.06, 0.06, 0.02];
        for (a, w) in adj.iter().zip(want) {
            assert!((a.unwrap() - w).abs() < 1e-12, "{adj:?}");
        }
        assert_eq!(holm(&[None, Some(0.2)]), vec![None, Some(0.2)]);
    }

    #[test]
    fn mcnemar_matches_statsmodels_and_bootstrap_is_seeded() {
        // statsmodels 0.15.0 mcnemar(exact=True) = scipy binomtest (tests/reference/stats.py).
        for (b, c, p) in [(12, 3, 0.03515625), (40, 25, 0.08168153394154003), (7, 7, 1.0), (0, 5, 0.0625)] {
            let got = mcnemar_exact(b, c).unwrap();
            assert!((got - p).abs() < 1e-12, "({b}, {c}): {got} vs {p}");
        }
        assert!(mcnemar_exact(0, 0).is_none());
        let a: Vec<bool> = (0..500).map(|i| i % 10 != 0).collect();
        let b: Vec<bool> = (0..500).map(|i| i % 5 != 0).collect();
        let d1 = per_example(&a, &b, 1000, 7).unwrap();
        assert_eq!(d1, per_example(&a, &b, 1000, 7).unwrap(), "the same seed, the same interval");
        assert!((d1.diff - 0.1).abs() < 1e-12);
        let (lo, hi) = d1.ci.unwrap();
        assert!(lo > 0.0 && lo < 0.1 && hi > 0.1, "[{lo}, {hi}]");
        // Bits survive the base64 round trip of eval::correct_bits.
        let y = tch::Tensor::from_slice(&[1i64, 2, 3, 4, 5, 6, 7, 8, 9]);
        let pred = tch::Tensor::from_slice(&[1i64, 0, 3, 4, 0, 6, 7, 8, 0]);
        let bits = decode_bits(&crate::eval::correct_bits(&pred, &y).unwrap(), 9).unwrap();
        assert_eq!(bits, vec![true, false, true, true, false, true, true, true, false]);
    }

    #[test]
    fn per_example_values_pair_only_the_images_both_scored() {
        // The four paired scores of paired_t_matches_scipy_ttest_rel, plus an image
        // only one side scored: it is left out, and the test is scipy's ttest_rel
        // on the four (p 0.03489698451015114), the difference their mean 0.03.
        let a = [Some(0.81), Some(0.83), Some(0.82), Some(0.85), None];
        let b = [Some(0.78), Some(0.80), Some(0.81), Some(0.80), Some(1.0)];
        let d = per_example_values(&a, &b, 1000, 3).unwrap();
        assert!((d.diff - 0.03).abs() < 1e-12, "{d:?}");
        assert!((d.p.unwrap() - 0.034_896_984_510_151_14).abs() < 1e-9, "{d:?}");
        let (lo, hi) = d.ci.unwrap();
        // Bootstrap means of the differences {0.03, 0.03, 0.01, 0.05} lie in [0.01, 0.05].
        assert!((0.01 - 1e-12..=d.diff).contains(&lo) && (d.diff..=0.05 + 1e-12).contains(&hi), "{d:?}");
        assert_eq!(d, per_example_values(&a, &b, 1000, 3).unwrap(), "the same seed, the same interval");
        assert_eq!(d.note.as_deref(), Some("1 image not scored by both is left out"));
        // Identical scores: a difference of 0 and no test, said so.
        let same = per_example_values(&a, &a, 100, 3).unwrap();
        assert_eq!((same.diff, same.p), (0.0, None));
        assert!(same.note.unwrap().starts_with("no test"));
        // Fewer than two pairs: nothing to compare.
        assert_eq!(per_example_values(&[Some(1.0), None], &[Some(0.5), Some(0.5)], 100, 3), None);
    }

    #[test]
    fn degenerate_cases_are_said_not_computed() {
        let seeds = |v: &[f64]| v.iter().enumerate().map(|(i, &x)| (i as u64, x)).collect::<Vec<_>>();
        let d = difference(&seeds(&[0.9]), &seeds(&[0.8]));
        assert_eq!((d.p, d.note.as_deref()), (None, Some("no test: 1 seed")));
        let d = difference(&seeds(&[0.95, 0.95]), &seeds(&[0.90, 0.90]));
        assert!(d.p.is_none() && d.note.unwrap().contains("same difference"));
        let d = difference(&seeds(&[0.95, 0.93]), &seeds(&[0.90, 0.91]));
        assert!(d.p.is_some() && d.note.unwrap().contains("n = 2"));
        // Paired by seed: the CI of the mean difference from its spread.
        let d = difference(&seeds(&[0.81, 0.83, 0.82, 0.85]), &seeds(&[0.78, 0.80, 0.81, 0.80]));
        assert!((d.diff - 0.03).abs() < 1e-12);
        let (lo, hi) = d.ci.unwrap();
        assert!(lo > 0.0 && hi > lo && d.test.starts_with("paired"), "{d:?}");
        // Different seeds: Welch.
        let b: Vec<(u64, f64)> =
            [0.78, 0.80, 0.77, 0.79].iter().enumerate().map(|(i, &x)| (10 + i as u64, x)).collect();
        assert!(difference(&seeds(&[0.81, 0.83, 0.82]), &b).test.starts_with("Welch"));
    }
}
