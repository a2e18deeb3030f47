//! Warnings for representations whose training collapsed, read from the
//! per-epoch diagnostics in the training logs. A collapsed DINO teacher gives
//! features that a probe still scores (k-NN 0.30 on Fashion-MNIST, far below the
//! untrained encoder), so without a warning the table would show a "result" that
//! is really a failed run. The rules use DINO's diagnostics (teacher entropy / ln K,
//! KL(teacher ‖ student)); a method that does not log them gets no warning.
use super::training_curves::curve;
use crate::runner::TrainLogRecord;

/// Entropy / ln K at or above this at the last epoch: the teacher is uniform.
pub const UNIFORM_ENTROPY: f64 = 0.99;
/// Entropy / ln K at or below this with KL below [`ONE_PROTOTYPE_KL`]: every
/// image goes to the same prototype.
pub const ONE_PROTOTYPE_ENTROPY: f64 = 0.05;
pub const ONE_PROTOTYPE_KL: f64 = 1e-3;
/// A rise of the entropy / ln K by at least this from its lowest epoch to the
/// last: the teacher had left the uniform plateau and is heading back to it.
pub const REBOUND: f64 = 0.25;

/// One sentence per (representation, seed, params) whose run collapsed or was
/// collapsing at its end.
pub fn warnings(logs: &[TrainLogRecord]) -> Vec<String> {
    logs.iter().filter_map(warning).collect()
}

fn warning(t: &TrainLogRecord) -> Option<String> {
    let entropy = curve(&t.log, "teacher_entropy");
    let (last_epoch, last) = *entropy.last()?;
    let kl = curve(&t.log, "teacher_student_kl").last().map(|p| p.1);
    let spread =
        curve(&t.log, "teacher_logit_spread").last().map(|p| format!(", logit spread {:.3}", p.1)).unwrap_or_default();
    let params = if t.params.is_empty() { String::new() } else { format!(" [{}]", t.params) };
    let who = format!("**{}**{params} (seed {})", t.representation, t.seed);
    if last >= UNIFORM_ENTROPY {
        return Some(format!(
            "{who}: the teacher ended uniform — collapsed (entropy / ln K {last:.3} at epoch {last_epoch}{spread}); its features carry little of the data and its scores are those of a failed run, not of the method."
        ));
    }
    if last <= ONE_PROTOTYPE_ENTROPY && kl.is_some_and(|k| k <= ONE_PROTOTYPE_KL) {
        return Some(format!(
            "{who}: the teacher ended on one prototype — collapsed (entropy / ln K {last:.3}, KL {:.1e} at epoch {last_epoch}); its scores are those of a failed run.",
            kl.unwrap_or(0.0)
        ));
    }
    let (min_epoch, min) = entropy.iter().copied().min_by(|a, b| a.1.total_cmp(&b.1))?;
    if last - min >= REBOUND {
        return Some(format!(
            "{who}: the teacher left the uniform plateau (entropy / ln K {min:.3} at epoch {min_epoch}) and went back towards it ({last:.3} at epoch {last_epoch}{spread}): the features come from a degrading teacher — the training curves show when it turned; a shorter run or another schedule may give better ones."
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::trainer::EpochLog;
    use serde_json::json;

    fn epoch(epoch: usize, diagnostics: serde_json::Value) -> EpochLog {
        serde_json::from_value(json!({"epoch": epoch, "loss": 1.0, "lr": 1e-3, "seconds": 1.0, "images_per_s": 10.0, "diagnostics": diagnostics}))
            .unwrap()
    }

    fn record(entropy: &[f64], kl: f64) -> TrainLogRecord {
        let log = entropy
            .iter()
            .enumerate()
            .map(|(i, h)| {
                epoch(i + 1, json!({"teacher_entropy": h, "teacher_student_kl": kl, "teacher_logit_spread": 1.0}))
            })
            .collect();
        TrainLogRecord { representation: "dino".into(), seed: 3, params: String::new(), log }
    }

    #[test]
    fn uniform_one_prototype_and_rebound_are_flagged() {
        let uniform = warning(&record(&[0.7, 0.3, 0.95, 0.999], 0.0)).expect("uniform");
        assert!(
            uniform.contains("ended uniform") && uniform.contains("0.999 at epoch 4") && uniform.contains("seed 3"),
            "{uniform}"
        );
        let one = warning(&record(&[0.7, 0.2, 0.01], 1e-4)).expect("one prototype");
        assert!(one.contains("one prototype"), "{one}");
        let rebound = warning(&record(&[0.75, 0.14, 0.5, 0.78], 0.2)).expect("rebound");
        assert!(rebound.contains("0.140 at epoch 2") && rebound.contains("0.780 at epoch 4"), "{rebound}");
    }

    #[test]
    fn healthy_runs_and_methods_without_diagnostics_are_not_flagged() {
        // Falling entropy, a small wobble, a confident teacher that still disagrees
        // with the student, and the plateau a short run stays on (0.957 < 0.99).
        assert_eq!(warning(&record(&[0.75, 0.4, 0.3, 0.35], 0.5)), None);
        assert_eq!(warning(&record(&[0.7, 0.2, 0.01], 0.8)), None);
        assert_eq!(warning(&record(&[0.955, 0.96, 0.957], 0.02)), None);
        let plain = TrainLogRecord {
            representation: "sup".into(),
            seed: 0,
            params: String::new(),
            log: vec![epoch(1, json!({}))],
        };
        assert_eq!(warning(&plain), None);
    }
}
