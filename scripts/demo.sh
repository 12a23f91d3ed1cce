#!/usr/bin/env bash
# Installs dependencies, builds Lumen and runs the example programs.
# Works from any directory. Extra arguments are passed to every example
# (e.g. --small for a quick run).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

scripts/install-deps.sh

if [ ! -f build/build.ninja ]; then
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
fi
ninja -C build -j2 matrix_filters keyword_search actors gpu_pool tune_asha tune_pbt lumen_programs

echo
echo "=== matrix_filters ==="
build/bin/matrix_filters "$@"
echo
echo "=== keyword_search ==="
build/bin/keyword_search "$@"
echo
echo "=== actors ==="
build/bin/actors "$@"
echo
echo "=== gpu_pool ==="
build/bin/gpu_pool "$@"
echo
echo "=== tune_asha ==="
build/bin/tune_asha --plot "${TMPDIR:-/tmp}/tune_asha_curves.png" "$@"
echo
echo "=== tune_pbt ==="
build/bin/tune_pbt "$@"
