//! Seeded, stratified subsets and the validation split carved from train.
//!
//! Every draw comes from a ChaCha RNG seeded from the run's seed, so the same seed
//! gives the same indices on every machine.
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Version of the split arithmetic (which indices a seed selects); it enters
/// the data stage's key, so bump it when the same settings would select other
/// images.
pub const VERSION: u32 = 1;

/// Indices into the dataset's train part (train, val) and test part (test).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Splits {
    pub train: Vec<usize>,
    pub val: Vec<usize>,
    pub test: Vec<usize>,
}

/// Groups `pool` (indices into `labels`) by class, in index order.
fn by_class(labels: &[i64], pool: &[usize]) -> Vec<Vec<usize>> {
    let k = pool.iter().map(|&i| labels[i]).max().map(|m| m as usize + 1).unwrap_or(0);
    let mut groups = vec![Vec::new(); k];
    for &i in pool {
        groups[labels[i] as usize].push(i);
    }
    groups
}

/// How many of each class to take so the total is exactly `n` and each class keeps
/// its share (largest-remainder rounding; ties go to the lower class index).
fn quotas(sizes: &[usize], n: usize) -> Vec<usize> {
    let total: usize = sizes.iter().sum();
    if total == 0 {
        return vec![0; sizes.len()];
    }
    let exact: Vec<f64> = sizes.iter().map(|&s| s as f64 * n as f64 / total as f64).collect();
    let mut q: Vec<usize> = exact.iter().map(|e| e.floor() as usize).collect();
    let mut rest = n - q.iter().sum::<usize>();
    let mut order: Vec<usize> = (0..sizes.len()).collect();
    order.sort_by(|&a, &b| {
        let (fa, fb) = (exact[a] - exact[a].floor(), exact[b] - exact[b].floor());
        fb.partial_cmp(&fa).unwrap_or(std::cmp::Ordering::Equal).then(a.cmp(&b))
    });
    for &c in order.iter().cycle() {
        if rest == 0 {
            break;
        }
        if q[c] < sizes[c] {
            q[c] += 1;
            rest -= 1;
        }
    }
    q
}

/// A stratified sample of `n` indices from `pool`, returned sorted, and the rest.
pub fn stratified(labels: &[i64], pool: &[usize], n: usize, rng: &mut ChaCha8Rng) -> (Vec<usize>, Vec<usize>) {
    let n = n.min(pool.len());
    let mut groups = by_class(labels, pool);
    let q = quotas(&groups.iter().map(|g| g.len()).collect::<Vec<_>>(), n);
    let (mut take, mut rest) = (Vec::with_capacity(n), Vec::new());
    for (g, &qc) in groups.iter_mut().zip(&q) {
        g.shuffle(rng);
        take.extend_from_slice(&g[..qc]);
        rest.extend_from_slice(&g[qc..]);
    }
    take.sort_unstable();
    rest.sort_unstable();
    (take, rest)
}

/// What to draw: optional subset sizes and the validation fraction.
#[derive(Debug, Clone)]
pub struct SplitPlan<'a> {
    pub holdout_classes: &'a [usize],
    pub train_size: Option<usize>,
    pub test_size: Option<usize>,
    pub val_fraction: f64,
    /// The data's own validation rows of the train part: used as the
    /// validation split whole (outside held-out classes), and left out of
    /// the training pool; `val_fraction` is then not used.
    pub official_val: Option<std::ops::Range<usize>>,
}

