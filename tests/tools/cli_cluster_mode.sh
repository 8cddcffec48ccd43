#!/bin/bash
# The standalone half of "a standalone daemon refuses a clustered volume" (issue 21,
# docs/CLUSTER.md section 4): a volume whose log folder holds the cluster mode marker is
# refused by every program that takes the volume alone (mount, fsck, status, reinstate),
# with a message naming the cluster and the marker, and nothing is mounted or changed; a
# marker that is not one is refused too (a mode is never guessed); once the marker is
# gone the volume mounts and its files are there. The marker is written by the test, as
# clustered daemons will write it. Every wait is bounded.
# Usage: cli_cluster_mode.sh SOPFS
set -u
SOPFS=$1

if [ ! -r /dev/fuse ] || [ ! -w /dev/fuse ] || ! command -v fusermount3 >/dev/null; then
  echo "FAIL: needs /dev/fuse and fusermount3 (install fuse3)"
  exit 1
fi

W=$(mktemp -d /tmp/sopfs-cli-cluster.XXXXXX)
VOL=$W/vol
MNT=$W/mnt
mkdir "$MNT"
ID=0123456789abcdef0123456789abcdef
MARKER=$VOL/log/cluster/mode

mounted() { awk -v m="$1" '$5 == m { found = 1 } END { exit !found }' /proc/self/mountinfo; }
cleanup() {
  if mounted "$MNT"; then fusermount3 -u -z "$MNT" 2>/dev/null || umount -l "$MNT"; fi
  rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
fail() {
  echo "FAIL: $*" >&2
  [ -s "$VOL/sopfs.log" ] && tail -n 20 "$VOL/sopfs.log" >&2
  exit 1
}
# run SECONDS COMMAND...: its exit code in $rc and its stdout+stderr in $out.
run() {
  local secs=$1
  shift
  out=$(timeout -k 5 "$secs" "$@" 2>&1)
  rc=$?
}

timeout 120 "$SOPFS" format "$VOL" >/dev/null || fail "format $VOL"
run 60 "$SOPFS" mount "$VOL" "$MNT"
[ $rc -eq 0 ] || fail "first mount exited $rc: $out"
timeout 30 sh -c 'echo kept >"$1"' _ "$MNT/kept" || fail "cannot write $MNT/kept"
timeout 30 fusermount3 -u "$MNT" || fail "fusermount3 -u"
wait_s=0
while [ -n "$(head -n 1 "$VOL/sopfs.lock")" ] && kill -0 "$(head -n 1 "$VOL/sopfs.lock")" 2>/dev/null; do
  [ $wait_s -ge 300 ] && fail "the daemon did not exit after unmount"
  sleep 0.1
  wait_s=$((wait_s + 1))
done

mkdir -p "$VOL/log/cluster" && chmod 700 "$VOL/log/cluster"
printf 'sopfs-cluster 1 %s\n' "$ID" >"$MARKER" && chmod 600 "$MARKER"
before=$(cd "$VOL" && find . -path ./sopfs.lock -prune -o -path ./sopfs.log -prune -o -type f -printf '%p %s %T@\n' | sort)

# 1. Every program that takes the volume alone refuses it, naming cluster and marker.
expect="volume $VOL is clustered (cluster $ID, marked by $MARKER)"
run 60 "$SOPFS" mount "$VOL" "$MNT"
[ $rc -eq 1 ] || fail "mount of a clustered volume exited $rc: $out"
[[ "$out" == *"$expect"* ]] || fail "mount said: $out"
mounted "$MNT" && fail "a clustered volume was mounted standalone"
run 60 "$SOPFS" mount -f "$VOL" "$MNT"
[ $rc -eq 1 ] || fail "mount -f of a clustered volume exited $rc: $out"
[[ "$out" == *"$expect"* ]] || fail "mount -f said: $out"
run 120 "$SOPFS" fsck "$VOL"
[ $rc -eq 8 ] || fail "fsck of a clustered volume exited $rc: $out"
[[ "$out" == *"$expect"* ]] || fail "fsck said: $out"
[[ "$out" == *"unmount it first"* ]] && fail "fsck told to unmount a volume that is not mounted: $out"
run 120 "$SOPFS" fsck --repair "$VOL"
[ $rc -eq 8 ] || fail "fsck --repair of a clustered volume exited $rc: $out"
run 60 "$SOPFS" status "$VOL"
[ $rc -eq 8 ] || fail "status of a clustered volume exited $rc: $out"
[[ "$out" == *"$expect"* ]] || fail "status said: $out"
run 60 "$SOPFS" reinstate "$VOL"
[ $rc -eq 1 ] || fail "reinstate of a clustered volume exited $rc: $out"
[[ "$out" == *"$expect"* ]] || fail "reinstate said: $out"
after=$(cd "$VOL" && find . -path ./sopfs.lock -prune -o -path ./sopfs.log -prune -o -type f -printf '%p %s %T@\n' | sort)
[ "$before" = "$after" ] || fail "the refused programs changed the volume: $(diff <(echo "$before") <(echo "$after"))"

# 2. A marker that is not one is refused too: the mode is never guessed.
printf 'sopfs-clustr 1 %s\n' "$ID" >"$MARKER"
run 60 "$SOPFS" mount "$VOL" "$MNT"
[ $rc -eq 1 ] || fail "mount with a damaged marker exited $rc: $out"
[[ "$out" == *"$MARKER is not a cluster mode marker"* ]] || fail "mount said: $out"
mounted "$MNT" && fail "mounted with a damaged marker"

# 3. Without the marker the volume is standalone again, with its files.
rm -f "$MARKER"
run 60 "$SOPFS" mount "$VOL" "$MNT"
[ $rc -eq 0 ] || fail "mount after the marker went exited $rc: $out"
[ "$(timeout 30 cat "$MNT/kept")" = kept ] || fail "$MNT/kept lost"
timeout 30 fusermount3 -u "$MNT" || fail "final fusermount3 -u"
echo "ok"
