//! Robustness to corruptions (ImageNet-C's protocol on small images): the
//! classifier is fitted on clean features (a linear probe with its L2 chosen on
//! the clean validation split, or k-NN on the clean bank), then the test
//! images are corrupted on the fly (`crate::corrupt`, seeded, no stored
//! copies), embedded by the same fitted representation and classified.
//!
//! Metrics: `mca` (mean corrupted accuracy over every corruption × severity,
//! the headline), `top1_clean`, `top1:<corruption>` (mean over severities) and
//! `<family>@<severity>` (mean over the family's corruptions; `@0` is clean)
//! for the accuracy-vs-severity figure. The report turns them into ImageNet-C's
//! corruption error normalised by the evaluation's `baseline` (CE, mCE,
//! relative mCE). Per test image, the share of conditions it survives is
//! stored (`per_image.mca`), so one seed still pairs representations on images.
use super::linear_probe::{LinearProbeParams, Selected};
use super::{accuracy, EvalContext, EvalOutput, Evaluation, Features, Headline, Input, Scope};
use crate::checks::{Checker, Validate};
use crate::corrupt::{corrupt_batch, Corruption, Family, SEVERITIES};
use crate::error::{Error, Result};
use crate::represent::RepresentationSpec;
use serde::{Deserialize, Serialize};
use std::time::Instant;
use tch::{Kind, Tensor};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Classifier {
    LinearProbe,
    Knn,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RobustnessParams {
    /// Which corruptions (all 13 by default).
    pub corruptions: Vec<Corruption>,
    /// Which severities, each in 1..=5 (all by default).
    pub severities: Vec<u8>,
    /// The classifier fitted on clean features.
    pub classifier: Classifier,
    /// The linear probe's settings (`classifier: linear_probe`).
    pub probe: LinearProbeParams,
    /// Neighbours and vote temperature (`classifier: knn`).
    pub k: usize,
    pub temperature: f64,
}

impl Default for RobustnessParams {
    fn default() -> Self {
        RobustnessParams {
            corruptions: Corruption::ALL.to_vec(),
            severities: (1..=SEVERITIES).collect(),
            classifier: Classifier::LinearProbe,
            probe: LinearProbeParams::default(),
            k: 20,
            temperature: 0.07,
        }
    }
}

impl Validate for RobustnessParams {
    fn validate(&self, path: &str, c: &mut Checker) {
        c.non_empty(&format!("{path}.corruptions"), &self.corruptions);
        c.non_empty(&format!("{path}.severities"), &self.severities);
        for (i, x) in self.corruptions.iter().enumerate() {
            if self.corruptions[..i].contains(x) {
                c.push(&format!("{path}.corruptions[{i}]"), format!("{} is listed twice", x.name()));
            }
        }
        for (i, &s) in self.severities.iter().enumerate() {
            if !(1..=SEVERITIES).contains(&s) {
                c.push(&format!("{path}.severities[{i}]"), format!("{s} is not a severity (1 to {SEVERITIES})"));
            } else if self.severities[..i].contains(&s) {
                c.push(&format!("{path}.severities[{i}]"), format!("{s} is listed twice"));
            }
        }
        match self.classifier {
            Classifier::LinearProbe => self.probe.validate(&format!("{path}.probe"), c),
            Classifier::Knn => {
                c.positive(&format!("{path}.k"), self.k);
                c.positive_f(&format!("{path}.temperature"), self.temperature);
            }
        }
    }
}

/// Version of this evaluation's arithmetic (it enters the key).
pub const VERSION: u32 = 3;

/// Test images corrupted, embedded and classified at a time.
const CHUNK: i64 = 4096;

impl Evaluation for RobustnessParams {
    fn version(&self) -> u32 {
        VERSION
    }
    fn scope(&self) -> Scope {
        Scope::Model
    }
    fn evaluate(&self, input: &Input, ctx: &EvalContext) -> Result<EvalOutput> {
        let m = input.model()?;
        self.run(&input.features()?.to_device(ctx.device), &m.images.test.0, m.fitted, ctx)
    }
    fn headline(&self) -> Headline {
        Headline::ranked("mca")
    }
    fn figures(&self) -> &'static [super::FigureKind] {
        &[super::FigureKind::SeverityCurve]
    }
    fn applies_to(&self, rep: &RepresentationSpec) -> std::result::Result<(), String> {
        super::needs_pixels(rep, "imported embeddings are rows of a file: a corrupted image has none")
    }
}

/// The classifier fitted on clean features.
enum Fitted {
    Probe(Box<Selected>),
    Knn { bank: Tensor, bank_y: Tensor, classes: i64 },
}

impl RobustnessParams {
    fn fit(&self, f: &Features, seed: u64) -> Result<Fitted> {
        Ok(match self.classifier {
            Classifier::LinearProbe => Fitted::Probe(Box::new(self.probe.fit_selected(f, seed)?)),
            Classifier::Knn => Fitted::Knn {
                bank: crate::knn_vote::normalized_bank(&[&f.train_x, &f.val_x]),
                bank_y: Tensor::cat(&[&f.train_y, &f.val_y], 0),
                classes: f.num_classes,
            },
        })
    }

