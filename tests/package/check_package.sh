#!/usr/bin/env bash
# Installs the build into a temporary prefix and builds + runs an outside
# program with find_package(lumen) / lumen::ray.
set -euo pipefail
BUILD_DIR=$(cd "${1:-build}" && pwd)
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cmake --install "$BUILD_DIR" --prefix "$WORK/prefix" > "$WORK/install.log"
cmake -S "$HERE/consumer" -B "$WORK/build" -G Ninja -DCMAKE_PREFIX_PATH="$WORK/prefix" > "$WORK/configure.log"
ninja -C "$WORK/build" > "$WORK/build.log"
LUMEN_TMPDIR="$WORK/tmp" "$WORK/build/consumer"
echo "package check: 1 passed, 0 failed"
