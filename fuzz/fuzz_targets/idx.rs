//! An IDX file (raw or gzip): decompress with the size cap, parse the header,
//! check the declared sizes against the bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let path = Path::new("fuzz-idx");
    // A 64 MiB cap keeps each input fast; the reader's real cap is 2 GiB.
    let Ok(bytes) = repbench::data::idx::decompress_maybe_gz(path, data.to_vec(), 64 << 20) else { return };
    if let Ok((dims, offset)) = repbench::data::idx::parse_header(path, &bytes) {
        let n: usize = dims.iter().product();
        assert_eq!(offset + n, bytes.len(), "a header that parses must describe exactly the bytes present");
    }
});
