//! One file of an image folder (PNG or JPEG by content), decoded with limits.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    if let Ok(img) = repbench::data::folder::decode_image(Path::new("fuzz.png"), data) {
        assert!(img.width() <= 8192 && img.height() <= 8192);
    }
});
