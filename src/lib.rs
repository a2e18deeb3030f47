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
pub mod cluster;
pub mod data;
pub mod determinism;
pub mod device;
pub mod environment;
pub mod error;
pub mod eval;
pub mod interrupt;
pub mod methods;
pub mod nn;
pub mod report;
pub mod represent;
pub mod runner;
pub mod seeding;
pub mod spec;
pub mod train;

pub use error::{Error, Result};
