//! `repbench export`: a representation of a finished suite as files Python reads.
use anyhow::Result;
use clap::{Args, ValueEnum};
use repbench::app::export::{export, ExportFormat, ExportRequest};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Clone, Copy, ValueEnum)]
pub enum FormatArg {
    /// `NAME.npz`: train/val/test features with their image ids and labels.
    Embeddings,
    /// `NAME.safetensors` + `NAME.json`: the encoder's weights and how to feed it.
    Weights,
    /// `NAME.ts.pt` + `NAME.json`: the encoder traced to TorchScript.
    Torchscript,
}

/// Export a representation of a finished suite (from the cache) as embeddings,
/// safetensors weights or TorchScript; each imports back with the same metrics.
#[derive(Args)]
pub struct ExportArgs {
    spec: PathBuf,
    /// The representation's name in the suite.
    #[arg(long, short)]
    representation: String,
    #[arg(long, value_enum)]
    format: FormatArg,
    /// Output folder.
    #[arg(long, default_value = "export")]
    out: PathBuf,
    /// The matrix point (index in `repbench plan` order), when the suite has several.
    #[arg(long)]
    point: Option<usize>,
    /// TorchScript: the batch size traced.
    #[arg(long, default_value_t = 256)]
    batch_size: i64,
    #[arg(long)]
    cache: Option<PathBuf>,
}

impl ExportArgs {
    pub fn run(self) -> Result<ExitCode> {
        let format = match self.format {
            FormatArg::Embeddings => ExportFormat::Embeddings,
            FormatArg::Weights => ExportFormat::Weights,
            FormatArg::Torchscript => ExportFormat::Torchscript,
        };
        let req = ExportRequest {
            spec: &self.spec,
            cache: self.cache.as_deref(),
            representation: &self.representation,
            point: self.point,
            format,
            out: &self.out,
            batch_size: self.batch_size,
        };
        for f in export(&req)? {
            println!("{}", f.display());
        }
        Ok(ExitCode::SUCCESS)
    }
}
