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
ninja -C build -j2 matrix_filters keyword_search actors gpu_pool tune_asha tune_pbt lumen_programs lumen_cli

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
if [ -x build/bin/train_mlp ]; then
  echo
  echo "=== train_mlp (Lumen Train, libtorch) ==="
  build/bin/train_mlp "$@"
  echo
  echo "=== train_sgd (the RaySGD API: TorchTrainer, then AsTrainable in Tune) ==="
  build/bin/train_sgd "$@"
fi
echo
echo "=== a cluster started with lumen, seen through the state CLI and its dashboard ==="
# A head of its own (its own --temp-dir, stopped by that), as `ray start --head`
# would start one; a driver joins it with RAY_ADDRESS=auto; `lumen list` reads
# the dashboard's state API, whose address `lumen start` prints.
cluster_dir="$(mktemp -d)"
trap 'build/bin/lumen stop --temp-dir="$cluster_dir" >/dev/null 2>&1 || true; rm -rf "$cluster_dir"' EXIT
build/bin/lumen start --head --port=0 --temp-dir="$cluster_dir"
RAY_ADDRESS=auto build/bin/keyword_search "$@"
build/bin/lumen list nodes
build/bin/lumen list jobs
build/bin/lumen stop --temp-dir="$cluster_dir"
