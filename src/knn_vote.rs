//! The weighted k-NN vote (DINO's `eval_knn.py`): L2-normalised features,
//! cosine similarity, the top-k neighbours vote with weight exp((sim − sim_max)/T).
//!
//! Shared by the k-NN evaluation (`eval::knn`), label efficiency and the
//! training monitor of learned representations, so it sits below both `eval/`
//! and `represent/` (why exp((sim − sim_max)/T): see `eval::knn`).
use crate::error::{Error, Result};
use tch::{Kind, Tensor};

/// Predictions for each k in `ks` (sorted as given) for the `query` rows.
pub fn predict(
    train: &Tensor,
    train_y: &Tensor,
    query: &Tensor,
    ks: &[usize],
    temperature: f64,
    classes: i64,
) -> Result<Vec<Tensor>> {
    predict_normalized(&normalize(train), train_y, &normalize(query), ks, temperature, classes)
}

/// The rows of `parts`, L2-normalised, in one new tensor: the same values as
/// `normalize(cat(parts))` (the norm is per row) without the intermediate
/// copy, so a bank of train ∪ val costs one matrix, not three.
pub fn normalized_bank(parts: &[&Tensor]) -> Tensor {
    let n: i64 = parts.iter().map(|p| p.size()[0]).sum();
    let d = parts.first().map(|p| p.size()[1]).unwrap_or(0);
    let first = parts.first().map(|p| (p.kind(), p.device())).unwrap_or((Kind::Float, tch::Device::Cpu));
    let bank = Tensor::empty([n, d], first);
    let mut start = 0;
    for p in parts {
        let rows = p.size()[0];
        for s in (0..rows).step_by(65_536) {
            let len = 65_536.min(rows - s);
            bank.narrow(0, start + s, len).copy_(&normalize(&p.narrow(0, s, len)));
        }
        start += rows;
    }
    bank
}

/// `predict` for a bank and queries that are already L2-normalised.
pub fn predict_normalized(
    train: &Tensor,
    train_y: &Tensor,
    query: &Tensor,
    ks: &[usize],
    temperature: f64,
    classes: i64,
) -> Result<Vec<Tensor>> {
    let n_train = train.size()[0];
    let kmax = *ks.iter().max().unwrap_or(&1) as i64;
    if kmax > n_train {
        return Err(Error::stage(format!("knn: k = {kmax} but the train split has only {n_train} samples")));
    }
    // Bound the similarity block to ~64M floats.
    let chunk = (64_000_000 / n_train.max(1)).clamp(1, 4096);
    let n = query.size()[0];
    let mut preds: Vec<Vec<Tensor>> = (0..ks.len()).map(|_| Vec::new()).collect();
    let mut start = 0;
    while start < n {
        let len = chunk.min(n - start);
        let sim = query.narrow(0, start, len).matmul(&train.transpose(0, 1));
        let (vals, idx) = sim.topk(kmax, 1, true, true);
        let nb_labels = train_y.index_select(0, &idx.flatten(0, -1)).view([len, kmax]);
        // topk sorts descending: column 0 is each query's largest similarity.
        let weights = ((&vals - vals.narrow(1, 0, 1)) / temperature).exp();
        for (j, &k) in ks.iter().enumerate() {
            let k = k as i64;
            let votes = Tensor::zeros([len, classes], (Kind::Float, train.device())).scatter_add(
                1,
                &nb_labels.narrow(1, 0, k),
                &weights.narrow(1, 0, k),
            );
            preds[j].push(votes.argmax(1, false));
        }
        start += len;
    }
    Ok(preds.into_iter().map(|p| Tensor::cat(&p, 0)).collect())
}

pub fn normalize(x: &Tensor) -> Tensor {
    let norm = x.norm_scalaropt_dim(2, [1], true).clamp_min(1e-12);
    x / norm
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One bank normalised in row chunks equals the normalised concatenation,
    /// bit for bit, and so do the predictions.
    #[test]
    fn normalized_bank_equals_normalising_the_concatenation() {
        let a = Tensor::randn([70_000, 3], (Kind::Float, tch::Device::Cpu));
        let b = Tensor::randn([5, 3], (Kind::Float, tch::Device::Cpu));
        let whole = normalize(&Tensor::cat(&[&a, &b], 0));
        let bank = normalized_bank(&[&a, &b]);
        assert!(bank.equal(&whole));
        let y = Tensor::arange(70_005, (Kind::Int64, tch::Device::Cpu)).remainder(4);
        let q = Tensor::randn([50, 3], (Kind::Float, tch::Device::Cpu));
        let before = predict(&Tensor::cat(&[&a, &b], 0), &y, &q, &[5], 0.07, 4).unwrap();
        let after = predict_normalized(&bank, &y, &normalize(&q), &[5], 0.07, 4).unwrap();
        assert!(before[0].equal(&after[0]));
    }
}
