#!/usr/bin/env bash
# Benchmarks behind docs/benchmarks.md, side by side on this machine:
#   1. repbench's hand-engineered path on full Fashion-MNIST (cargo bench);
#   2. the same work with scikit-image / scikit-learn / numpy (pip-installed here);
#   3. the quickstart suite from a cold cache, then fully cached.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >/dev/null
python3 -m pip install --quiet scikit-learn scikit-image numpy
cargo bench --bench baselines
python3 benches/reference_sklearn.py
cargo build --release --quiet --bin repbench
cache=$(mktemp -d)
/usr/bin/time -f "quickstart, cold cache: %e s wall" ./target/release/repbench run experiments/quickstart.yaml --cache "$cache" --out "$cache/report" -q
/usr/bin/time -f "quickstart, fully cached: %e s wall" ./target/release/repbench run experiments/quickstart.yaml --cache "$cache" --out "$cache/report" -q
rm -rf "$cache"
