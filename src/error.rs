//! The library's error type. Every variant names what the user has to look at:
//! a spec file with its line and column, a data file, a cache path.
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A problem in a suite file, located at `file:line:column` where it is known.
    #[error("{file}{loc}: {msg}", loc = fmt_loc(*.line, *.column))]
    Spec { file: PathBuf, line: Option<usize>, column: Option<usize>, msg: String },

    /// A dataset file that cannot be read as what it claims to be.
    #[error("{file}: {msg}")]
    Data { file: PathBuf, msg: String },

    /// Filesystem errors, with the path involved.
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },

    /// Errors from libtorch.
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),

    /// A stage whose computation failed (divergence, bad shapes, ...).
    #[error("{0}")]
    Stage(String),

    /// An evaluation that does not apply to a representation (e.g. attention maps
    /// of a ConvNet, fine-tuning HOG). The runner lists it as skipped, not failed.
    #[error("not applicable: {0}")]
    NotApplicable(String),

    /// The user pressed Ctrl-C; what finished is kept.
    #[error("interrupted")]
    Interrupted,

    /// A command-line request that cannot be carried out as asked.
    #[error("{0}")]
    Usage(String),

    /// Anything from the cache store.
    #[error("cache {path}: {msg}")]
    Cache { path: PathBuf, msg: String },
}

fn fmt_loc(line: Option<usize>, column: Option<usize>) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!(":{l}:{c}"),
        (Some(l), None) => format!(":{l}"),
        _ => String::new(),
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }
    pub fn data(file: impl Into<PathBuf>, msg: impl Into<String>) -> Self {
        Error::Data { file: file.into(), msg: msg.into() }
    }
    pub fn stage(msg: impl Into<String>) -> Self {
        Error::Stage(msg.into())
    }
    pub fn usage(msg: impl Into<String>) -> Self {
        Error::Usage(msg.into())
    }
}

/// Adds the path to an `io::Result`.
pub trait IoContext<T> {
    fn at(self, path: &std::path::Path) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn at(self, path: &std::path::Path) -> Result<T> {
        self.map_err(|e| Error::io(path, e))
    }
}
