#!/usr/bin/env bash
# Streaming a self-supervised fit (docs/benchmarks.md): SimCLR with a small
# ConvNet, one epoch, on 200,000 64×64 RGB images (webdataset shards made by
# scripts/make_scale_shards.py; a 2.4 GB store), then embedded and scored by
# k-NN; the whole run under scripts/peak_memory.sh (peak RssAnon).
#
#   PY=/opt/refvenv/bin/python bash scripts/bench_stream_ssl.sh [SHARDS_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python3}
ROOT=${1:-/tmp/stream200k}
[ -f "$ROOT/test-000019.tar" ] || "$PY" scripts/make_scale_shards.py "$ROOT" 200000 64
BIN=$PWD/target/release/repbench
work=${WORK:-$(mktemp -d)}
grep -m1 "model name" /proc/cpuinfo; nproc
cat > "$work/stream_ssl.yaml" <<YAML
suite: stream_ssl
seed: 0
dataset: {path: $ROOT, format: webdataset}
representations:
  simclr:
    kind: simclr
    encoder: {arch: convnet, widths: [16, 32, 64], convs_per_block: 1}
    projection_hidden: 256
    train: {epochs: 1, batch_size: 256, optimizer: {kind: adamw, lr: 0.002}}
evaluations:
  knn: {kind: knn, k: [20]}
YAML
rm -rf "$work/cache" "$work/memory.log"
PEAK_LOG="$work/memory.log" bash scripts/peak_memory.sh "$BIN" run "$work/stream_ssl.yaml" --cache "$work/cache" --out "$work/run"
du -sh "$work/cache/objects" | sed 's/^/cache: /'
find "$work/cache/objects" -name meta.json -exec grep -h '"stage"\|"seconds"' {} + | paste - - | sed 's/  */ /g'
grep -h "top1" "$work/run/summary.csv" | cut -d, -f1,4,6,7 || true
