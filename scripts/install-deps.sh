#!/usr/bin/env bash
# Installs every system package Lumen needs to build and test, from Debian, when missing.
# Safe to run repeatedly: it only calls apt-get when a package is absent.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config
  libboost-dev            # Boost.Asio, boost::optional, callable_traits (public API needs them)
  libmsgpack-cxx-dev      # user values (Ray's C++ API serialises with msgpack)
  libprotobuf-dev protobuf-compiler  # every wire message
  libspdlog-dev libfmt-dev
  nlohmann-json3-dev
  libcli11-dev
  nettle-dev              # HMAC-SHA256 for the cluster token handshake
  libcpp-httplib-dev      # the dashboard's HTTP server (dashboard/), lumen list's and the tests' HTTP client
  libarchive-dev          # zip of working_dir packages (lumen job submit --working-dir, the dashboard)
  libyaml-cpp-dev         # lumen list/get --format yaml
  prometheus-cpp-dev      # the dashboard's /metrics (Prometheus text format)
  libgloo-dev             # Lumen collectives (libs/collective): Gloo's CPU all-reduce over TCP
  libtorch-dev            # Lumen Train's libtorch integration (lumen::train_torch; optional to the build)
  prometheus              # promtool: the tests check /metrics with Prometheus' own parser
  libgtest-dev libgmock-dev
  libbenchmark-dev
  clang-format            # style is enforced by scripts/check-format.sh
  clang llvm libclang-rt-dev  # sanitizer and lock-annotation builds (scripts/sanitize.sh): compiler,
                              # llvm-symbolizer, the sanitizer runtimes
  gnuplot-nox             # Tune's learning-curve pictures (ray::tune::PlotLearningCurves)
  procps psmisc           # pgrep/ps used by the tests to check for leftover processes
  iproute2                # `ip netns`: the multi-node tests give each node its own network (as root)
  chromium fonts-liberation  # the dashboard UI's browser tests (playwright-core drives Debian's chromium)
)
# Node.js and npm build the dashboard's web UI (dashboard/client; Vite needs Node 20.19 or newer).
# A machine that has them from elsewhere (NodeSource's nodejs bundles npm) keeps its own.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  PACKAGES+=(nodejs npm)
fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "install-deps: all system packages present"
fi