    fn predict(&self, clf: &Fitted, x: &Tensor) -> Result<Tensor> {
        match clf {
            Fitted::Probe(p) => Ok(p.predict(x)),
            Fitted::Knn { bank, bank_y, classes } => {
                let q = crate::knn_vote::normalize(x);
                let mut p =
                    crate::knn_vote::predict_normalized(bank, bank_y, &q, &[self.k], self.temperature, *classes)?;
                p.pop().ok_or_else(|| Error::stage("k-NN returned no prediction"))
            }
        }
    }

    /// Which test images the classifier gets right after corrupting them with
    /// `c` at severity `s` (bool, N), and the seconds spent corrupting.
    fn correct_under(
        &self,
        clf: &Fitted,
        images: &Tensor,
        labels: &Tensor,
        embed: &dyn crate::represent::Fitted,
        (c, s): (Corruption, u8),
        ctx: &EvalContext,
    ) -> Result<(Tensor, f64)> {
        let n = images.size()[0];
        let mut parts = Vec::new();
        let mut corrupt_s = 0.0;
        for start in (0..n).step_by(CHUNK as usize) {
            let len = CHUNK.min(n - start);
            let t = Instant::now();
            let x = corrupt_batch(&images.narrow(0, start, len), c, s, ctx.seed, start as usize)?;
            corrupt_s += t.elapsed().as_secs_f64();
            let feats = embed.embed(&x, ctx.device)?;
            let pred = self.predict(clf, &feats.to_device(ctx.device))?;
            parts.push(pred.eq_tensor(&labels.narrow(0, start, len).to_device(ctx.device)).to_device(tch::Device::Cpu));
        }
        Ok((Tensor::cat(&parts, 0), corrupt_s))
    }

