#!/usr/bin/env bash
# Installs what is missing, builds everything and runs the whole test suite.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/install-deps.sh
bash scripts/check-format.sh
bash scripts/check-docs.sh
BUILD_DIR=${BUILD_DIR:-build}
if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
fi
ninja -C "$BUILD_DIR" -j"$(nproc)"
# Tests share two cores; cluster tests run one at a time (RUN_SERIAL).
ctest --test-dir "$BUILD_DIR" --output-on-failure -j2 --timeout 300
# The installed CMake package works for an outside program.
bash tests/package/check_package.sh "$BUILD_DIR"
