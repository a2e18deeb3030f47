#!/usr/bin/env bash
# Scale test (docs/benchmarks.md): a random projection (256-d) with k-NN and
# the linear probe, one seed, on N 32×32 RGB images in webdataset shards made
# by scripts/make_scale_shards.py, at N = 100,000 and 1,000,000; each run from
# an empty cache under scripts/peak_memory.sh (peak RssAnon), then the store
# re-opened from the cache.
#
#   PY=/opt/refvenv/bin/python bash scripts/bench_scale.sh [SHARDS_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python3}
ROOT=${1:-/tmp/scale1m}
[ -f "$ROOT/test-000099.tar" ] || "$PY" scripts/make_scale_shards.py "$ROOT" 1000000
BIN=$PWD/target/release/repbench
work=${WORK:-$(mktemp -d)}
grep -m1 "model name" /proc/cpuinfo; nproc; free -g | head -2
for n in 100k 1m; do
  case $n in
    100k) train="train-{000000..000008}.tar"; test="test-000090.tar" ;;
    1m) train="train-{000000..000089}.tar"; test="test-{000090..000099}.tar" ;;
  esac
  cat > "$work/scale_$n.yaml" <<YAML
suite: scale_$n
seed: 0
threads: 2
dataset: {path: $ROOT, format: webdataset, shards: {train: "$train", test: "$test"}}
representations:
  rp: {kind: random_projection, dims: 256}
evaluations:
  knn: {kind: knn, k: [20]}
  probe: {kind: linear_probe}
YAML
  rm -rf "$work/cache_$n" "$work/memory_$n.log"
  echo "== N = $n"
  PEAK_LOG="$work/memory_$n.log" bash scripts/peak_memory.sh "$BIN" run "$work/scale_$n.yaml" --cache "$work/cache_$n" --out "$work/run_$n" -q
  du -sh "$work/cache_$n/objects" | sed 's/^/cache: /'
  echo -n "re-open: "; "$BIN" prepare "$work/scale_$n.yaml" --cache "$work/cache_$n"
  grep -h "top1" "$work/run_$n/summary.csv" | cut -d, -f1,4,6,7 || true
done
