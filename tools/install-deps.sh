#!/usr/bin/env bash
# Installs every package sopfs needs to build, test and run, from Debian 12's
# archive. Run as root (or through sudo). Safe to run again: it skips what is there.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config clang-format
  libfuse3-dev fuse3 libisal-dev liburing-dev libhiredis-dev libxxhash-dev
  libboost-program-options-dev libsqlite3-dev googletest libgtest-dev redis-server
  attr  # getfattr: the control tests list user.sopfs.* attributes
  ffmpeg  # the media test encodes a video and seeks into it on the mount
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null; then exec sudo "$0" "$@"; fi
  echo "install-deps: missing ${missing[*]}; run this script as root" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
