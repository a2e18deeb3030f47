//! `repbench cache ls | verify | gc`.
use anyhow::Result;
use clap::{Args, Subcommand};
use repbench::app::cache_cmd;
use repbench::cache::store::Store;
use std::path::PathBuf;
use std::process::ExitCode;

/// Inspect the cache: `ls` lists entries, `verify` re-hashes every artifact.
#[derive(Args)]
pub struct CacheArgs {
    #[command(subcommand)]
    action: CacheAction,
    /// Cache folder (default $REPBENCH_CACHE or .repbench/cache).
    #[arg(long, global = true)]
    cache: Option<PathBuf>,
}

#[derive(Subcommand)]
enum CacheAction {
    /// One line per entry: key, stage, size, age, what it is.
    Ls,
    /// Recompute each artifact's sha256; quarantine entries that do not match.
    Verify,
    /// Delete entries that no given suite or run directory needs (and that are
    /// older than --keep-newer-than), stale temp folders and the quarantine.
    Gc {
        /// Suite files (.yaml) and run directories whose entries to keep.
        #[arg(long = "keep", value_name = "SPEC_OR_RUN_DIR")]
        keep: Vec<PathBuf>,
        /// Also keep every entry younger than this many days.
        #[arg(long, value_name = "DAYS")]
        keep_newer_than: Option<f64>,
        /// Only list what would be deleted.
        #[arg(long)]
        dry_run: bool,
    },
}

impl CacheArgs {
    pub fn run(self) -> Result<ExitCode> {
        let root = self.cache.unwrap_or_else(Store::default_root);
        let printed = match self.action {
            CacheAction::Ls => cache_cmd::ls(&root)?,
            CacheAction::Verify => cache_cmd::verify(&root)?,
            CacheAction::Gc { keep, keep_newer_than, dry_run } => {
                cache_cmd::gc(&root, &keep, keep_newer_than, dry_run)?
            }
        };
        Ok(super::emit(printed))
    }
}
