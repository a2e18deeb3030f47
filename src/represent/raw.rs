//! Raw pixels scaled to [0, 1]: the baseline every other representation must beat.
use super::{pixels, FitContext, Fitted, Representation};
use crate::checks::Checker;
use crate::error::Result;
use crate::state::NamedTensors;
use serde::{Deserialize, Serialize};
use tch::{Device, Tensor};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawParams {}

pub struct FittedRaw;

/// Version of the pixel scaling (see `Representation::version`).
pub const VERSION: u32 = 1;

impl Representation for RawParams {
    fn version(&self) -> u32 {
        VERSION
    }
    fn fit(&self, _train: &Tensor, _ctx: &FitContext) -> Result<Box<dyn Fitted>> {
        Ok(Box::new(FittedRaw))
    }
    fn restore(&self, _state: &NamedTensors, _device: Device) -> Result<Box<dyn Fitted>> {
        Ok(Box::new(FittedRaw))
    }
    fn check(&self, _path: &str, _c: &mut Checker) {}
    fn reads_pixels(&self) -> bool {
        false
    }
}

impl Fitted for FittedRaw {
    fn embed(&self, images: &Tensor, device: Device) -> Result<Tensor> {
        Ok(pixels::to_unit_float(images, device))
    }
    fn state(&self) -> Vec<(String, Tensor)> {
        Vec::new()
    }
    fn counted(&self) -> super::Counted {
        super::Counted::exact(0, 0, "the pixels scaled to [0, 1]: nothing to multiply")
    }
}
