// Set-user-id and set-group-id bits that a change of a file's content must drop.
//
// A local file system drops them when a caller without CAP_FSETID writes or truncates
// a regular file. The kernel does it for FUSE too for buffered writes and truncates by
// path, but not for writes through a direct-I/O handle (transactions, O_APPEND) and not
// for open with O_TRUNC (the daemon truncates in OPEN): those are the daemon's. As the
// kernel does for FUSE, set-group-id goes only where group execute is on (without it,
// the bit is the old mandatory-locking marker, not a privilege).
#pragma once

#include <sys/types.h>

#include <cstdint>

namespace sopfs {

// `mode` without the set-id bits a content change by an unprivileged caller drops
// (regular files only).
uint32_t ModeAfterContentChange(uint32_t mode);
// `mode` without the set-id bits a change of owner or group drops, whoever makes it: as
// the kernel's chown does, every type but directories (fifos, sockets, devices too).
uint32_t ModeAfterOwnerChange(uint32_t mode);

// Whether process `pid` holds CAP_FSETID (from /proc/PID/status). A process that is
// gone, or a status that cannot be read, counts as not holding it.
bool HoldsCapFsetid(pid_t pid);

}  // namespace sopfs
