#!/usr/bin/env bash
# Idempotent set-up for repbench on a Debian machine with Rust and python3.
#
# 1. libtorch 2.11.0, taken from the PyPI wheel torch==2.11.0 (the same build the
#    GPU machines' PyTorch uses), unpacked once per user into
#    ${REPBENCH_HOME:-~/.cache/repbench}/libtorch-2.11.0 and shared by every checkout.
# 2. A link `.libtorch` in the checkout, which .cargo/config.toml's [env] points
#    LIBTORCH at, so a plain `cargo build` / `cargo test` finds it.
# 3. The Fashion-MNIST Debian package (dataset-fashion-mnist) when apt can install it;
#    otherwise the committed subset under data/ keeps the quickstart runnable.
set -euo pipefail
cd "$(dirname "$0")/.."

TORCH_VERSION=2.11.0
HOME_DIR=${REPBENCH_HOME:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/repbench}
LT="$HOME_DIR/libtorch-$TORCH_VERSION"
mkdir -p "$HOME_DIR"

if [ ! -f "$LT/.complete" ]; then
  echo "setup: installing libtorch $TORCH_VERSION into $LT (from the PyPI wheel torch==$TORCH_VERSION)"
  tmp=$(mktemp -d "$HOME_DIR/.libtorch-tmp.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  # libtorch_cpu.so of this (CUDA) build needs libcudart and libcupti even on a CPU
  # machine; their pins are the ones torch 2.11.0's cuda-toolkit==13.0.2 requires.
  python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$tmp/wheel" \
    "torch==$TORCH_VERSION" "nvidia-cuda-runtime==13.0.96" "nvidia-cuda-cupti==13.0.85"
  python3 - "$tmp" <<'PY'
import glob, sys, zipfile
tmp = sys.argv[1]
whl = glob.glob(f"{tmp}/wheel/torch-*.whl")[0]
z = zipfile.ZipFile(whl)
keep = [n for n in z.namelist()
        if n.startswith(("torch/lib/", "torch/include/", "torch/share/"))
        and "libtorch_python" not in n]
z.extractall(f"{tmp}/x", keep)
import os, shutil
for w in glob.glob(f"{tmp}/wheel/nvidia_*.whl"):
    z = zipfile.ZipFile(w)
    for n in z.namelist():
        if n.startswith("nvidia/cu13/lib/") and ".so" in n:
            with z.open(n) as src, open(f"{tmp}/x/torch/lib/" + os.path.basename(n), "wb") as dst:
                shutil.copyfileobj(src, dst)
PY
  echo "$TORCH_VERSION" > "$tmp/x/torch/build-version"
  touch "$tmp/x/torch/.complete"
  rm -rf "$LT"
  mv "$tmp/x/torch" "$LT"
  rm -rf "$tmp"
  trap - EXIT
fi
ln -sfn "$LT" .libtorch

if [ ! -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "setup: installing Debian package dataset-fashion-mnist"
    (apt-get install -y -qq dataset-fashion-mnist >/dev/null 2>&1 ||
      (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq dataset-fashion-mnist >/dev/null 2>&1)) ||
      echo "setup: could not install dataset-fashion-mnist; the committed subset in data/ will be used"
  else
    echo "setup: not root; the committed Fashion-MNIST subset in data/ will be used"
  fi
fi
echo "setup: libtorch at $LT"
