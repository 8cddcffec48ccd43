#!/bin/bash
# sopfs mount for real, through /dev/fuse (exit 1, "skipped", without it):
# - `sopfs mount VOL MNT` returns only once the mount is usable, leaves a daemon in its own
#   session, and does not keep the caller's pipes open;
# - a second daemon on the same volume is refused, naming the first one's pid;
# - fusermount3 -u and SIGTERM make the daemon unmount and exit, 0 in the foreground (-f),
#   and what was written is there at the next mount;
# - mount.sopfs (what mount(8) runs) mounts with fstab options;
# - a lock holder that was killed but cannot exit has its FUSE connection aborted and its
#   mount detached by the next mount, and a connection serving another mount never is;
# - without VOLUME the default volume is made on first use and reused afterwards.
# Every wait is bounded; the cleanup unmounts and kills only the daemons this test made.
# Usage: cli_mount.sh SOPFS MOUNT_SOPFS
set -u
SOPFS=$1
MOUNT_SOPFS=$2

if [ ! -r /dev/fuse ] || [ ! -w /dev/fuse ] || ! command -v fusermount3 >/dev/null; then
  echo "FAIL: needs /dev/fuse and fusermount3 (install fuse3)"
  exit 1
fi

W=$(mktemp -d /tmp/sopfs-cli-mount.XXXXXX)
VOL=$W/vol
MNT=$W/mnt
mkdir "$MNT" "$W/mnt2"
DAEMONS=()

fail() {
  echo "FAIL: $*" >&2
  for log in "$VOL/sopfs.log" "$W/home/.local/share/sopfs/default/sopfs.log" "$W/fg.err"; do
    [ -s "$log" ] && { echo "--- $log" >&2; tail -n 20 "$log" >&2; }
  done
  exit 1
}

# Whether $1 is a mountpoint now (the kernel's table, not a cached view).
mounted() { awk -v m="$1" '$5 == m { found = 1 } END { exit !found }' /proc/self/mountinfo; }
fstype() { awk -v m="$1" '$5 == m { for (i = 7; $i != "-"; i++); print $(i + 1) }' /proc/self/mountinfo; }

# wait_for SECONDS COMMAND...: polls every 0.1 s until COMMAND succeeds.
wait_for() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@"; do
    [ $SECONDS -ge $deadline ] && return 1
    sleep 0.1
  done
}
# Anything that touches the mount is bounded: a daemon that stopped answering must fail
# the test, not hang it.
bounded() { timeout -k 5 30 "$@"; }
write_file() { bounded sh -c 'echo "$1" >"$2"' _ "$1" "$2"; }
file_is() { [ "$(bounded cat "$2")" = "$1" ]; }

alive() { kill -0 "$1" 2>/dev/null; }
gone() { ! kill -0 "$1" 2>/dev/null; }
unmounted() { ! mounted "$1"; }

# captured SECONDS COMMAND...: the command's stdout and stderr, through a pipe as a caller
# would read them. A daemon that kept the pipe open would make this wait: the timeout
# then ends the reader (exit 124), not the daemon, which has its own session.
captured() {
  local secs=$1
  shift
  timeout "$secs" bash -o pipefail -c '"$@" 2>&1 | cat' _ "$@"
}

# The daemon's pid, from the volume lock file it writes.
daemon_pid() { head -n 1 "$1/sopfs.lock"; }

cleanup() {
  [ -s "$W/stand-in.pid" ] && kill "$(cat "$W/stand-in.pid")" 2>/dev/null
  for m in "$MNT" "$W/mnt2"; do
    if mounted "$m"; then fusermount3 -u -z "$m" 2>/dev/null || umount -l "$m" 2>/dev/null; fi
  done
  for pid in "${DAEMONS[@]}"; do
    # Only our daemons: the pid must still be a sopfs process of this test's folder.
    if alive "$pid" && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "$W"; then
      kill -TERM "$pid" 2>/dev/null
      wait_for 10 gone "$pid" || kill -KILL "$pid" 2>/dev/null
    fi
  done
  rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP  # so that the cleanup runs when ctest gives up on us

timeout 120 "$SOPFS" format "$VOL" >/dev/null || fail "format $VOL"

# 1. Daemonized mount: ready on return, the caller's pipe released.
start=$SECONDS
out=$(captured 60 "$SOPFS" mount "$VOL" "$MNT") || fail "sopfs mount exited $? (124: pipe kept open): $out"
[ $((SECONDS - start)) -lt 50 ] || fail "sopfs mount kept the caller's pipe open"
[ -z "$out" ] || fail "sopfs mount printed something on success: $out"
mounted "$MNT" || fail "sopfs mount returned before $MNT was mounted"
case "$(fstype "$MNT")" in fuse*) ;; *) fail "$MNT has type $(fstype "$MNT")" ;; esac
[ "$(bounded stat -f -c %T "$MNT")" != "$(stat -f -c %T "$W")" ] || fail "stat -f $MNT shows no new file system"
PID=$(daemon_pid "$VOL")
DAEMONS+=("$PID")
alive "$PID" || fail "no daemon with the pid of sopfs.lock ($PID)"
[ "$(ps -o sid= -p "$PID" | tr -d ' ')" = "$PID" ] || fail "the daemon is not in its own session"
grep -q default_permissions <<<"$(grep " $MNT " /proc/self/mountinfo)" ||
  fail "default_permissions is not a mount option: $(grep " $MNT " /proc/self/mountinfo)"

