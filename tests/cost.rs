//! Parameters and MACs per image of repbench's encoders against ptflops' count
//! (aten backend) of the same architectures in PyTorch
//! (`tests/fixtures/cost/make_reference.py`).
use repbench::nn::EncoderSpec;

#[test]
fn encoder_counts_equal_ptflops() {
    let text = std::fs::read_to_string("tests/fixtures/cost/reference.json").unwrap();
    let reference: serde_json::Value = serde_json::from_str(&text).unwrap();
    let cases = reference.as_object().unwrap();
    let mut checked = 0;
    for (name, case) in cases.iter().filter(|(k, _)| !k.starts_with('_')) {
        let spec: EncoderSpec = serde_yaml::from_str(case["encoder"].as_str().unwrap()).unwrap();
        let s: Vec<i64> = case["shape"].as_array().unwrap().iter().map(|v| v.as_i64().unwrap()).collect();
        let got = spec.complexity((s[0], s[1], s[2])).unwrap();
        assert_eq!(got.params, case["params"].as_u64().unwrap(), "{name}: parameters");
        assert_eq!(got.macs, case["macs"].as_u64().unwrap(), "{name}: MACs");
        checked += 1;
    }
    assert_eq!(checked, 8, "every reference case is checked");
}
