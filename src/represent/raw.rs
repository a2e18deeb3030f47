//! Raw pixels scaled to [0, 1]: the baseline every other representation must beat.
use super::{pixels, Fitted};
use crate::error::Result;
use serde::{Deserialize, Serialize};
use tch::{Device, Tensor};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawParams {}

pub struct FittedRaw;

impl RawParams {
    pub fn fit(&self) -> FittedRaw {
        FittedRaw
    }
}

impl Fitted for FittedRaw {
    fn embed(&self, images: &Tensor, device: Device) -> Result<Tensor> {
        Ok(pixels::to_unit_float(images, device))
    }
    fn state(&self) -> Vec<(String, Tensor)> {
        Vec::new()
    }
}
