// Stale mounts: what a daemon killed with -9 leaves behind, and how a new mount of the
// same volume clears it without a person.
//
// A killed daemon normally ends its FUSE connection when the kernel closes its
// /dev/fuse descriptor, leaving a dead mount (ENOTCONN) to unmount. But a thread that the
// kill found inside the kernel, waiting for a lock that one of the daemon's own
// unanswered requests holds (an entry invalidation waits for a directory's lock, which
// a directory fsync holds while it waits for the daemon), never finishes: the process
// stays a zombie, the descriptor stays open, the connection lives, and its callers and
// the volume lock wait forever. Aborting the connection through fusectl answers every
// pending request, which lets that thread, and so the process, finish.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "engine/status.h"

namespace sopfs {

struct FuseMountEntry {
  std::string mountpoint;
  unsigned connection = 0;  // the device minor: /sys/fs/fuse/connections/N
  std::string fstype;       // "fuse.sopfs", ...
  std::string source;       // fsname
};

// The FUSE mounts of this mount namespace (/proc/self/mountinfo), in mount order.
std::vector<FuseMountEntry> ListFuseMounts();

// The connection of the topmost FUSE mount at `mountpoint`, or 0 when there is none.
unsigned FuseConnectionAt(const std::string& mountpoint);

// Aborts FUSE connection `connection` through fusectl (mounted at
// /sys/fs/fuse/connections when it is not): every request waiting for its daemon fails.
Status AbortFuseConnection(unsigned connection);

// Detaches `mountpoint` lazily (umount2 MNT_DETACH, or `fusermount3 -u -z` when not
// permitted), which never waits for the daemon behind it.
Status DetachMount(const std::string& mountpoint);

// True when process `pid` is gone or cannot run again: a zombie, or SIGKILL pending.
bool ProcessIsDying(pid_t pid);

}  // namespace sopfs
