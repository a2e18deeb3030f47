#!/usr/bin/env bash
# The test command: set up (idempotent), then every unit and CLI test.
# Tests build with the release profile so they share artifacts with the main job.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo test --release "$@"
