//! repbench: reproducible comparisons of learned and hand-engineered representations.
//!
//! The pipeline, module by module:
//! `spec` (the suite file) → `data` (datasets, fingerprints, splits) →
//! `represent` (fit on train, embed every split) → `eval` (probes on frozen
//! features) → `cache` + `runner` (content-addressed stages, executed lazily) →
//! `report` (tables, statistics, plots, manifest).
pub mod app;
pub mod augment;
pub mod cache;
pub mod checks;
pub mod corrupt;
pub mod data;
pub mod error;
pub mod eval;
pub mod files;
pub mod knn_vote;
pub mod methods;
pub mod nn;
pub mod report;
pub mod represent;
pub mod runner;
pub mod runtime;
pub mod spec;
pub mod state;
pub mod train;

#[cfg(test)]
mod rng_threads_test;

pub use error::{Error, Result};
