#!/usr/bin/env bash
# Formats (or with --check, checks) every tracked .rs file.
#
# Why not plain `cargo fmt`: rustfmt follows `mod` declarations, and the
# registries declare their modules inside macros (`define_representations!`,
# `define_evaluations!`, `declare_method_modules!`), which it cannot see into;
# `cargo fmt --check` passed while 27 files were unformatted. Handing rustfmt
# every tracked file by name leaves no file out.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=()
if [ "${1:-}" = "--check" ]; then mode=(--check); fi
git ls-files -z '*.rs' | xargs -0 rustfmt --edition 2021 "${mode[@]}"
