//! Reading a suite file, with errors that point at the line to fix.
//!
//! serde reports an unknown key as "unknown field `epoch`, expected one of ...";
//! we turn that into "did you mean `epochs`?" and move the location onto the
//! offending key (serde_yaml locates errors inside tagged entries at the entry's
//! start).
use super::Suite;
use crate::checks::nearest;
use crate::error::{Error, IoContext, Result};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// A parsed suite with the text it came from.
#[derive(Debug, Clone)]
pub struct LoadedSuite {
    pub path: PathBuf,
    pub text: String,
    pub sha256: String,
    pub suite: Suite,
    /// Seeds given on the command line (`repbench run --seeds 5-9`) in place of
    /// the suite's: a seed extension needs no copied suite. Recorded in the manifest.
    pub seeds_override: Option<Vec<u64>>,
}

impl LoadedSuite {
    /// The seeds the suite file declares (its `matrix.seed`, else its `seed`):
    /// the seed plan, whatever `--seeds` runs of it.
    pub fn planned_seeds(&self) -> Vec<u64> {
        parse_str(&self.path, &self.text).map(|s| s.seed_list()).unwrap_or_else(|_| self.suite.seed_list())
    }

    /// The suite with `matrix.seed` replaced by `seeds` (an axis added first
    /// when the suite varies no seed); every other setting is the file's.
    pub fn with_seeds(mut self, seeds: Vec<u64>) -> LoadedSuite {
        let values: Vec<serde_yaml::Value> = seeds.iter().map(|&s| serde_yaml::Value::from(s)).collect();
        if let Some(axis) = self.suite.matrix.get_mut("seed") {
            *axis = values;
        } else {
            self.suite.matrix.shift_insert(0, "seed".to_string(), values);
        }
        self.seeds_override = Some(seeds);
        self
    }
}

/// Parses a seed list as `repbench run --seeds` takes it: `5-9`, `0,2,4` or
/// `0-2,7` (ranges inclusive); no seed twice.
pub fn parse_seeds(text: &str) -> std::result::Result<Vec<u64>, String> {
    let mut seeds = Vec::new();
    for part in text.split(',').map(str::trim) {
        let num = |s: &str| s.trim().parse::<u64>().map_err(|_| format!("`{s}` is not a seed (a whole number ≥ 0)"));
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (num(a)?, num(b)?);
                if a > b {
                    return Err(format!("`{part}`: the range runs backwards"));
                }
                if b - a >= 10_000 {
                    return Err(format!("`{part}`: more than 10,000 seeds"));
                }
                seeds.extend(a..=b);
            }
            None => seeds.push(num(part)?),
        }
    }
    let mut sorted = seeds.clone();
    sorted.sort_unstable();
    if let Some(w) = sorted.windows(2).find(|w| w[0] == w[1]) {
        return Err(format!("seed {} is given twice", w[0]));
    }
    Ok(seeds)
}

/// Suite files larger than this are refused before parsing.
const MAX_SPEC_BYTES: u64 = 1 << 20;

pub fn load_file(path: &Path) -> Result<LoadedSuite> {
    let meta = std::fs::metadata(path).at(path)?;
    if meta.len() > MAX_SPEC_BYTES {
        return Err(spec_err(path, None, format!("suite file is {} bytes; the limit is {MAX_SPEC_BYTES}", meta.len())));
    }
    let text = std::fs::read_to_string(path).at(path)?;
    let suite = parse_str(path, &text)?;
    super::validate::check(path, &text, &suite)?;
    let sha256 = hex::encode(Sha256::digest(text.as_bytes()));
    Ok(LoadedSuite { path: path.to_path_buf(), text, sha256, suite, seeds_override: None })
}

/// Parses without range checks (the `file` only names errors).
pub fn parse_str(file: &Path, text: &str) -> Result<Suite> {
    serde_yaml::from_str::<Suite>(text).map_err(|e| yaml_error(file, text, &e))
}

pub fn spec_err(file: &Path, loc: Option<(usize, usize)>, msg: String) -> Error {
    Error::Spec { file: file.to_path_buf(), line: loc.map(|l| l.0), column: loc.map(|l| l.1), msg }
}

