//! Representations: each kind has typed parameters that fit on the training split
//! and return a fitted representation that only embeds (params → fit → fitted).
//!
//! The fitted state is a list of named tensors, saved to the cache as safetensors,
//! so a later run embeds without fitting again.
pub mod hog;
pub mod pca;
pub mod pixels;
pub mod random_projection;
pub mod raw;

use crate::error::{Error, Result};
use crate::spec::validate::{Checker, Validate};
use serde::{Deserialize, Serialize};
use tch::{Device, Tensor};

/// A representation as written in a suite, selected by `kind:`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RepresentationSpec {
    Raw(raw::RawParams),
    Pca(pca::PcaParams),
    Hog(hog::HogParams),
    RandomProjection(random_projection::RandomProjectionParams),
}

/// What a fit may use besides the training images.
#[derive(Debug, Clone, Copy)]
pub struct FitContext {
    pub device: Device,
    pub seed: u64,
}

/// A fitted representation: embeds u8 images (N×C×H×W, CPU) into f32 N×D features.
pub trait Fitted: Send {
    fn embed(&self, images: &Tensor, device: Device) -> Result<Tensor>;
    /// The fitted state, as named tensors (empty for stateless representations).
    fn state(&self) -> Vec<(String, Tensor)>;
}

impl RepresentationSpec {
    pub fn kind(&self) -> &'static str {
        match self {
            RepresentationSpec::Raw(_) => "raw",
            RepresentationSpec::Pca(_) => "pca",
            RepresentationSpec::Hog(_) => "hog",
            RepresentationSpec::RandomProjection(_) => "random_projection",
        }
    }

    /// Fits on the training images (u8, N×C×H×W).
    pub fn fit(&self, train: &Tensor, ctx: &FitContext) -> Result<Box<dyn Fitted>> {
        Ok(match self {
            RepresentationSpec::Raw(p) => Box::new(p.fit()),
            RepresentationSpec::Pca(p) => Box::new(p.fit(train, ctx)?),
            RepresentationSpec::Hog(p) => Box::new(p.fit(train)?),
            RepresentationSpec::RandomProjection(p) => Box::new(p.fit(train, ctx)?),
        })
    }

    /// Rebuilds the fitted representation from its saved state.
    pub fn restore(&self, state: Vec<(String, Tensor)>) -> Result<Box<dyn Fitted>> {
        let get = |name: &str| -> Result<Tensor> {
            state
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, t)| t.shallow_clone())
                .ok_or_else(|| Error::stage(format!("fitted {} state lacks tensor `{name}`", self.kind())))
        };
        Ok(match self {
            RepresentationSpec::Raw(p) => Box::new(p.fit()),
            RepresentationSpec::Hog(p) => Box::new(p.fitted()),
            RepresentationSpec::Pca(_) => Box::new(pca::FittedPca { mean: get("mean")?, components: get("components")? }),
            RepresentationSpec::RandomProjection(_) => Box::new(random_projection::FittedProjection { matrix: get("matrix")? }),
        })
    }
}

impl Validate for RepresentationSpec {
    fn validate(&self, path: &str, c: &mut Checker) {
        match self {
            RepresentationSpec::Raw(_) => {}
            RepresentationSpec::Pca(p) => c.positive(&format!("{path}.components"), p.components),
            RepresentationSpec::Hog(p) => p.validate(path, c),
            RepresentationSpec::RandomProjection(p) => c.positive(&format!("{path}.dims"), p.dims),
        }
    }
}