write_file hello "$MNT/a" || fail "cannot write $MNT/a"
head -c 3000000 /dev/urandom >"$W/blob"
bounded cp "$W/blob" "$MNT/blob" || fail "cp into the mount"
file_is hello "$MNT/a" || fail "read back $MNT/a"
bounded cmp -s "$W/blob" "$MNT/blob" || fail "the copied file differs"

# 2. A second daemon on the same volume is refused.
err=$(captured 30 "$SOPFS" mount "$VOL" "$W/mnt2")
rc=$?
[ $rc -eq 1 ] || fail "second mount exited $rc: $err"
[[ "$err" == *"already mounted by another sopfs daemon (pid $PID)"* ]] || fail "second mount said: $err"
mounted "$W/mnt2" && fail "second mount mounted something"

# 3. fusermount3 -u: the daemon exits, the data stays.
bounded fusermount3 -u "$MNT" || fail "fusermount3 -u"
wait_for 30 gone "$PID" || fail "the daemon did not exit after fusermount3 -u"

# 4. Foreground: the daemon is our child, so its exit code after SIGTERM is visible.
"$SOPFS" mount -f "$VOL" "$MNT" 2>"$W/fg.err" &
FG=$!
DAEMONS+=("$FG")
wait_for 60 mounted "$MNT" || fail "sopfs mount -f did not mount within 60 s"
grep -q "mounted $VOL at $MNT" "$W/fg.err" || fail "sopfs mount -f said: $(cat "$W/fg.err")"
file_is hello "$MNT/a" || fail "$MNT/a lost across an unmount"
bounded cmp -s "$W/blob" "$MNT/blob" || fail "$MNT/blob changed across an unmount"
kill -TERM "$FG"
wait_for 30 gone "$FG" || fail "sopfs mount -f did not exit on SIGTERM"
wait "$FG"
rc=$?
[ $rc -eq 0 ] || fail "sopfs mount -f exited $rc after SIGTERM: $(cat "$W/fg.err")"
unmounted "$MNT" || fail "$MNT still mounted after SIGTERM"

# 5. mount.sopfs, as mount(8) calls it (fstab-only options dropped); SIGTERM to the
#    daemonized daemon unmounts.
out=$(captured 60 "$MOUNT_SOPFS" "$VOL" "$MNT" -o rw,relatime,nodev,noauto,nofail,_netdev) ||
  fail "mount.sopfs: $out"
mounted "$MNT" || fail "mount.sopfs returned before $MNT was mounted"
PID=$(daemon_pid "$VOL")
DAEMONS+=("$PID")
file_is hello "$MNT/a" || fail "$MNT/a through mount.sopfs"
kill -TERM "$PID"
wait_for 30 gone "$PID" || fail "the daemon did not exit on SIGTERM"
unmounted "$MNT" || fail "$MNT still mounted after SIGTERM"

