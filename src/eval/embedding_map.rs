//! Embedding maps: a 2-D projection (PCA or t-SNE) of a fixed, stratified sample
//! of test embeddings, stored with the labels so the report draws one panel per
//! representation coloured by class. The metric is the leave-one-out 5-NN
//! accuracy inside the map — a number for what the picture shows.
use super::tsne::{map_knn_accuracy, pca_scores, tsne, TsneConfig};
use super::{EvalContext, EvalOutput, Evaluation, Features, FigureKind, Headline, Input};
use crate::checks::{Checker, Validate};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use tch::Tensor;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MapMethod {
    Pca,
    Tsne,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmbeddingMapParams {
    pub method: MapMethod,
    /// Test points drawn (stratified by class, seeded).
    pub points: usize,
    pub perplexity: f64,
    pub iterations: usize,
}

impl Default for EmbeddingMapParams {
    fn default() -> Self {
        EmbeddingMapParams { method: MapMethod::Tsne, points: 2000, perplexity: 30.0, iterations: 1000 }
    }
}

impl Validate for EmbeddingMapParams {
    fn validate(&self, path: &str, c: &mut Checker) {
        if self.points < 10 {
            c.push(&format!("{path}.points"), format!("must be at least 10 (got {})", self.points));
        }
        c.positive_f(&format!("{path}.perplexity"), self.perplexity);
        c.positive(&format!("{path}.iterations"), self.iterations);
    }
}

/// Version of this evaluation's arithmetic; bump it when what it computes
/// changes (it enters the evaluation's key, see `Evaluation::version`).
pub const VERSION: u32 = 2;

impl Evaluation for EmbeddingMapParams {
    fn version(&self) -> u32 {
        VERSION
    }
    fn evaluate(&self, input: &Input, ctx: &EvalContext) -> Result<EvalOutput> {
        self.run(input.features()?, ctx.seed)
    }
    /// A 2-D map is a picture: its in-map k-NN accuracy describes, it does not rank.
    fn headline(&self) -> Headline {
        Headline::descriptive("map_knn5")
    }
    fn figures(&self) -> &'static [FigureKind] {
        &[FigureKind::EmbeddingMap]
    }
}

impl EmbeddingMapParams {
    pub fn run(&self, f: &Features, seed: u64) -> Result<EvalOutput> {
        let labels: Vec<i64> = Vec::try_from(&f.test_y.to_device(tch::Device::Cpu))?;
        let pool: Vec<usize> = (0..labels.len()).collect();
        let mut rng = crate::runtime::seeding::rng(seed, "embedding_map");
        let (idx, _) = crate::data::split::stratified(&labels, &pool, self.points, &mut rng);
        if idx.len() < 4 {
            return Err(Error::stage(format!("embedding map: only {} test points", idx.len())));
        }
        let sel = Tensor::from_slice(&idx.iter().map(|&i| i as i64).collect::<Vec<_>>());
        let x = f.test_x.to_device(tch::Device::Cpu).index_select(0, &sel);
        let y: Vec<i64> = idx.iter().map(|&i| labels[i]).collect();
        let points: Vec<[f64; 2]> = match self.method {
            MapMethod::Pca => {
                let s = pca_scores(&x, 2);
                let s = if s.size()[1] < 2 { Tensor::cat(&[s.shallow_clone(), s.zeros_like()], 1) } else { s };
                let v: Vec<f32> = Vec::try_from(s.narrow(1, 0, 2).contiguous().reshape([-1]))?;
                v.chunks(2).map(|c| [c[0] as f64, c[1] as f64]).collect()
            }
            MapMethod::Tsne => tsne(
                &x,
                &TsneConfig { perplexity: self.perplexity, iterations: self.iterations, ..Default::default() },
            )?,
        };
        let acc = map_knn_accuracy(&points, &y, 5);
        let round = |v: f64| (v * 1e4).round() / 1e4;
        let mut details = serde_json::json!({});
        super::figure_data::put(
            &mut details,
            &super::figure_data::EmbeddingMapData {
                method: self.method,
                x: points.iter().map(|p| round(p[0])).collect(),
                y: points.iter().map(|p| round(p[1])).collect(),
                labels: y,
            },
        )?;
        Ok(EvalOutput { metrics: vec![("map_knn5".into(), acc)], details })
    }
}
