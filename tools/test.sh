#!/usr/bin/env bash
# The one test command (README.md, .ci/run): installs the dependencies, checks formatting,
# layering (tools/check-layers.sh) and file sizes, builds sopfs with -Werror twice
# (Release, -O3, what a packager builds; and Debug with AddressSanitizer +
# UndefinedBehaviorSanitizer), runs every test with ctest in both builds, and runs the
# file system tests once more through FUSE over io_uring where the kernel has it.
# Exits non-zero on any failure.
# Build trees: build-release/ and build-asan/ (reused when present; build/ is left to the
# developer's own RelWithDebInfo build).
set -euo pipefail
cd "$(dirname "$0")/.."

tools/install-deps.sh
jobs=$(nproc)

# FUSE over io_uring (-o io_uring) needs the fuse module's enable_uring parameter
# (Linux 6.14+). It is turned on for the run, so that FsUringTest sees the rings and
# the file system suites run once more through them, and put back as it was at the end.
uring_param=/sys/module/fuse/parameters/enable_uring
uring_was=""
if [ -w "$uring_param" ]; then
  uring_was=$(cat "$uring_param")
  trap 'echo "$uring_was" > "$uring_param"' EXIT
  echo Y > "$uring_param"
fi

echo "== format check"
files=$(git ls-files '*.cc' '*.h' 2>/dev/null || find engine tools tests -name '*.cc' -o -name '*.h')
clang-format --dry-run --Werror $files
echo "== layer check"
tools/check-layers.sh
echo "== size check: no source file over 700 lines"
long=$(wc -l $files | awk '$2 != "total" && $1 > 700 {print $2 " (" $1 " lines)"}')
if [ -n "$long" ]; then
  echo "split these by concept: $long" >&2
  exit 1
fi

for variant in release asan; do
  dir=build-release; flags=(-DCMAKE_BUILD_TYPE=Release -DSOPFS_WERROR=ON)
  if [ "$variant" = asan ]; then
    dir=build-asan; flags=(-DCMAKE_BUILD_TYPE=Debug -DSOPFS_SANITIZE=ON -DSOPFS_WERROR=ON)
  fi
  echo "== $variant build ($dir)"
  cmake -S . -B "$dir" -G Ninja "${flags[@]}" >/dev/null
  cmake --build "$dir" -j "$jobs"
  echo "== $variant tests"
  # FsHangTest's no-kill soak runs its full 5 minutes once, in the release run.
  # FsMemoryTest writes its full 50,000 files of 64 KiB in the release run only.
  soak=300 memory_files=50000
  [ "$variant" = asan ] && soak=60 memory_files=5000
  (cd "$dir" && SOPFS_TEST_HANG_SOAK_SECONDS=$soak SOPFS_TEST_MEMORY_FILES=$memory_files \
    ctest --output-on-failure -j "$jobs" --timeout 900)
done
if [ -n "$uring_was" ]; then
  echo "== release file system tests again, every mount with -o io_uring"
  (cd build-release && SOPFS_TEST_MOUNT_OPTIONS=io_uring SOPFS_TEST_HANG_SOAK_SECONDS=60 \
    SOPFS_TEST_MEMORY_FILES=10000 ctest --output-on-failure -j "$jobs" \
    --timeout 900 -R '^Fs')
else
  echo "== no FUSE io_uring in this kernel: FsUringTest checked the /dev/fuse fallback"
fi
echo "== all tests passed"
