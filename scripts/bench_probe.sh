#!/usr/bin/env bash
# Issue-13 probe benchmark, side by side in one run: repbench's L-BFGS path
# (benches/probe.rs), then scikit-learn's lbfgs on the same data, path and
# tolerance (benches/probe_sklearn.py; PY=/opt/refvenv/bin/python with
# scikit-learn). Needs the Debian package dataset-fashion-mnist.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python3}
cargo bench --bench probe 2>/dev/null | grep -v '^$'
"$PY" benches/probe_sklearn.py
