#!/usr/bin/env bash
# A real Slurm on this machine (localhost only), to test `repbench submit`:
# installs Debian's slurm-wlm and munge if missing, starts munged, slurmctld and
# slurmd with a one-node cluster (MaxArraySize=4, so a suite of 6 units is split
# into two arrays), submits a tiny suite, waits for every job, and checks that
# the report's results equal a local run's. Needs root. CI runs it from .ci/run
# under a time limit (see README).
#
# Usage: scripts/slurm_test.sh [path to repbench binary (default target/release/repbench)]
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$(realpath "${1:-target/release/repbench}")
command -v slurmctld >/dev/null && command -v munged >/dev/null || {
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null
}
host=$(hostname -s)
cpus=$(nproc)
mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 512 ))
work=$(mktemp -d /tmp/repbench-slurm.XXXXXX)
chmod 755 "$work"
conf=/etc/slurm/slurm.conf
mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm /run/munge /var/lib/munge /var/log/munge /etc/munge
cat > "$conf" <<CONF
ClusterName=repbench-test
SlurmctldHost=$host
AuthType=auth/munge
CryptoType=crypto/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
MaxArraySize=4
NodeName=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
cleanup() {
  scancel --user=root >/dev/null 2>&1 || true
  pkill -x slurmd 2>/dev/null || true
  pkill -x slurmctld 2>/dev/null || true
  pkill -x munged 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
# munge: a key, then the daemon (as root, hence --force).
[ -s /etc/munge/munge.key ] || dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
chmod 400 /etc/munge/munge.key
pgrep -x munged >/dev/null || munged --force
pkill -x slurmctld 2>/dev/null || true; pkill -x slurmd 2>/dev/null || true; sleep 1
slurmctld -c -i
slurmd -c
for i in $(seq 1 60); do
  sinfo -h -o "%T" 2>/dev/null | grep -qE "idle|mix" && break
  sleep 1
done
sinfo
# A tiny IDX dataset and a suite with 3 representations × 2 seeds = 6 units.
python3 scripts/tiny_dataset.py "$work"
cat > "$work/tiny.yaml" <<'YAML'
suite: slurm_tiny
threads: 1          # per cell, whatever the task's CPUs: bit-identical to a local run
dataset: {path: tiny, format: idx, val_fraction: 0.2}
representations:
  raw: {kind: raw}
  pca: {kind: pca, components: 8}
  mlp:
    kind: supervised
    encoder: {arch: mlp, hidden: [32]}
    train: {epochs: 5, batch_size: 32}
evaluations:
  linear: {kind: linear_probe}
  knn: {kind: knn, k: [5]}
  cka: {kind: similarity}
matrix:
  seed: [0, 1]
YAML
cd "$work"
"$BIN" submit tiny.yaml --slurm --cpus-per-task 1 --max-parallel 2 --time 10:00 --cache "$work/cache" --out "$work/slurm-run" --dry-run | grep -E "^# |--array" 
"$BIN" submit tiny.yaml --slurm --cpus-per-task 1 --max-parallel 2 --time 10:00 --cache "$work/cache" --out "$work/slurm-run"
ls slurm-run/slurm/
[ "$(ls slurm-run/slurm/units*.sbatch | wc -l)" = 2 ] || { echo "FAIL: expected the 6 units split into 2 arrays (MaxArraySize=4)"; exit 1; }
for i in $(seq 1 300); do
  [ -z "$(squeue -h 2>/dev/null)" ] && break
  sleep 1
done
[ -z "$(squeue -h)" ] || { echo "FAIL: jobs still queued after 300 s"; squeue; exit 1; }
cat slurm-run/slurm/report-*.log || true
[ -f slurm-run/results.csv ] || { echo "FAIL: no report written"; cat /var/log/slurm/slurmctld.log | tail -20; exit 1; }
"$BIN" run tiny.yaml --cache "$work/local-cache" --out "$work/local-run" -q
python3 - <<'PY'
import csv
def rows(p):
    return sorted((r["representation"], r["evaluation"], r["metric"], r["seed"], r["value"]) for r in csv.DictReader(open(p)))
a, b = rows("slurm-run/results.csv"), rows("local-run/results.csv")
assert len(a) == len(b) > 0, (len(a), len(b))
assert a == b, [x for x in zip(a, b) if x[0] != x[1]][:5]
print(f"OK: the Slurm run's {len(a)} results equal the local run's, bit for bit")
PY
grep -q "0 failed" slurm-run/report.md || grep -q " 0 failed" slurm-run/report.md
