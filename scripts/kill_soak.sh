#!/usr/bin/env bash
# Crash soak: runs the reliability suite (tests/reliability.rs's tiny suite on
# a generated dataset) and SIGKILLs it N times at random points (seeded), each
# restart continuing from what the killed ones left; then runs it to the end
# and checks the results equal an uninterrupted run's and `cache verify` is
# clean. Usage: scripts/kill_soak.sh [N kills (default 50)] [seed (default 1)]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-50}; SEED=${2:-1}
BIN=$(realpath target/release/repbench)
repo=$(pwd)
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
cd "$work"
python3 "$repo/scripts/tiny_dataset.py" .
cat > tiny.yaml <<'YAML'
suite: soak
dataset: {path: tiny, format: idx, val_fraction: 0.2}
representations:
  raw: {kind: raw}
  pca: {kind: pca, components: 8}
  mlp:
    kind: supervised
    encoder: {arch: mlp, hidden: [64, 32]}
    train: {epochs: 80, batch_size: 16, warmup_epochs: 0}
evaluations:
  linear: {kind: linear_probe}
  knn: {kind: knn, k: [5]}
  clusters: {kind: clustering}
  cka: {kind: similarity}
matrix:
  seed: [0, 1]
YAML
start=$(date +%s.%N)
"$BIN" run tiny.yaml --cache ref-cache --out ref -q 2>/dev/null
full=$(echo "$(date +%s.%N) - $start" | bc)
echo "uninterrupted run: ${full} s"
killed=0; finished=0; segments=0
check() {
  "$BIN" run tiny.yaml --cache cache --out out -q 2>/dev/null
  python3 - <<'PY'
import csv
def rows(p): return sorted((r["representation"], r["evaluation"], r["metric"], r["seed"], r["value"]) for r in csv.DictReader(open(p)))
a, b = rows("ref/results.csv"), rows("out/results.csv")
assert a == b, [x for x in zip(a, b) if x[0] != x[1]][:5]
PY
  "$BIN" cache verify --cache cache | tail -1 | grep -q " 0 corrupt"
  segments=$((segments + 1))
}
RANDOM=$SEED
# Segments of 10 kills from an empty cache, so kills land early and late alike;
# after each segment the run is finished and checked against the reference.
for i in $(seq 1 "$N"); do
  r=$((RANDOM % 1000))
  delay=$(echo "scale=3; $full * $r / 1000" | bc)
  "$BIN" run tiny.yaml --cache cache --out out -q >/dev/null 2>&1 &
  pid=$!
  sleep "$delay"
  if kill -0 $pid 2>/dev/null; then kill -9 $pid; killed=$((killed + 1)); else finished=$((finished + 1)); fi
  wait $pid 2>/dev/null || true
  if [ $((i % 10)) = 0 ] || [ "$i" = "$N" ]; then check; rm -rf cache out; fi
done
echo "kills: $killed SIGKILLs landed mid-run, $finished runs had already finished (of $N); $segments segments finished with results equal to the uninterrupted run's, bit for bit, and a clean cache verify"
