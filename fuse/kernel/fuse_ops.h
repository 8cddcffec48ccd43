// The libfuse low-level operations table: each request is translated into one
// FileSystem call, and a Status into -errno in one place (ReplyError).
#pragma once

#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>

#include "fuse/control/control_files.h"
#include "fuse/control/session_table.h"
#include "fuse/fs/file_system.h"
#include "fuse/kernel/kernel_notifier.h"
#include "fuse/kernel/open_handles.h"

namespace sopfs {

class UringTransport;

// What the operations reach through fuse_req_userdata.
//
// Kernel caches and transactions: the kernel's caches are shared by every session, a
// transaction's view is its session's alone. So while any transaction is open, names
// and attributes are answered with no cache time (every lookup and stat comes back to
// the daemon, which answers from the caller's view); a file opened inside a
// transaction bypasses the page cache (direct I/O); a rename or link made while a
// transaction is open drops the kernel's entries of both names; and a commit or
// rollback drops the cached pages and attributes of everything it touched before it
// returns.
struct FuseContext {
  FileSystem* fs = nullptr;
  double attr_timeout = 1.0;
  SessionTable* sessions = nullptr;
  KernelNotifier* notifier = nullptr;
  control::RequestCounters requests;
  control::Sources control;
  uint32_t uid = 0;  // the daemon's: owner of the control files
  uint32_t gid = 0;
  int64_t mounted_ns = 0;
  HandleTable<FileHandle> files;  // fi->fh of open files and control files
  HandleTable<DirHandle> dirs;    // fi->fh of open directories
  UringTransport* transport = nullptr;
  // Set at INIT: the kernel drops the cached pages a direct-I/O write covers (FUSE 7.39,
  // Linux 6.6). Before, cached readers would keep stale pages, so write-only handles
  // stay buffered and the daemon drops the pages after each direct write itself.
  // SOPFS_TEST_FUSE_MINOR in the environment stands in for the kernel's minor version
  // (tests of the older kernels' path on a newer one).
  bool kernel_drops_direct_written_pages = false;
};

fuse_lowlevel_ops MakeFuseOps();

}  // namespace sopfs
