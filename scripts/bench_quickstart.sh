#!/usr/bin/env bash
# Issue-33 benchmark: the quickstart from a cold cache on idle cores and with a
# busy loop holding one core, then the cached no-op re-run of a 6-cell suite
# (median of 5). Results go to docs/benchmarks.md ("The quickstart, idle and
# under load"). Needs the release binary (cargo build --release) and the data
# set-up of scripts/setup.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/release/repbench}
tmp=$(mktemp -d)
# `kill 0` would signal this whole process group: only kill a loop that runs.
trap 'rm -rf "$tmp"; if [ "${busy:-0}" != 0 ]; then kill "$busy" 2>/dev/null || true; fi' EXIT
run() { # label, cache, out, suite
  /usr/bin/time -f "$1: %e s wall, %U s user" "$BIN" run "$4" --cache "$2" --out "$3" -q 2>&1 | tail -n 1
}
run "quickstart, cold cache, idle" "$tmp/c1" "$tmp/r1" experiments/quickstart.yaml
sh -c 'while :; do :; done' & busy=$!
run "quickstart, cold cache, busy loop on one core" "$tmp/c2" "$tmp/r2" experiments/quickstart.yaml
kill "$busy"; busy=0
# The two runs print the same numbers: the load changes no result.
if cmp -s <(cut -d, -f2-8 "$tmp/r1/results.csv") <(cut -d, -f2-8 "$tmp/r2/results.csv"); then
  echo "results idle vs under load: identical"
else
  echo "results idle vs under load: DIFFER"
fi
"$BIN" run benches/suites/six_cells.yaml --cache "$tmp/c3" --out "$tmp/r3" -q >/dev/null 2>&1
for i in 1 2 3 4 5; do
  /usr/bin/time -f "%e" "$BIN" run benches/suites/six_cells.yaml --cache "$tmp/c3" --out "$tmp/r3" -q 2>&1 >/dev/null | tail -n 1
done | sort -n | sed -n 3p | sed 's/^/6-cell suite, cached no-op re-run (median of 5): /; s/$/ s wall/'
/usr/bin/time -f "process start (repbench --version): %e s wall" "$BIN" --version 2>&1 >/dev/null | tail -n 1
