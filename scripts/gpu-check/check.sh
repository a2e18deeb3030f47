#!/usr/bin/env bash
# GPU checks for issue 3, in one call: train-step benchmarks (Rust vs PyTorch
# Python on the same libtorch, CUDA and CPU), then shortened SSL suites on CUDA.
set -uo pipefail
cd "$(dirname "$0")"
TL=$(python3 -c "import torch, os; print(os.path.dirname(torch.__file__) + '/lib')")
export LD_LIBRARY_PATH=$TL
nvidia-smi --query-gpu=name --format=csv,noheader
python3 -c "import torchvision; print('torchvision', torchvision.__version__)" 2>&1 | tail -1
{
  timeout 60 ./train_step cuda 256 50
  timeout 60 python3 ../benches/train_step.py cuda 256 50
  timeout 90 ./train_step cpu 256 10
  timeout 90 python3 ../benches/train_step.py cpu 256 10
} 2>&1 | tee "$OUT/bench.txt"
export REPBENCH_CACHE=/tmp/rbc
for s in ssl_a:290 ssl_b:200; do
  name=${s%%:*}; lim=${s##*:}
  timeout $lim ./repbench run $name.yaml --device cuda --out /tmp/out-$name > "$OUT/$name.log" 2>&1; echo "$name exit $?"
  cp /tmp/out-$name/report.md "$OUT/$name-report.md" 2>/dev/null
  cp /tmp/out-$name/results.csv "$OUT/$name-results.csv" 2>/dev/null
done
grep -h "epoch" "$OUT"/ssl_*.log | tail -5
