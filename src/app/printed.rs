//! What a command prints: its standard output, its standard error and its exit
//! status, returned by the library so the binary only writes them out.

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Printed {
    pub stdout: String,
    pub stderr: String,
    /// The exit status (0 = success).
    pub code: u8,
}

impl Printed {
    /// Appends a line to standard output.
    pub fn out(&mut self, line: impl AsRef<str>) {
        self.stdout.push_str(line.as_ref());
        self.stdout.push('\n');
    }
    /// Appends a line to standard error.
    pub fn err(&mut self, line: impl AsRef<str>) {
        self.stderr.push_str(line.as_ref());
        self.stderr.push('\n');
    }
}
