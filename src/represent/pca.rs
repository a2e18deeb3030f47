//! PCA on raw pixels, fitted on the training split only.
//!
//! The covariance is formed in f64 and diagonalised with `linalg_eigh`; each
//! component's sign is fixed (largest-magnitude entry positive) so the same data
//! always gives the same embedding, whatever the eigensolver returns.
use super::{pixels, FitContext, Fitted, Representation};
use crate::checks::Checker;
use crate::error::{Error, Result};
use crate::state::NamedTensors;
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PcaParams {
    /// Number of principal components kept.
    pub components: usize,
}

impl Default for PcaParams {
    fn default() -> Self {
        PcaParams { components: 64 }
    }
}

pub struct FittedPca {
    pub mean: Tensor,
    /// D×K, columns sorted by decreasing variance.
    pub components: Tensor,
}

/// Version of the PCA arithmetic (see `Representation::version`).
pub const VERSION: u32 = 1;

impl Representation for PcaParams {
    fn version(&self) -> u32 {
        VERSION
    }
    fn fit(&self, train: &Tensor, ctx: &FitContext) -> Result<Box<dyn Fitted>> {
        Ok(Box::new(self.fit_pca(train, ctx)?))
    }
    fn restore(&self, state: &NamedTensors, _device: Device) -> Result<Box<dyn Fitted>> {
        let what = "fitted pca state";
        Ok(Box::new(FittedPca { mean: state.require("mean", what)?, components: state.require("components", what)? }))
    }
    fn check(&self, path: &str, c: &mut Checker) {
        c.positive(&format!("{path}.components"), self.components);
    }
}

impl PcaParams {
    /// Principal components of the training pixels, in float64 (signs fixed so
    /// the largest loading of each component is positive).
    pub fn fit_pca(&self, train: &Tensor, ctx: &FitContext) -> Result<FittedPca> {
        let x = pixels::to_unit_float(train, ctx.device).to_kind(Kind::Double);
        let (n, d) = (x.size()[0], x.size()[1]);
        let k = self.components as i64;
        if k > d {
            return Err(Error::stage(format!("pca: components = {k} but the images have only {d} pixels")));
        }
        if n < 2 {
            return Err(Error::stage("pca: needs at least 2 training images"));
        }
        let mean = x.mean_dim(0, false, Kind::Double);
        let xc = &x - &mean;
        let cov = xc.transpose(0, 1).matmul(&xc) / ((n - 1) as f64);
        let (_vals, vecs) = cov.f_linalg_eigh("L")?;
        // eigh sorts ascending: take the last k columns, largest first.
        let top = vecs.narrow(1, d - k, k).flip([1]);
        let idx = top.abs().argmax(0, true);
        let signs = top.gather(0, &idx, false).sign();
        let top = &top * signs;
        Ok(FittedPca { mean: mean.to_kind(Kind::Float), components: top.to_kind(Kind::Float) })
    }
}

impl Fitted for FittedPca {
    fn embed(&self, images: &Tensor, device: Device) -> Result<Tensor> {
        let (m, w) = (self.mean.to_device(device), self.components.to_device(device));
        pixels::in_batches(images, 8192, |b| Ok((pixels::to_unit_float(b, device) - &m).matmul(&w)))
    }
    fn state(&self) -> Vec<(String, Tensor)> {
        vec![("mean".into(), self.mean.shallow_clone()), ("components".into(), self.components.shallow_clone())]
    }
    /// The mean and the D×K projection are its parameters; one product per image.
    fn counted(&self) -> super::Counted {
        let (d, k) = (self.components.size()[0] as u64, self.components.size()[1] as u64);
        super::Counted::exact(d * k + d, d * k, "a D×K projection after centring")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovers_the_direction_of_largest_variance() {
        // Points spread along pixel 0 (large) and pixel 1 (small): the first
        // component must be ±e0, and embeddings are centred.
        let mut data = Vec::new();
        for i in 0..50u8 {
            data.extend_from_slice(&[i * 5, 100 + (i % 3), 7, 7]);
        }
        let x = Tensor::from_slice(&data).view([50, 1, 2, 2]);
        let ctx = FitContext::simple(Device::Cpu, 0);
        let f = PcaParams { components: 2 }.fit_pca(&x, &ctx).unwrap();
        let c0: Vec<f32> = Vec::try_from(f.components.select(1, 0)).unwrap();
        assert!((c0[0] - 1.0).abs() < 1e-4, "{c0:?}");
        assert!(c0[1].abs() < 1e-3 && c0[2].abs() < 1e-6);
        let e = f.embed(&x, Device::Cpu).unwrap();
        assert_eq!(e.size(), vec![50, 2]);
        let mean: f64 = e.mean_dim(0, false, Kind::Float).abs().max().double_value(&[]);
        assert!(mean < 1e-4);
    }

    #[test]
    fn too_many_components_is_an_error() {
        let x = Tensor::zeros([4, 1, 2, 2], (Kind::Uint8, Device::Cpu));
        let ctx = FitContext::simple(Device::Cpu, 0);
        assert!(PcaParams { components: 5 }.fit_pca(&x, &ctx).is_err());
    }
}
