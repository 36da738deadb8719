#!/usr/bin/env bash
# Configures and builds linkd into a build directory.
# usage: deploy/scripts/build.sh [BUILD_DIR] [extra cmake args...]
# LINKD_TARGETS="a b" builds only those targets; LINKD_JOBS sets parallelism.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build}
shift || true
jobs=${LINKD_JOBS:-2}
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
targets=()
for t in ${LINKD_TARGETS:-}; do targets+=(--target "$t"); done
cmake --build "$build" -j"$jobs" "${targets[@]}"