# 5b. A killed daemon that cannot exit (FsHangTest makes real ones when the race allows):
#     here a stand-in holds VOL's lock for a pid that is gone, until the FUSE connection
#     its record names is aborted; that connection is a real mount of a second volume at
#     mnt2. The next mount names it, aborts that connection, detaches mnt2, and mounts.
VOL2=$W/vol2
timeout 120 "$SOPFS" format "$VOL2" >/dev/null || fail "format $VOL2"
# stand_in MOUNTPOINT_IN_RECORD POLLED_MOUNT: takes VOL's lock and keeps it, in a process
# of its own, while POLLED_MOUNT's connection answers.
stand_in() {
  (
    exec 9>"$VOL/sopfs.lock"
    flock -n 9 || exit 1
    printf '%s\n%s\n%s\n' "$BASHPID" "$1" "$CONN" >&9
    cd "$2" || exit 1
    setsid bash -c 'echo $$ >"$1"; while stat -f . >/dev/null 2>&1; do sleep 0.05; done' _ \
      "$W/stand-in.pid" </dev/null >/dev/null 2>&1 &
  ) || fail "cannot stand in for a dying daemon"
  wait_for 10 test -s "$W/stand-in.pid" || fail "the stand-in did not start"
}
out=$(captured 60 "$SOPFS" mount "$VOL2" "$W/mnt2") || fail "mount of $VOL2: $out"
PID2=$(daemon_pid "$VOL2")
DAEMONS+=("$PID2")
CONN=$(awk -v m="$W/mnt2" '$5 == m { split($3, d, ":"); print d[2] }' /proc/self/mountinfo)
stand_in "$W/mnt2" "$W/mnt2"
out=$(captured 60 "$SOPFS" mount "$VOL" "$MNT") || fail "mount beside a dying holder: $out"
[[ "$out" == *"was killed but has not exited; aborted its FUSE connection $CONN and unmounted $W/mnt2"* ]] ||
  fail "the mount did not say what it cleared: $out"
grep -q "aborted its FUSE connection $CONN" "$VOL/sopfs.log" || fail "sopfs.log does not say it"
mounted "$MNT" || fail "$MNT not mounted after clearing the dying holder"
unmounted "$W/mnt2" || fail "the dying holder's mount is still there"
wait_for 30 gone "$(cat "$W/stand-in.pid")" || fail "the stand-in never saw its connection end"
wait_for 30 gone "$PID2" || fail "the aborted connection's daemon did not exit"
PID=$(daemon_pid "$VOL")
DAEMONS+=("$PID")
file_is hello "$MNT/a" || fail "$MNT/a after clearing a dying holder"
bounded fusermount3 -u "$MNT" || fail "fusermount3 -u after clearing a dying holder"
wait_for 30 gone "$PID" || fail "the daemon did not exit"

# 5c. A record whose connection now serves another mount (its number was reused) is
#     never aborted: the mount waits, then refuses, and the other mount lives on.
out=$(captured 60 "$SOPFS" mount "$VOL2" "$W/mnt2") || fail "mount of $VOL2 again: $out"
PID2=$(daemon_pid "$VOL2")
DAEMONS+=("$PID2")
CONN=$(awk -v m="$W/mnt2" '$5 == m { split($3, d, ":"); print d[2] }' /proc/self/mountinfo)
rm -f "$W/stand-in.pid"
stand_in "$W/elsewhere" "$W/mnt2"
out=$(captured 60 "$SOPFS" mount "$VOL" "$MNT")
rc=$?
[ $rc -eq 1 ] || fail "a mount beside a holder whose connection is another mount's exited $rc: $out"
[[ "$out" == *"already mounted by another sopfs daemon"* ]] || fail "it said: $out"
mounted "$W/mnt2" && bounded stat -f "$W/mnt2" >/dev/null || fail "the other mount was harmed"
kill "$(cat "$W/stand-in.pid")"
wait_for 10 gone "$(cat "$W/stand-in.pid")" || fail "the stand-in did not exit"
# Its last `sleep` may still sit in mnt2 for a moment: busy until then.
wait_for 30 fusermount3 -u "$W/mnt2" 2>/dev/null || fail "fusermount3 -u $W/mnt2"
wait_for 30 gone "$PID2" || fail "the second volume's daemon did not exit"

# 6. The default volume: made on first use, reused afterwards.
DEFAULT=$W/home/.local/share/sopfs/default
export HOME=$W/home
unset XDG_DATA_HOME
out=$(captured 120 "$SOPFS" mount "$MNT") || fail "mount of the default volume: $out"
[ -f "$DEFAULT/sopfs.conf" ] || fail "no default volume at $DEFAULT"
PID=$(daemon_pid "$DEFAULT")
DAEMONS+=("$PID")
write_file kept "$MNT/b" || fail "cannot write to the default volume"
bounded fusermount3 -u "$MNT" || fail "fusermount3 -u (default volume)"
wait_for 30 gone "$PID" || fail "the default volume's daemon did not exit"
out=$(captured 60 "$SOPFS" mount "$MNT") || fail "second mount of the default volume: $out"
PID=$(daemon_pid "$DEFAULT")
DAEMONS+=("$PID")
file_is kept "$MNT/b" || fail "the default volume was not reused"
bounded fusermount3 -u "$MNT" || fail "fusermount3 -u (default volume, again)"
wait_for 30 gone "$PID" || fail "the default volume's daemon did not exit"

echo "ok"
