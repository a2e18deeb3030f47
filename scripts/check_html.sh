#!/usr/bin/env bash
# Screenshots of a run's report.html in headless Chromium at a desktop and a
# narrow (phone) width, to look at before committing a report:
#   bash scripts/check_html.sh reports/review_beyond_top1 [OUT_DIR]
# Needs Chromium (Debian: apt-get install chromium). Not part of CI.
set -euo pipefail
run=$(realpath "$1")
out=${2:-/tmp/report_shots}
mkdir -p "$out"
name=$(basename "$run")
for w in 1280 420; do
  chromium --headless=new --no-sandbox --disable-gpu --hide-scrollbars \
    --window-size="$w,3000" --screenshot="$out/${name}_$w.png" "file://$run/report.html" 2>/dev/null
  echo "$out/${name}_$w.png"
done
