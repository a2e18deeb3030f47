#!/usr/bin/env bash
# The robustness evaluation's cost (issue 36's target: corrupting 10k test
# images × 13 corruptions × 5 severities costs at most 3 clean evaluations per
# corruption–severity pair): a supervised ConvNet (frozen after 3 epochs on an
# 8k subset) evaluated on the full 10k Fashion-MNIST test set, one seed, with
# an empty cache. Prints the seconds the cell recorded.
#   bash scripts/bench_robustness.sh [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-/tmp/bench_robustness}
rm -rf "$out"; mkdir -p "$out"
cat > "$out/suite.yaml" <<'YAML'
suite: bench_robustness
dataset: {name: fashion-mnist, train_size: 8000}
representations:
  supervised:
    kind: supervised
    encoder: {arch: convnet, widths: [16, 32, 64], convs_per_block: 1}
    train: {epochs: 3, batch_size: 128, optimizer: {kind: adamw, lr: 0.002}}
evaluations:
  robustness: {kind: robustness}
matrix: {seed: [0]}
YAML
REPBENCH_CACHE="$out/cache" ./target/release/repbench run "$out/suite.yaml" --out "$out/run" >/dev/null
python3 - "$out/run/details.json" <<'PY'
import json, sys
for a in json.load(open(sys.argv[1])):
    if a["evaluation"] == "robustness":
        s, n = a["details"]["seconds"], a["details"]["test_images"]
        pairs = len(a["details"]["corruptions"]) * len(a["details"]["severities"])
        print(f"{a['representation']}: {n} test images, {pairs} corruption-severity pairs")
        print(f"  one clean evaluation (embed + classify): {s['clean_evaluation']:.3f} s")
        print(f"  all pairs: {s['all_conditions']:.1f} s, of which corrupting {s['corrupting']:.1f} s")
        print(f"  per pair / clean evaluation: {s['per_condition_over_clean']:.2f}x")
PY
