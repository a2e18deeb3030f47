#!/usr/bin/env bash
# Fuzzes the parsers of untrusted input with cargo-fuzz / libFuzzer:
#   spec (suite YAML), idx, cifar, image (image-folder files).
# Usage: scripts/fuzz.sh [seconds per target (default 600)] [targets...]
# Needs: rustup nightly, `cargo install cargo-fuzz`, python3 with Pillow (seeds).
# Prints each target's libFuzzer summary; crashers land in fuzz/artifacts/<target>/
# and each becomes a regression test in tests/fuzz_regressions.rs.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-600}; shift || true
targets=${*:-spec idx cifar image}
bash scripts/setup.sh >/dev/null
python3 scripts/fuzz_seeds.py fuzz/corpus
# The fuzz binaries link libtorch (through repbench) without repbench's rpath.
export LD_LIBRARY_PATH="$(realpath .libtorch)/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
cd fuzz
cargo +nightly fuzz build -O --sanitizer none
for t in $targets; do
  echo "== $t: ${secs} s"
  # -rss_limit_mb bounds memory per input (an allocation bomb is a finding);
  # -timeout flags any input slower than 10 s.
  cargo +nightly fuzz run -O --sanitizer none "$t" "corpus/$t" -- \
    -max_total_time="$secs" -max_len=65536 -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 2>&1 \
    | grep -E "^(Done|stat::|==|SUMMARY|INFO: Loaded|artifact_prefix|Test unit written)" || true
done
