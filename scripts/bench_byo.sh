#!/usr/bin/env bash
# Issue-14 benchmarks, side by side in one run: repbench's import and TorchScript
# forward (benches/byo.rs), then the same forward in PyTorch Python on the same
# libtorch version (benches/byo.py; needs a python with torch==2.11.0, e.g.
# PY=/opt/refvenv/bin/python). Results go in docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python3}
cargo bench --bench byo 2>/dev/null | grep -v '^$'
"$PY" benches/byo.py
