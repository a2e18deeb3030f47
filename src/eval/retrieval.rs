//! Nearest-neighbour retrieval: what a representation calls similar. Every
//! test image queries the training split by cosine similarity of the frozen
//! features; `precision_at_k` is the share of its `k` nearest training images
//! that carry its label, averaged over the test split (stored per image, so
//! one seed still pairs representations on images). For a fixed set of queries
//! — the first test image of each class, as the attention figure picks them —
//! the neighbours' pixels and labels are kept for the report's figure, the
//! same queries for every representation.
use super::attention_maps::pick_images;
use super::{EvalContext, EvalOutput, Evaluation, Headline, Input, Scope};
use crate::checks::{Checker, Validate};
use crate::error::{Error, Result};
use crate::knn_vote::normalize;
use crate::represent::RepresentationSpec;
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetrievalParams {
    /// Neighbours per query (the figure's columns and precision@k).
    pub k: usize,
    /// Queries shown in the figure.
    pub queries: usize,
}

impl Default for RetrievalParams {
    fn default() -> Self {
        RetrievalParams { k: 5, queries: 10 }
    }
}

impl Validate for RetrievalParams {
    fn validate(&self, path: &str, c: &mut Checker) {
        c.positive(&format!("{path}.k"), self.k);
        c.positive(&format!("{path}.queries"), self.queries);
        if self.k > 50 {
            c.push(
                &format!("{path}.k"),
                format!("{} neighbours per query is more than a figure shows (at most 50)", self.k),
            );
        }
    }
}

/// Version of this evaluation's arithmetic (it enters the key).
pub const VERSION: u32 = 2;

/// Test queries compared with the whole bank at a time.
const CHUNK: i64 = 1024;

impl Evaluation for RetrievalParams {
    fn version(&self) -> u32 {
        VERSION
    }
    fn scope(&self) -> Scope {
        Scope::Model
    }
    fn evaluate(&self, input: &Input, ctx: &EvalContext) -> Result<EvalOutput> {
        let m = input.model()?;
        let f = input.features()?;
        self.run(&f.train_x, &f.test_x, (&m.images.train, &m.images.test), ctx.device)
    }
    fn headline(&self) -> Headline {
        Headline::ranked(format!("precision_at_{}", self.k))
    }
    fn figures(&self) -> &'static [super::FigureKind] {
        &[super::FigureKind::Retrieval]
    }
    fn applies_to(&self, rep: &RepresentationSpec) -> std::result::Result<(), String> {
        super::needs_pixels(rep, "the figure shows training images, which imported embeddings do not come with")
    }
}

/// The figure's data: per query, its pixels and label, then its neighbours'.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetrievalData {
    /// [C, H, W] of every image below.
    pub image_shape: Vec<i64>,
    /// Test indices of the queries.
    pub queries: Vec<usize>,
    pub query_labels: Vec<i64>,
    /// Per query, the training indices, labels and cosine similarities of its
    /// neighbours, nearest first.
    pub neighbours: Vec<Vec<usize>>,
    pub neighbour_labels: Vec<Vec<i64>>,
    pub similarity: Vec<Vec<f64>>,
    /// u8 pixels of each query followed by its neighbours, query by query.
    pub pixels: Vec<u8>,
}

impl super::figure_data::FigureData for RetrievalData {
    const KIND: super::FigureKind = super::FigureKind::Retrieval;
}

type Split = (Tensor, Tensor);

impl RetrievalParams {
    pub fn run(
        &self,
        train_x: &Tensor,
        test_x: &Tensor,
        (train, test): (&Split, &Split),
        dev: Device,
    ) -> Result<EvalOutput> {
        let bank = normalize(&train_x.to_device(dev).to_kind(Kind::Float));
        let k = self.k as i64;
        if bank.size()[0] < k {
            return Err(Error::stage(format!(
                "retrieval: k = {k} but the training split has {} images",
                bank.size()[0]
            )));
        }
        let train_y = train.1.to_device(dev);
        let test_y = test.1.to_device(dev);
        let n = test_x.size()[0];
        let (mut hits, mut idx_parts, mut sim_parts) = (Vec::new(), Vec::new(), Vec::new());
        for start in (0..n).step_by(CHUNK as usize) {
            let len = CHUNK.min(n - start);
            let q = normalize(&test_x.narrow(0, start, len).to_device(dev).to_kind(Kind::Float));
            let (sim, idx) = q.matmul(&bank.tr()).topk(k, 1, true, true);
            let same = train_y
                .index_select(0, &idx.reshape([-1]))
                .reshape([len, k])
                .eq_tensor(&test_y.narrow(0, start, len).unsqueeze(1));
            // In double: a share of k neighbours is then exactly 0.2, 0.4, … (not f32's 0.2000000030).
            hits.push(same.to_kind(Kind::Double).mean_dim(1, false, Kind::Double).to_device(Device::Cpu));
            idx_parts.push(idx.to_device(Device::Cpu));
            sim_parts.push(sim.to_device(Device::Cpu));
        }
        let per_image = Tensor::cat(&hits, 0);
        let precision = per_image.mean(Kind::Double).double_value(&[]);
        let (all_idx, all_sim) = (Tensor::cat(&idx_parts, 0), Tensor::cat(&sim_parts, 0));
        let labels: Vec<i64> = Vec::try_from(&test.1)?;
        let queries = pick_images(&labels, self.queries);
        let data = self.figure(&queries, &all_idx, &all_sim, train, test)?;
        let per_image: Vec<f64> = Vec::try_from(&per_image)?;
        let name = format!("precision_at_{k}");
        let mut details = serde_json::json!({ "per_image": { name.clone(): per_image }, "train_images": bank.size()[0], "test_images": n });
        super::figure_data::put(&mut details, &data)?;
        Ok(EvalOutput { metrics: vec![(name, precision)], details })
    }

