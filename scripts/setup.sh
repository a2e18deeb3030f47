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
HOME_DIR=${REPBENCH_HOME:-$HOME/.cache/repbench}
LT="$HOME_DIR/libtorch-$TORCH_VERSION"
mkdir -p "$HOME_DIR"

if [ ! -f "$LT/.complete" ]; then
  echo "setup: installing libtorch $TORCH_VERSION into $LT (from the PyPI wheel torch==$TORCH_VERSION)"
  tmp=$(mktemp -d "$HOME_DIR/.libtorch-tmp.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  python3 -m pip download --quiet --no-deps --only-binary=:all: \
    --python-version 3.11 --platform manylinux_2_28_x86_64 \
    "torch==$TORCH_VERSION" -d "$tmp/wheel"
  python3 - "$tmp" <<'PY'
import glob, sys, zipfile
tmp = sys.argv[1]
whl = glob.glob(f"{tmp}/wheel/torch-*.whl")[0]
z = zipfile.ZipFile(whl)
keep = [n for n in z.namelist()
        if n.startswith(("torch/lib/", "torch/include/", "torch/share/"))
        and "libtorch_python" not in n]
z.extractall(f"{tmp}/x", keep)
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
