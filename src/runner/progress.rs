//! Progress: a bar on a terminal, plain lines otherwise (logs, CI, pipes).
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};

pub struct Progress {
    bar: Option<ProgressBar>,
    total: u64,
    done: AtomicU64,
    quiet: bool,
}

impl Progress {
    pub fn new(total: u64, quiet: bool) -> Progress {
        let bar = if !quiet && std::io::stderr().is_terminal() {
            let b = ProgressBar::new(total);
            if let Ok(style) = ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}")
            {
                b.set_style(style);
            }
            Some(b)
        } else {
            None
        };
        Progress { bar, total, done: AtomicU64::new(0), quiet }
    }

    /// Marks one unit done with a message.
    pub fn step(&self, msg: &str) {
        let n = self.done.fetch_add(1, Ordering::SeqCst) + 1;
        match &self.bar {
            Some(b) => {
                b.set_message(msg.to_string());
                b.inc(1);
            }
            None if !self.quiet => eprintln!("[{n}/{}] {msg}", self.total),
            None => {}
        }
    }

    /// A line that stays (the bar redraws below it).
    pub fn line(&self, msg: &str) {
        match &self.bar {
            Some(b) => b.println(msg),
            None if !self.quiet => eprintln!("{msg}"),
            None => {}
        }
    }

    /// An error line: printed even with `--quiet` (a failed cell must be seen).
    pub fn error(&self, msg: &str) {
        match &self.bar {
            Some(b) => b.println(msg),
            None => eprintln!("{msg}"),
        }
    }

    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}