    pub fn run(
        &self,
        f: &Features,
        test_images: &Tensor,
        embed: &dyn crate::represent::Fitted,
        ctx: &EvalContext,
    ) -> Result<EvalOutput> {
        let n = test_images.size()[0];
        if n != f.test_y.size()[0] {
            return Err(Error::stage(format!("robustness: {n} test images but {} test features", f.test_y.size()[0])));
        }
        let clf = self.fit(f, ctx.seed)?;
        // One clean evaluation, timed, as the unit the corrupted ones are measured in.
        let t = Instant::now();
        let clean_pred = self.predict(&clf, &embed.embed(test_images, ctx.device)?.to_device(ctx.device))?;
        let clean_s = t.elapsed().as_secs_f64();
        let clean = accuracy(&clean_pred, &f.test_y);
        let labels = f.test_y.to_device(tch::Device::Cpu);
        let mut survived = Tensor::zeros([n], (Kind::Float, tch::Device::Cpu));
        let mut table: Vec<Vec<f64>> = Vec::new();
        let (mut corrupt_s, t_all) = (0.0, Instant::now());
        for &c in &self.corruptions {
            let mut row = Vec::new();
            for &s in &self.severities {
                let (ok, secs) = self.correct_under(&clf, test_images, &labels, embed, (c, s), ctx)?;
                corrupt_s += secs;
                survived += ok.to_kind(Kind::Float);
                row.push(ok.to_kind(Kind::Double).mean(Kind::Double).double_value(&[]));
            }
            table.push(row);
        }
        let all_s = t_all.elapsed().as_secs_f64();
        let conditions = (self.corruptions.len() * self.severities.len()) as f64;
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
        let mca = mean(&table.iter().map(|r| mean(r)).collect::<Vec<_>>());
        let mut metrics = vec![("mca".to_string(), mca), ("top1_clean".to_string(), clean)];
        for (c, row) in self.corruptions.iter().zip(&table) {
            metrics.push((format!("top1:{}", c.name()), mean(row)));
        }
        for fam in Family::ALL {
            let rows: Vec<&Vec<f64>> =
                self.corruptions.iter().zip(&table).filter(|(c, _)| c.family() == fam).map(|(_, r)| r).collect();
            if rows.is_empty() {
                continue;
            }
            let name = fam.name();
            metrics.push((format!("{name}@0"), clean));
            for (j, s) in self.severities.iter().enumerate() {
                metrics.push((format!("{name}@{s}"), mean(&rows.iter().map(|r| r[j]).collect::<Vec<_>>())));
            }
        }
        let per_image: Vec<f64> = Vec::try_from(survived / conditions)?;
        let per_image: Vec<f64> = per_image.into_iter().map(|v| (v * 1e4).round() / 1e4).collect();
        let pairs = conditions.max(1.0);
        let details = serde_json::json!({
            "classifier": self.classifier,
            "corruptions": self.corruptions.iter().map(|c| c.name()).collect::<Vec<_>>(),
            "severities": self.severities,
            "accuracy": table,
            "test_images": n,
            "per_image": { "mca": per_image },
            "seconds": {
                "clean_evaluation": clean_s,
                "corrupting": corrupt_s,
                "all_conditions": all_s,
                "per_condition_over_clean": all_s / pairs / clean_s.max(1e-9),
            },
        });
        Ok(EvalOutput { metrics, details })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::represent::FitContext;

    /// Three classes of 16×16 gray images: a bright square in one of three
    /// places on a dim, noisy background.
    fn images(n: i64, seed: u64) -> (Tensor, Tensor) {
        let y = Tensor::arange(n, (Kind::Int64, tch::Device::Cpu)).remainder(3);
        let x = crate::runtime::seeding::randn(&[n, 1, 16, 16], seed) * 10.0 + 40.0;
        for i in 0..n {
            let k = y.int64_value(&[i]);
            let _ = x.get(i).narrow(1, 2 + 4 * k, 4).narrow(2, 2 + 4 * k, 4).fill_(220.0);
        }
        (x.clamp(0.0, 255.0).to_kind(Kind::Uint8), y)
    }

    fn setup() -> (Box<dyn crate::represent::Fitted>, Features, Tensor) {
        let rep: RepresentationSpec = serde_yaml::from_str("kind: raw").unwrap();
        let (tr, tr_y) = images(150, 1);
        let (va, va_y) = images(60, 2);
        let (te, te_y) = images(90, 3);
        let fitted = rep.fit(&tr, &FitContext::simple(tch::Device::Cpu, 0)).unwrap();
        let e = |x: &Tensor| fitted.embed(x, tch::Device::Cpu).unwrap();
        let f = Features {
            train_x: e(&tr),
            train_y: tr_y,
            val_x: e(&va),
            val_y: va_y,
            test_x: e(&te),
            test_y: te_y,
            num_classes: 3,
        };
        (fitted, f, te)
    }

    #[test]
    fn corrupted_accuracy_is_recorded_per_condition_and_family() {
        let (fitted, f, te) = setup();
        let params = RobustnessParams {
            corruptions: vec![Corruption::Contrast, Corruption::Translate, Corruption::GaussianNoise],
            severities: vec![1, 5],
            ..Default::default()
        };
        let ctx = EvalContext { device: tch::Device::Cpu, seed: 9 };
        let out = params.run(&f, &te, fitted.as_ref(), &ctx).unwrap();
        let get = |k: &str| out.metrics.iter().find(|m| m.0 == k).map(|m| m.1).unwrap_or_else(|| panic!("no {k}"));
        let clean = get("top1_clean");
        assert!(clean > 0.95, "{clean}");
        assert_eq!(get("photometric@0"), clean);
        assert_eq!(get("geometric@0"), clean);
        // A five-pixel shift (scaled to 16 px: 2.9) moves the square off its place: accuracy falls.
        assert!(get("geometric@5") < clean - 0.2, "{out:?}");
        let table = out.details["accuracy"].as_array().unwrap();
        let mean_all: f64 =
            table.iter().flat_map(|r| r.as_array().unwrap()).map(|v| v.as_f64().unwrap()).sum::<f64>() / 6.0;
        assert!((get("mca") - mean_all).abs() < 1e-12);
        assert!(
            (get("top1:contrast") - (table[0][0].as_f64().unwrap() + table[0][1].as_f64().unwrap()) / 2.0).abs()
                < 1e-12
        );
        let per_image = out.details["per_image"]["mca"].as_array().unwrap();
        assert_eq!(per_image.len(), 90);
        let mean_img: f64 = per_image.iter().map(|v| v.as_f64().unwrap()).sum::<f64>() / 90.0;
        assert!((mean_img - get("mca")).abs() < 1e-3);
        // The same seed gives the same numbers; k-NN runs on the same corrupted images.
        assert_eq!(params.run(&f, &te, fitted.as_ref(), &ctx).unwrap().metrics, out.metrics);
        let knn = RobustnessParams { classifier: Classifier::Knn, k: 5, ..params.clone() };
        let k_out = knn.run(&f, &te, fitted.as_ref(), &ctx).unwrap();
        assert!(k_out.metrics.iter().any(|m| m.0 == "mca" && m.1 > 0.0));
    }

    #[test]
    fn bad_settings_name_their_field() {
        let p = RobustnessParams {
            corruptions: vec![Corruption::Jpeg, Corruption::Jpeg],
            severities: vec![0, 3, 3],
            ..Default::default()
        };
        let mut c = Checker::default();
        p.validate("evaluations.rob", &mut c);
        let msg = format!("{c:?}");
        for want in ["corruptions[1]", "jpeg is listed twice", "severities[0]", "0 is not a severity", "severities[2]"]
        {
            assert!(msg.contains(want), "{want}: {msg}");
        }
        let yaml = "kind: robustness\ncorruptions: [fog]\n";
        let err = serde_yaml::from_str::<super::super::EvaluationSpec>(yaml).unwrap_err().to_string();
        assert!(err.contains("fog") && err.contains("gaussian_noise"), "{err}");
    }

    #[test]
    fn imported_embeddings_are_not_applicable() {
        let rep: RepresentationSpec = serde_yaml::from_str("kind: embeddings\npath: x.npz").unwrap();
        assert!(RobustnessParams::default().applies_to(&rep).unwrap_err().contains("corrupted image"));
    }
}
