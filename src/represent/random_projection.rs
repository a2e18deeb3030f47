//! Gaussian random projection of raw pixels (Johnson–Lindenstrauss): a
//! data-independent baseline that keeps distances approximately.
use super::{pixels, FitContext, Fitted, Representation};
use crate::checks::Checker;
use crate::error::Result;
use crate::state::NamedTensors;
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RandomProjectionParams {
    /// Output dimension.
    pub dims: usize,
}

impl Default for RandomProjectionParams {
    fn default() -> Self {
        RandomProjectionParams { dims: 256 }
    }
}

pub struct FittedProjection {
    /// D×K with entries N(0, 1/K).
    pub matrix: Tensor,
}

/// Version of the projection's arithmetic (see `Representation::version`).
pub const VERSION: u32 = 1;

impl Representation for RandomProjectionParams {
    fn version(&self) -> u32 {
        VERSION
    }
    fn fit(&self, train: &Tensor, ctx: &FitContext) -> Result<Box<dyn Fitted>> {
        Ok(Box::new(self.fit_projection(train, ctx)?))
    }
    fn restore(&self, state: &NamedTensors, _device: Device) -> Result<Box<dyn Fitted>> {
        Ok(Box::new(FittedProjection { matrix: state.require("matrix", "fitted random_projection state")? }))
    }
    fn check(&self, path: &str, c: &mut Checker) {
        c.positive(&format!("{path}.dims"), self.dims);
    }
    fn reads_pixels(&self) -> bool {
        false
    }
}

impl RandomProjectionParams {
    /// Only the input dimension is taken from the data; the matrix comes from the
    /// cell's seed through a private libtorch generator.
    pub fn fit_projection(&self, train: &Tensor, ctx: &FitContext) -> Result<FittedProjection> {
        let d = train.size()[1..].iter().product::<i64>();
        let k = self.dims as i64;
        let matrix = crate::runtime::seeding::with_torch_seed(ctx.seed, || {
            Tensor::randn([d, k], (Kind::Float, Device::Cpu)) / (k as f64).sqrt()
        });
        Ok(FittedProjection { matrix })
    }
}

impl Fitted for FittedProjection {
    fn embed(&self, images: &Tensor, device: Device) -> Result<Tensor> {
        let w = self.matrix.to_device(device);
        pixels::in_batches(images, 8192, |b| Ok(pixels::to_unit_float(b, device).matmul(&w)))
    }
    fn state(&self) -> Vec<(String, Tensor)> {
        vec![("matrix".into(), self.matrix.shallow_clone())]
    }
    fn counted(&self) -> super::Counted {
        let (d, k) = (self.matrix.size()[0] as u64, self.matrix.size()[1] as u64);
        super::Counted::exact(d * k, d * k, "a D×K projection")
    }
}
