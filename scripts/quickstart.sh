#!/usr/bin/env bash
# The main job: set up (idempotent), build, run the quickstart suite; the last
# line printed is the path of its report.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >&2
cargo build --release --quiet --bin repbench
exec ./target/release/repbench run experiments/quickstart.yaml "$@"
