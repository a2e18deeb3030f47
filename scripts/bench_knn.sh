#!/usr/bin/env bash
# k-NN side by side in one run (issue 33): repbench's weighted vote
# (benches/knn.rs), then the same vote in PyTorch (benches/knn_torch.py;
# PY=/opt/refvenv/bin/python with torch==2.11.0). Needs dataset-fashion-mnist.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python3}
OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE} cargo bench --bench knn 2>/dev/null | grep -v '^$'
OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE} "$PY" benches/knn_torch.py
