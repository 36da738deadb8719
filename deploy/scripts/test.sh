#!/usr/bin/env bash
# The one test command (README, .ci/run): installs what is missing, checks
# formatting, builds, and runs every test twice: in a normal build and in an
# AddressSanitizer + UndefinedBehaviorSanitizer build.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
jobs=${LINKD_JOBS:-2}

"$root/deploy/scripts/install-deps.sh"

echo "== clang-format check"
git ls-files '*.cc' '*.h' | xargs clang-format --dry-run -Werror

echo "== build (RelWithDebInfo)"
"$root/deploy/scripts/build.sh" "$root/build"
echo "== tests"
ctest --test-dir "$root/build" -j"$jobs" --output-on-failure --timeout 600

echo "== build (ASan + UBSan)"
"$root/deploy/scripts/build.sh" "$root/build-asan" -DLINKD_SANITIZE=ON \
  -DLINKD_BUILD_BENCHMARKS=OFF -DCMAKE_BUILD_TYPE=Debug
echo "== tests under ASan + UBSan"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
LINKD_E2E_SCALE=0.25 \
  ctest --test-dir "$root/build-asan" -j"$jobs" --output-on-failure --timeout 900
