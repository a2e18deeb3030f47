//! A declared seed plan and its looks. The suite's seed list is the plan;
//! a run of fewer of its seeds (`--seeds 0-4`) or a merge of some parts is an
//! *interim* look. Looking at the p-values after 3, 5 and 10 seeds and stopping
//! when one is small has a false-positive rate of about 0.12 at a nominal 0.05
//! (simulated below), so every look of a plan is recorded (in the cache, keyed
//! by the suite file's hash) and the tests of look k are made at the level the
//! Lan–DeMets O'Brien–Fleming spending function releases between the previous
//! look and this one:
//!
//!   α(t) = 2 − 2Φ(z₀.₉₇₅ / √t),  t = seeds so far / planned seeds,
//!
//! with the looks combined by Bonferroni (the levels of all looks sum to at
//! most α(1) = 0.05 whatever the dependence between looks). That is slightly
//! conservative next to the exact group-sequential boundaries, and needs no
//! assumption about how the t statistics of successive looks correlate. A
//! single look at the whole plan is tested at 0.05, as before.
use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, Normal};

/// The family-wise level a whole plan spends.
pub const ALPHA: f64 = 0.05;

/// One look at a plan: which seeds it reported, when, where.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Look {
    pub seeds: Vec<u64>,
    pub started_unix: u64,
    pub dir: String,
}

/// A suite's declared seeds and every look at them so far, this one last.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeedPlan {
    /// The suite file whose seed list is the plan, and its hash (the key of the looks).
    pub suite_path: String,
    pub spec_sha256: String,
    pub seeds: Vec<u64>,
    pub looks: Vec<Look>,
    /// Which look this report is (None: the last).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub this_look: Option<usize>,
}

/// O'Brien–Fleming-type spending: the share of ALPHA spent by information fraction t.
pub fn obf_spent(t: f64) -> f64 {
    if t <= 0.0 {
        return 0.0;
    }
    if t >= 1.0 {
        // α(1) = α by definition (the numeric round trip through Φ⁻¹ is off by ~1e-10).
        return ALPHA;
    }
    let n = Normal::new(0.0, 1.0).expect("the standard normal");
    let z = n.inverse_cdf(1.0 - ALPHA / 2.0);
    (2.0 - 2.0 * n.cdf(z / t.sqrt())).min(ALPHA)
}

/// The level of each look with `counts[k]` seeds of `planned`: what the
/// spending function releases between the previous look and this one.
pub fn look_levels(counts: &[usize], planned: usize) -> Vec<f64> {
    let mut prev = 0.0;
    counts
        .iter()
        .map(|&c| {
            let spent = obf_spent(c as f64 / planned.max(1) as f64);
            let level = (spent - prev).max(0.0);
            prev = prev.max(spent);
            level
        })
        .collect()
}

impl SeedPlan {
    /// The index of this report's look.
    pub fn index(&self) -> usize {
        self.this_look.unwrap_or(self.looks.len().saturating_sub(1))
    }

    /// Seeds of this report's look.
    pub fn current(&self) -> &[u64] {
        self.looks.get(self.index()).map(|l| l.seeds.as_slice()).unwrap_or_default()
    }

    /// Whether this look has fewer seeds than planned.
    pub fn is_interim(&self) -> bool {
        self.current().len() < self.seeds.len()
    }

    /// The level this look's tests use (ALPHA for one look at the whole plan).
    pub fn level(&self) -> f64 {
        let counts: Vec<usize> = self.looks.iter().map(|l| l.seeds.len()).collect();
        look_levels(&counts, self.seeds.len()).get(self.index()).copied().unwrap_or(ALPHA)
    }

