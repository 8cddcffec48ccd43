// The libfuse low-level operations table: each request is translated into one
// FileSystem call, and a Status into -errno in one place (ReplyError).
#pragma once

#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>

#include "fuse/file_system.h"

namespace sopfs {

// What the operations reach through fuse_req_userdata.
struct FuseContext {
  FileSystem* fs = nullptr;
  double attr_timeout = 1.0;
};

fuse_lowlevel_ops MakeFuseOps();

}  // namespace sopfs