/// Converts a serde_yaml error into a located spec error with a suggestion.
pub fn yaml_error(file: &Path, text: &str, e: &serde_yaml::Error) -> Error {
    let mut msg = e.to_string();
    // serde_yaml appends " at line L column C"; we print the location ourselves.
    if let Some(i) = msg.find(" at line ") {
        msg.truncate(i);
    }
    let mut loc = e.location().map(|l| (l.line(), l.column()));
    if let Some((bad, valid)) = parse_unknown(&msg) {
        if let Some(found) = find_key_from(text, &bad, loc.map(|l| l.0).unwrap_or(1)) {
            loc = Some(found);
        }
        let prefix = msg.split("unknown ").next().unwrap_or("").to_string();
        let what = if msg.contains("unknown variant") { "value" } else { "field" };
        msg = match nearest(&bad, &valid) {
            Some(best) => format!("{prefix}unknown {what} `{bad}`, did you mean `{best}`?"),
            None if valid.is_empty() => format!("{prefix}unknown {what} `{bad}`: this entry takes no settings"),
            None => format!(
                "{prefix}unknown {what} `{bad}`; valid: {}",
                valid.iter().map(|v| format!("`{v}`")).collect::<Vec<_>>().join(", ")
            ),
        };
    } else if msg.contains("repetition limit exceeded") || msg.contains("recursion limit exceeded") {
        // serde_yaml's guard against alias bombs ("billion laughs") and deep nesting.
        let first_alias = text.find('*').map(|i| {
            let line = text[..i].matches('\n').count() + 1;
            (line, i - text[..i].rfind('\n').map(|j| j + 1).unwrap_or(0) + 1)
        });
        loc = loc.or(first_alias);
        msg = format!(
            "{msg}: the YAML aliases (`*name`) or nesting expand too far (an alias bomb?); repbench refuses such files"
        );
    } else if let Some(bad) = quoted_value(&msg) {
        // "invalid value: integer `-3`, expected usize": serde_yaml points at the
        // enclosing entry; move to the line holding the value.
        let from = loc.map(|l| l.0).unwrap_or(1);
        if let Some(found) = find_value_from(text, &bad, from) {
            loc = Some(found);
        }
    }
    spec_err(file, loc, msg)
}

/// The `x` of "invalid value: integer `x`, ..." / "invalid type: ...".
fn quoted_value(msg: &str) -> Option<String> {
    let i = msg.find("invalid value: ").or_else(|| msg.find("invalid type: "))?;
    let rest = &msg[i..];
    let a = rest.find('`')? + 1;
    let b = rest[a..].find('`')? + a;
    Some(rest[a..b].to_string())
}

/// The first `key: value` (block or flow style) on or after line `from` whose value is `value`.
fn find_value_from(text: &str, value: &str, from: usize) -> Option<(usize, usize)> {
    for (i, line) in text.lines().enumerate().skip(from.saturating_sub(1)) {
        for pat in [format!(": {value}"), format!(":{value}")] {
            if let Some(pos) = line.find(&pat) {
                let end = pos + pat.len();
                let next = line[end..].chars().next();
                if matches!(next, None | Some(',' | '}' | ' ' | ']' | '#')) {
                    return Some((i + 1, pos + pat.len() - value.len() + 1));
                }
            }
        }
    }
    None
}

/// From "unknown field `x`, expected one of `a`, `b`" returns ("x", ["a", "b"]).
fn parse_unknown(msg: &str) -> Option<(String, Vec<String>)> {
    let start =
        msg.find("unknown field `").map(|i| i + 15).or_else(|| msg.find("unknown variant `").map(|i| i + 17))?;
    let rest = &msg[start..];
    let end = rest.find('`')?;
    let bad = rest[..end].to_string();
    let valid = rest[end + 1..].split('`').skip(1).step_by(2).map(str::to_string).collect();
    Some((bad, valid))
}

/// Finds `key:` (or `- key:`) or a value `key` on or after line `from` (1-based);
/// returns its (line, column), 1-based.
pub fn find_key_from(text: &str, key: &str, from: usize) -> Option<(usize, usize)> {
    for (i, line) in text.lines().enumerate().skip(from.saturating_sub(1)) {
        let trimmed = line.trim_start();
        let body = trimmed.strip_prefix("- ").unwrap_or(trimmed);
        let col = line.len() - body.len() + 1;
        if let Some(rest) = body.strip_prefix(key) {
            if rest.trim_start().starts_with(':') {
                return Some((i + 1, col));
            }
        }
        // `kind: pcaa` — an unknown variant appears as a value.
        if let Some(pos) = body.find(&format!(": {key}")) {
            if body[pos + 2 + key.len()..].trim().is_empty() {
                return Some((i + 1, col + pos + 2));
            }
        }
    }
    None
}

