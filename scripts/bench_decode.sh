#!/usr/bin/env bash
# Decode + resize + centre crop of a photo folder: repbench's image store
# (`repbench prepare`, all cores) against torchvision ImageFolder + Resize +
# CenterCrop through a DataLoader(num_workers=2), side by side, same files,
# page cache warm. Results go in docs/benchmarks.md.
#
#   PY=/opt/refvenv/bin/python bash scripts/bench_decode.sh [PHOTOS_DIR]
# PHOTOS_DIR defaults to /tmp/bench_photos (made by scripts/make_bench_photos.py).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python3}
ROOT=${1:-/tmp/bench_photos}
[ -d "$ROOT/train" ] || "$PY" scripts/make_bench_photos.py "$ROOT" 20000
BIN=target/release/repbench
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
find "$ROOT" -name '*.jpg' -exec cat {} + > /dev/null   # warm the page cache for both sides
grep -m1 "model name" /proc/cpuinfo; nproc
for pair in "224 256" "64 73"; do
  set -- $pair
  size=$1 resize=$2
  "$PY" scripts/bench_decode_torchvision.py "$ROOT" "$size" "$resize"
  for dct in true false; do
    cat > "$work/s.yaml" <<YAML
suite: bench_decode
dataset: {path: $ROOT, format: folder, image: {size: $size, resize: $resize, jpeg_dct_scaling: $dct}}
representations: {raw: {kind: raw}}
evaluations: {knn: {kind: knn}}
YAML
    rm -rf "$work/cache"
    echo -n "repbench ${size}x${size} (resize $resize, jpeg_dct_scaling $dct): "
    "$BIN" prepare "$work/s.yaml" --cache "$work/cache" 2>/dev/null
  done
  echo -n "repbench re-open: "
  "$BIN" prepare "$work/s.yaml" --cache "$work/cache" 2>/dev/null
done
