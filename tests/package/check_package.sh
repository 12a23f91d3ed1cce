#!/usr/bin/env bash
# Installs the build into a temporary prefix and builds + runs an outside
# program with find_package(lumen) / lumen::ray.
set -euo pipefail
BUILD_DIR=$(cd "${1:-build}" && pwd)
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cmake --install "$BUILD_DIR" --prefix "$WORK/prefix" > "$WORK/install.log"
cmake -S "$HERE/consumer" -B "$WORK/build" -G Ninja -DCMAKE_PREFIX_PATH="$WORK/prefix" \
  -DLUMEN_ACCEPTANCE_DIR="$HERE/../cluster" > "$WORK/configure.log"
ninja -C "$WORK/build" > "$WORK/build.log"
LUMEN_TMPDIR="$WORK/tmp" "$WORK/build/consumer"
LUMEN_TMPDIR="$WORK/tmp" "$WORK/build/template_consumer"
# The acceptance suite, compiled against the installed headers and library.
suites="tasks failure actors actor_failure resources api_edge cli tune collective train"
# The RaySGD API, when the package has lumen::train_torch (libtorch was found).
if [ -x "$WORK/build/acceptance_train_torch" ]; then suites="$suites train_torch"; fi
passed=2
# The dashboard's web UI, where the build has it, installed where lumen_dashboard looks for it
# (share/lumen/dashboard beside bin/, client_routes.h).
if [ -f "$BUILD_DIR/share/lumen/dashboard/index.html" ]; then
  if [ ! -f "$WORK/prefix/share/lumen/dashboard/index.html" ] || [ ! -x "$WORK/prefix/bin/lumen_dashboard" ]; then
    echo "package check: the dashboard's web UI is not installed beside bin/lumen_dashboard" >&2
    exit 1
  fi
  passed=$((passed + 1))
fi
for t in $suites; do
  "$WORK/build/acceptance_$t" --gtest_brief=1
  passed=$((passed + 1))
done
echo "package check: $passed passed, 0 failed"