/// Draws train/val/test indices. The validation split comes out of the (subset)
/// train split; the test subset out of the official test part.
pub fn make_splits(train_labels: &[i64], test_labels: &[i64], plan: &SplitPlan, seed: u64) -> Splits {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x9E37_79B9_7F4A_7C15);
    let official = plan.official_val.clone().unwrap_or(0..0);
    let outside_holdout = |i: &usize| !plan.holdout_classes.contains(&(train_labels[*i] as usize));
    let all_train: Vec<usize> =
        (0..train_labels.len()).filter(|i| !official.contains(i)).filter(outside_holdout).collect();
    let pool = match plan.train_size {
        Some(n) => stratified(train_labels, &all_train, n, &mut rng).0,
        None => all_train,
    };
    let (val, train) = if official.is_empty() {
        let n_val = (pool.len() as f64 * plan.val_fraction).round() as usize;
        stratified(train_labels, &pool, n_val, &mut rng)
    } else {
        (official.filter(outside_holdout).collect(), pool)
    };
    let all_test: Vec<usize> = (0..test_labels.len()).collect();
    let test = match plan.test_size {
        Some(n) => stratified(test_labels, &all_test, n, &mut rng).0,
        None => all_test,
    };
    Splits { train, val, test }
}

/// Images of each class per split, stored beside the split's indices
/// (`counts.json`) so that a cached run reports them without decoding the data.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SplitClassCounts {
    pub dataset: String,
    pub classes: usize,
    pub class_names: Vec<String>,
    pub train: Vec<usize>,
    pub val: Vec<usize>,
    pub test: Vec<usize>,
}

impl SplitClassCounts {
    pub fn of(data: &super::Dataset, s: &Splits) -> SplitClassCounts {
        let k = data.num_classes;
        SplitClassCounts {
            dataset: data.name.clone(),
            classes: k,
            class_names: data.class_names.clone(),
            train: class_counts(&data.train.labels, &s.train, k),
            val: class_counts(&data.train.labels, &s.val, k),
            test: class_counts(&data.test.labels, &s.test, k),
        }
    }
}

/// Images per class (labels 0..k) among `idx`.
pub fn class_counts(labels: &[i64], idx: &[usize], k: usize) -> Vec<usize> {
    let mut c = vec![0; k];
    for &i in idx {
        if let Some(slot) = c.get_mut(labels[i] as usize) {
            *slot += 1;
        }
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotas_sum_exactly_and_keep_shares() {
        let q = quotas(&[50, 30, 20], 10);
        assert_eq!(q, vec![5, 3, 2]);
        let q = quotas(&[1, 1, 1], 2);
        assert_eq!(q.iter().sum::<usize>(), 2);
    }

    #[test]
    fn splits_are_stratified_disjoint_and_seeded() {
        let labels: Vec<i64> = (0..1000).map(|i| (i % 10) as i64).collect();
        let plan = SplitPlan {
            holdout_classes: &[],
            train_size: Some(500),
            test_size: Some(100),
            val_fraction: 0.2,
            official_val: None,
        };
        let a = make_splits(&labels, &labels, &plan, 1);
        assert_eq!(a, make_splits(&labels, &labels, &plan, 1));
        assert_ne!(a, make_splits(&labels, &labels, &plan, 2));
        assert_eq!(a.train.len() + a.val.len(), 500);
        assert_eq!(a.val.len(), 100);
        assert_eq!(a.test.len(), 100);
        for c in 0..10 {
            assert_eq!(a.val.iter().filter(|&&i| labels[i] == c).count(), 10);
            assert_eq!(a.train.iter().filter(|&&i| labels[i] == c).count(), 40);
        }
        assert!(a.train.iter().all(|i| !a.val.contains(i)));
        let held = make_splits(&labels, &labels, &SplitPlan { holdout_classes: &[3], ..plan.clone() }, 1);
        assert!(held.train.iter().chain(&held.val).all(|&i| labels[i] != 3));
        assert!(held.test.iter().any(|&i| labels[i] == 3), "held-out classes stay in test");
        // An official validation part is the validation split, whole, and never trained on.
        let own = SplitPlan { official_val: Some(900..1000), train_size: None, ..plan };
        let s = make_splits(&labels, &labels, &own, 1);
        assert_eq!(s.val, (900..1000).collect::<Vec<_>>());
        assert_eq!(s.train, (0..900).collect::<Vec<_>>());
    }
}