/// Finds the line of a dotted field path (`representations.pca.components`) by
/// looking for each segment in turn.
pub fn find_path(text: &str, path: &str) -> Option<(usize, usize)> {
    let mut from = 1;
    let mut found = None;
    for seg in path.split('.') {
        let seg = seg.split('[').next().unwrap_or(seg);
        match find_key_from(text, seg, from) {
            Some((l, c)) => {
                found = Some((l, c));
                from = l;
            }
            None => return found,
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_nearest_key() {
        assert_eq!(nearest("epoch", &["epochs".into(), "lr".into()]), Some("epochs".into()));
        assert_eq!(nearest("zzz", &["epochs".into(), "lr".into()]), None);
    }

    #[test]
    fn parses_serde_unknown_messages() {
        let (bad, valid) = parse_unknown("unknown field `epoch`, expected one of `epochs`, `lr`").unwrap();
        assert_eq!(bad, "epoch");
        assert_eq!(valid, vec!["epochs", "lr"]);
        let (bad, valid) = parse_unknown("unknown field `x`, expected `k`").unwrap();
        assert_eq!((bad.as_str(), valid), ("x", vec!["k".to_string()]));
    }

    #[test]
    fn null_in_a_method_train_clears_its_default() {
        let text = "suite: s\ndataset: {name: fashion-mnist}\nrepresentations:\n  d:\n    kind: dino\n    train: {batch_size: 128, grad_clip: null, weight_decay_end: null, lr_reference_batch: null, optimizer: {kind: sgd, lr: 0.06, weight_decay: 0.0005}}\nevaluations:\n  knn: {kind: knn}\n";
        let suite = parse_str(Path::new("s.yaml"), text).unwrap();
        let crate::represent::RepresentationSpec::Dino(d) = &suite.representations["d"] else { panic!("not dino") };
        assert_eq!(d.train.lr_reference_batch, None);
        assert_eq!(d.train.weight_decay_end, None);
        assert_eq!(d.train.grad_clip, None);
        assert_eq!(d.train.peak_lr(128), 0.06);
        // The suite is re-read from its serialized form for each matrix cell: a
        // `null` (or `global`) given over DINO's own default must survive that.
        let text = text.replace("grad_clip: null", "grad_clip_mode: global") + "matrix:\n  seed: [0]\n";
        let base = parse_str(Path::new("s.yaml"), &text).unwrap();
        let cells = super::super::matrix::expand(Path::new("s.yaml"), &text, &base).unwrap();
        let crate::represent::RepresentationSpec::Dino(c) = &cells[0].suite.representations["d"] else {
            panic!("not dino")
        };
        assert_eq!(c.train.lr_reference_batch, None);
        assert_eq!(c.train.weight_decay_end, None);
        assert_eq!(c.train.grad_clip_mode, crate::train::trainer::ClipMode::Global);
    }

    #[test]
    fn out_of_type_value_is_located_on_its_line() {
        let text = "suite: s\ndataset: {name: fashion-mnist}\nrepresentations:\n  p:\n    kind: pca\n    components: -3\nevaluations:\n  knn: {kind: knn}\n";
        let e = parse_str(Path::new("s.yaml"), text).unwrap_err().to_string();
        assert!(e.starts_with("s.yaml:6:17:") && e.contains("-3"), "{e}");
    }

    #[test]
    fn unknown_kind_suggests_the_nearest() {
        let text = "suite: s\ndataset: {name: fashion-mnist}\nrepresentations:\n  p: {kind: pcaa}\nevaluations:\n  knn: {kind: knn}\n";
        let e = parse_str(Path::new("s.yaml"), text).unwrap_err().to_string();
        assert!(e.contains("s.yaml:4:") && e.contains("unknown value `pcaa`, did you mean `pca`?"), "{e}");
    }

    #[test]
    fn finds_keys_and_paths() {
        let text = "a:\n  b:\n    c: 1\n  d: 2\n";
        assert_eq!(find_key_from(text, "c", 1), Some((3, 5)));
        assert_eq!(find_path(text, "a.d"), Some((4, 3)));
    }
}
