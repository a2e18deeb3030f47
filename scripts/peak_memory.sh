#!/usr/bin/env bash
# Runs a command and samples its process's RssAnon (anonymous resident
# memory: what the process allocated, not the file pages it maps) and VmRSS
# from /proc every 0.2 s; prints the peaks and the wall time. Children are not
# followed (repbench runs one process unless --jobs is given).
#
#   bash scripts/peak_memory.sh CMD ARGS...
# With PEAK_LOG=FILE, every sample is also appended to FILE (seconds, RssAnon kB).
set -uo pipefail
start=$(date +%s.%N)
"$@" &
pid=$!
peak_anon=0; peak_rss=0
while kill -0 "$pid" 2>/dev/null; do
  if read -r anon rss < <(awk '/^RssAnon:/{a=$2} /^VmRSS:/{r=$2} END{print a+0, r+0}' "/proc/$pid/status" 2>/dev/null); then
    (( anon > peak_anon )) && peak_anon=$anon
    [ -n "${PEAK_LOG:-}" ] && echo "$(echo "$(date +%s.%N) - $start" | bc -l | cut -c1-6) $anon" >> "$PEAK_LOG"
    (( rss > peak_rss )) && peak_rss=$rss
  fi
  sleep 0.2
done
wait "$pid"; rc=$?
end=$(date +%s.%N)
printf 'peak RssAnon %.0f MB, peak VmRSS %.0f MB, wall %.1f s, exit %d\n' "$(echo "$peak_anon/1024" | bc -l)" "$(echo "$peak_rss/1024" | bc -l)" "$(echo "$end - $start" | bc -l)" "$rc" >&2
exit $rc
