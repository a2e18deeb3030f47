//! A suite file: parse, range-check and expand the matrix. Any input must give
//! Ok or a located error — never a panic, a hang or unbounded memory.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let file = Path::new("fuzz.yaml");
    if let Ok(suite) = repbench::spec::load::parse_str(file, text) {
        if repbench::spec::validate::check(file, text, &suite).is_ok() {
            let _ = repbench::spec::matrix::expand(file, text, &suite);
        }
    }
});