    /// The plan with `look` as this report's look: appended, unless a
    /// recorded look reported the same seeds (a re-run, a rebuilt report or a
    /// merge of the same seeds is that look again, tested at its level).
    pub fn with_look(mut self, look: Look) -> SeedPlan {
        let sorted = |v: &[u64]| {
            let mut s = v.to_vec();
            s.sort_unstable();
            s
        };
        let seen = sorted(&look.seeds);
        match self.looks.iter().position(|l| sorted(&l.seeds) == seen) {
            Some(i) => self.this_look = Some(i),
            None => {
                self.looks.push(look);
                self.this_look = None;
            }
        }
        self
    }

    /// The seeds of `seeds` outside the plan, if any.
    pub fn outside(&self, seeds: &[u64]) -> Vec<u64> {
        seeds.iter().copied().filter(|s| !self.seeds.contains(s)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::comparisons::tests::normal;
    use crate::report::hypothesis::paired_t;
    use rand::SeedableRng;

    /// The rate of "some look rejects" for two representations with equal true
    /// means, looked at after 3, 5 and 10 of 10 seeds, at the given levels.
    fn any_look_rejects(levels: &[f64], sims: usize, seed: u64) -> (f64, f64) {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let looks = [3usize, 5, 10];
        let mut hits = 0;
        for _ in 0..sims {
            let a: Vec<f64> = (0..10).map(|_| normal(&mut rng)).collect();
            let b: Vec<f64> = (0..10).map(|_| normal(&mut rng)).collect();
            let reject = looks
                .iter()
                .zip(levels)
                .any(|(&n, &level)| paired_t(&a[..n], &b[..n]).is_some_and(|(_, _, p)| p < level));
            hits += reject as usize;
        }
        let r = hits as f64 / sims as f64;
        (r, 1.96 * (r * (1.0 - r) / sims as f64).sqrt())
    }

    #[test]
    fn three_looks_hold_the_rate_with_spending_and_not_without() {
        let levels = look_levels(&[3, 5, 10], 10);
        assert!(levels.iter().sum::<f64>() <= ALPHA + 1e-12, "{levels:?}");
        let (spent, half) = any_look_rejects(&levels, 20_000, 1);
        eprintln!("three looks (3, 5, 10 of 10 seeds), O'Brien-Fleming levels {levels:?}: {spent:.4} ± {half:.4}");
        assert!(spent - half <= ALPHA, "{spent} ± {half}");
        // Testing each look at 0.05: the inflation the ViT attention comparison had.
        let (naive, half) = any_look_rejects(&[ALPHA; 3], 20_000, 2);
        eprintln!("three looks at 0.05 each: {naive:.4} ± {half:.4}");
        assert!(naive - half > 0.1, "{naive} ± {half}");
    }

    #[test]
    fn one_look_at_the_whole_plan_is_tested_at_alpha_and_repeats_are_one_look() {
        let look = |seeds: Vec<u64>| Look { seeds, started_unix: 0, dir: String::new() };
        let plan = SeedPlan {
            suite_path: "s.yaml".into(),
            spec_sha256: "0".into(),
            seeds: (0..10).collect(),
            looks: vec![],
            this_look: None,
        };
        let whole = plan.clone().with_look(look((0..10).collect()));
        assert!((whole.level() - ALPHA).abs() < 1e-12 && !whole.is_interim());
        let interim = plan.with_look(look((0..5).collect())).with_look(look(vec![4, 3, 2, 1, 0]));
        assert_eq!(interim.looks.len(), 1);
        assert!(interim.is_interim() && interim.level() < 0.006, "{}", interim.level());
        let fin = interim.with_look(look((0..10).collect()));
        assert!((fin.level() - (ALPHA - obf_spent(0.5))).abs() < 1e-12);
        assert_eq!(fin.outside(&[3, 12]), vec![12]);
        // The interim seeds again after the final look: the interim look, at its level.
        let again = fin.clone().with_look(look((0..5).collect()));
        assert_eq!((again.looks.len(), again.index()), (2, 0));
        assert!(again.is_interim() && (again.level() - obf_spent(0.5)).abs() < 1e-12);
    }
}
