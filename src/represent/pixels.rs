//! Pixel helpers shared by the representations.
use crate::error::Result;
use tch::{Device, Kind, Tensor};

/// u8 N×C×H×W → f32 N×(C·H·W) in [0, 1], on `device`.
pub fn to_unit_float(images: &Tensor, device: Device) -> Tensor {
    images.to_device(device).to_kind(Kind::Float).flatten(1, -1) / 255.0
}

/// Applies `f` to chunks of `batch` images and concatenates the results, so that
/// embedding a large split never holds more than one chunk's intermediates.
pub fn in_batches(images: &Tensor, batch: i64, mut f: impl FnMut(&Tensor) -> Result<Tensor>) -> Result<Tensor> {
    let n = images.size()[0];
    let mut parts = Vec::new();
    let mut start = 0;
    while start < n {
        let len = batch.min(n - start);
        parts.push(f(&images.narrow(0, start, len))?);
        start += len;
    }
    if parts.is_empty() {
        return f(images);
    }
    Ok(Tensor::cat(&parts, 0))
}
