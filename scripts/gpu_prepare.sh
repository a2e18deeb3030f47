#!/usr/bin/env bash
# Prepares gpu/ (ignored by git) for the lent GPU machine, which has no Rust:
# stripped release binaries (repbench, the train_step bench), full Fashion-MNIST
# and the check script with its suites. Then, with the device tool:
#   run: bash gpu/check.sh   carry: ["gpu"]
# (64 MiB carry limit: the binaries are ~27 MB and ~8 MB, the data 30 MB.)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >/dev/null
cargo build --release --quiet --bin repbench
bench=$(cargo bench --no-run --bench train_step 2>&1 | sed -n 's/.*Executable .*(\(.*train_step-[0-9a-f]*\)).*/\1/p' | tail -1)
mkdir -p gpu/fmnist
cp target/release/repbench gpu/repbench && strip gpu/repbench
cp "$bench" gpu/train_step && strip gpu/train_step
cp /usr/share/datasets/fashion-mnist/*.gz gpu/fmnist/
cp scripts/gpu-check/* gpu/
du -sh gpu