    fn figure(
        &self,
        queries: &[usize],
        idx: &Tensor,
        sim: &Tensor,
        train: &Split,
        test: &Split,
    ) -> Result<RetrievalData> {
        let train_labels: Vec<i64> = Vec::try_from(&train.1)?;
        let (mut neighbours, mut neighbour_labels, mut similarity, mut pixels) = (vec![], vec![], vec![], vec![]);
        for &q in queries {
            let nb: Vec<i64> = Vec::try_from(idx.get(q as i64))?;
            let s: Vec<f64> = Vec::try_from(sim.get(q as i64).to_kind(Kind::Double))?;
            let mut rows = vec![test.0.get(q as i64)];
            rows.extend(nb.iter().map(|&i| train.0.get(i)));
            pixels.extend(Vec::<u8>::try_from(Tensor::stack(&rows, 0).contiguous().reshape([-1]))?);
            neighbour_labels.push(nb.iter().map(|&i| train_labels[i as usize]).collect());
            neighbours.push(nb.iter().map(|&i| i as usize).collect());
            similarity.push(s.iter().map(|v| (v * 1e4).round() / 1e4).collect());
        }
        Ok(RetrievalData {
            image_shape: test.0.size()[1..].to_vec(),
            query_labels: queries.iter().map(|&q| test.1.int64_value(&[q as i64])).collect(),
            queries: queries.to_vec(),
            neighbours,
            neighbour_labels,
            similarity,
            pixels,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Features that are the label one-hot plus a little per-image noise: every
    /// neighbour shares the query's label, and the stored pixels are the
    /// query's and its neighbours' own.
    #[test]
    fn neighbours_of_separated_classes_share_the_label() {
        tch::manual_seed(0);
        let n = 60;
        let y = Tensor::arange(n, (Kind::Int64, Device::Cpu)).remainder(3);
        let x = y.one_hot(3).to_kind(Kind::Float) + Tensor::rand([n, 3], (Kind::Float, Device::Cpu)) * 0.01;
        let img = Tensor::arange(n, (Kind::Int64, Device::Cpu))
            .to_kind(Kind::Uint8)
            .view([n, 1, 1, 1])
            .expand([n, 1, 2, 2], false)
            .contiguous();
        let split = (img, y);
        let out = RetrievalParams { k: 4, queries: 3 }.run(&x, &x, (&split, &split), Device::Cpu).unwrap();
        assert_eq!(out.metrics, vec![("precision_at_4".to_string(), 1.0)]);
        let d: RetrievalData = super::super::figure_data::get(&out.details).unwrap();
        assert_eq!(d.queries, vec![0, 1, 2]);
        for (q, (nb, labs)) in d.neighbours.iter().zip(&d.neighbour_labels).enumerate() {
            assert!(labs.iter().all(|&l| l == q as i64), "{labs:?}");
            assert_eq!(nb[0], q, "an image is its own nearest neighbour here");
            // Pixels: query q, then its neighbours, 4 pixels each, valued by index.
            let base = q * 5 * 4;
            assert_eq!(d.pixels[base] as usize, q);
            assert_eq!(d.pixels[base + 4 * 2] as usize, nb[1]);
        }
    }

    #[test]
    fn too_many_neighbours_are_refused() {
        let mut c = Checker::default();
        RetrievalParams { k: 80, queries: 0 }.validate("evaluations.nn", &mut c);
        let msg = format!("{c:?}");
        assert!(msg.contains("evaluations.nn.k") && msg.contains("evaluations.nn.queries"), "{msg}");
    }
}
