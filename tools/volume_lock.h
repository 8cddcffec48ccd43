// The volume lock: one daemon per volume. An exclusive flock on VOLUME/sopfs.lock,
// taken by `sopfs mount` before it forks and held (inherited) by the daemon for its
// life. The file names the daemon: "PID\n", and once mounted "PID\nMOUNTPOINT\nCONN\n"
// (CONN: its FUSE connection, /sys/fs/fuse/connections/CONN).
//
// A daemon killed with -9 may leave its mount behind, and may even be unable to exit
// (see fuse/kernel/stale_mount.h), holding the lock. LockVolume clears both, with no
// person needed: a dying holder's connection is aborted and its mount detached, and a
// gone holder's dead mount is detached; each step is said on stderr and in
// VOLUME/sopfs.log.
#pragma once

#include <string>

#include "engine/status.h"

namespace sopfs::tools {

// The locked descriptor (O_CLOEXEC), or EBUSY naming the live daemon that holds it, or
// EMEDIUMTYPE when the volume is clustered (fuse/volume/volume_mode.h): its daemons share
// it, so no program may take it alone (mount, fsck, status and reinstate all lock it).
Result<int> LockVolume(const std::string& volume_dir);

// Writes the holder's record: this process, and once mounted where and through which
// connection (mountpoint empty: not mounted yet).
void RecordDaemon(int lock_fd, const std::string& mountpoint);

}  // namespace sopfs::tools
