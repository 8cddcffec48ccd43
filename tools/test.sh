#!/usr/bin/env bash
# The one test command (README.md, .ci/run): installs the dependencies, builds sopfs
# twice (optimised, and with AddressSanitizer + UndefinedBehaviorSanitizer), runs every
# test with ctest in both builds, and checks formatting. Exits non-zero on any failure.
# Build trees: build/ and build-asan/ (reused when present).
set -euo pipefail
cd "$(dirname "$0")/.."

tools/install-deps.sh
jobs=$(nproc)

echo "== format check"
files=$(git ls-files '*.cc' '*.h' 2>/dev/null || find engine tools tests -name '*.cc' -o -name '*.h')
clang-format --dry-run --Werror $files

for variant in release asan; do
  dir=build; flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo)
  if [ "$variant" = asan ]; then dir=build-asan; flags=(-DCMAKE_BUILD_TYPE=Debug -DSOPFS_SANITIZE=ON); fi
  echo "== $variant build ($dir)"
  cmake -S . -B "$dir" -G Ninja "${flags[@]}" >/dev/null
  cmake --build "$dir" -j "$jobs"
  echo "== $variant tests"
  (cd "$dir" && ctest --output-on-failure -j "$jobs" --timeout 900)
done
echo "== all tests passed"
