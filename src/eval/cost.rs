//! What a representation costs per image: parameters and multiply-accumulates
//! where repbench can count them (`represent::Counted`: exact for its own
//! encoders, PCA and projections; HOG and imported TorchScript are timed
//! only, and the report says so), and what is measured on this run's device —
//! embedding throughput and the memory the embedding needs.
//!
//! Throughput: the first `images` test images are embedded `batch_size` at a
//! time, from u8 pixels on the host to features on the host (transfers
//! included), after one untimed warm-up batch, in passes until `min_seconds`
//! have gone by (a fast representation embeds 2,000 images in a millisecond,
//! too short to time alone). Memory: freed heap memory is first returned to
//! the system (glibc `malloc_trim`, so reused pages do not hide a need), then
//! the resident set's high-water mark while embedding, over the resident set
//! before it (Linux `clear_refs` resets the mark); on a GPU that is host memory
//! only, which the details say. Fit time is the fit stage's, in every result row.
use super::{EvalContext, EvalOutput, Evaluation, Headline, Input, Scope};
use crate::checks::{Checker, Validate};
use crate::error::{Error, Result};
use crate::represent::RepresentationSpec;
use serde::{Deserialize, Serialize};
use std::time::Instant;
use tch::Device;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CostParams {
    /// Test images embedded for the timing (fewer if the split is smaller).
    pub images: usize,
    /// Images per embedding call.
    pub batch_size: usize,
    /// Passes over the images are repeated until this much time has gone by.
    pub min_seconds: f64,
}

impl Default for CostParams {
    fn default() -> Self {
        CostParams { images: 2000, batch_size: 256, min_seconds: 1.0 }
    }
}

impl Validate for CostParams {
    fn validate(&self, path: &str, c: &mut Checker) {
        c.positive(&format!("{path}.images"), self.images);
        c.positive(&format!("{path}.batch_size"), self.batch_size);
        c.non_negative_f(&format!("{path}.min_seconds"), self.min_seconds);
    }
}

/// Version of this evaluation's arithmetic (it enters the key).
pub const VERSION: u32 = 2;

impl Evaluation for CostParams {
    fn version(&self) -> u32 {
        VERSION
    }
    fn scope(&self) -> Scope {
        Scope::Model
    }
    fn evaluate(&self, input: &Input, ctx: &EvalContext) -> Result<EvalOutput> {
        let m = input.model()?;
        self.run(m.fitted, &m.images.test.0, ctx.device)
    }
    /// Descriptive: a cost is set against accuracy in the report's cost
    /// section (the Pareto front), not ranked on its own.
    fn headline(&self) -> Headline {
        Headline::descriptive("images_per_second")
    }
    fn applies_to(&self, rep: &RepresentationSpec) -> std::result::Result<(), String> {
        super::needs_pixels(rep, "imported embeddings are computed elsewhere: nothing here to count or time")
    }
}

impl CostParams {
    pub fn run(&self, fitted: &dyn crate::represent::Fitted, test: &tch::Tensor, device: Device) -> Result<EvalOutput> {
        let n = (self.images as i64).min(test.size()[0]);
        if n == 0 {
            return Err(Error::stage("cost: the test split is empty"));
        }
        let images = test.narrow(0, 0, n).contiguous();
        let batch = self.batch_size as i64;
        let embed = |x: &tch::Tensor| fitted.embed(x, Device::Cpu);
        let _warm = embed(&images.narrow(0, 0, batch.min(n)))?;
        let before = memory::reset_peak();
        let t = Instant::now();
        let mut passes = 0usize;
        // At most 1,000 passes: a representation that embeds nothing cannot loop long.
        while passes == 0 || (t.elapsed().as_secs_f64() < self.min_seconds && passes < 1000) {
            let mut start = 0;
            while start < n {
                let len = batch.min(n - start);
                let _f = embed(&images.narrow(0, start, len))?;
                start += len;
            }
            passes += 1;
        }
        let secs = t.elapsed().as_secs_f64();
        let peak = before.and_then(|b| memory::peak().map(|p| p.saturating_sub(b)));
        let counted = fitted.counted();
        let embedded = n as f64 * passes as f64;
        let mut metrics = vec![("images_per_second".to_string(), embedded / secs.max(1e-12))];
        if let Some(p) = counted.params {
            metrics.push(("params".into(), p as f64));
        }
        if let Some(m) = counted.macs {
            metrics.push(("macs".into(), m as f64));
        }
        if let Some(p) = peak {
            metrics.push(("peak_memory_mib".into(), p as f64 / (1024.0 * 1024.0)));
        }
        let details = serde_json::json!({
            "device": format!("{device:?}").to_lowercase(),
            "threads": tch::get_num_threads(),
            "images": n,
            "passes": passes,
            "batch_size": self.batch_size,
            "seconds": secs,
            "counted": counted.note,
            "memory": match (peak, device.is_cuda()) {
                (None, _) => "not measured (needs Linux /proc/self/clear_refs)",
                (Some(_), false) => "host resident set: its peak while embedding over its level before",
                (Some(_), true) => "host resident set only: GPU memory is not measured",
            },
        });
        Ok(EvalOutput { metrics, details })
    }
}

/// The process's resident set, from `/proc/self/status` (Linux).
mod memory {
    fn status_kib(field: &str) -> Option<u64> {
        let s = std::fs::read_to_string("/proc/self/status").ok()?;
        let line = s.lines().find(|l| l.starts_with(field))?;
        line[field.len()..].trim().trim_end_matches("kB").trim().parse().ok()
    }

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn release_free_heap() {
        extern "C" {
            fn malloc_trim(pad: usize) -> i32;
        }
        // SAFETY: glibc's malloc_trim only returns free memory to the system.
        unsafe { malloc_trim(0) };
    }

    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    fn release_free_heap() {}

    /// Returns free heap to the system, resets the high-water mark to the
    /// current resident set and returns that level in bytes; None where the
    /// kernel offers no reset.
    pub fn reset_peak() -> Option<u64> {
        release_free_heap();
        std::fs::write("/proc/self/clear_refs", "5").ok()?;
        status_kib("VmRSS:").map(|k| k * 1024)
    }

    /// The high-water mark since the last reset, in bytes.
    pub fn peak() -> Option<u64> {
        status_kib("VmHWM:").map(|k| k * 1024)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::represent::{pca::PcaParams, FitContext, Representation};
    use tch::{Kind, Tensor};

    #[test]
    fn a_pca_is_counted_exactly_and_timed() {
        let x = Tensor::randint(255, [300, 1, 8, 8], (Kind::Uint8, Device::Cpu));
        let fitted = PcaParams { components: 5 }.fit(&x, &FitContext::simple(Device::Cpu, 0)).unwrap();
        let out =
            CostParams { images: 200, batch_size: 64, min_seconds: 0.0 }.run(fitted.as_ref(), &x, Device::Cpu).unwrap();
        let get = |k: &str| out.metrics.iter().find(|m| m.0 == k).map(|m| m.1);
        assert_eq!(get("params"), Some((64 * 5 + 64) as f64));
        assert_eq!(get("macs"), Some((64 * 5) as f64));
        assert!(get("images_per_second").unwrap() > 0.0);
        assert_eq!(out.details["images"], 200);
    }

    #[test]
    fn bad_settings_name_their_field() {
        let mut c = Checker::default();
        CostParams { images: 0, batch_size: 1, min_seconds: 0.0 }.validate("evaluations.cost", &mut c);
        assert!(format!("{c:?}").contains("evaluations.cost.images"), "{c:?}");
    }
}
