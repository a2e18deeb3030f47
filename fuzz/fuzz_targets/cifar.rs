//! A CIFAR binary batch, as CIFAR-10 and as CIFAR-100.
#![no_main]
use libfuzzer_sys::fuzz_target;
use repbench::data::cifar::{parse_batch, Variant};
use repbench::data::ImageSet;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    for variant in [Variant::Cifar10, Variant::Cifar100] {
        let mut set = ImageSet { images: Vec::new(), labels: Vec::new(), channels: 3, height: 32, width: 32 };
        if parse_batch(Path::new("fuzz-batch.bin"), data, variant, &mut set).is_ok() {
            assert_eq!(set.images.len(), set.labels.len() * 3 * 32 * 32);
        }
    }
});
