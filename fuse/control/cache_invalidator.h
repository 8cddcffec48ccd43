// CacheInvalidator: what the file model tells the kernel when an explicit transaction
// ends, so that no session goes on reading what the kernel cached of another's view.
// fuse/kernel/kernel_notifier.h implements it over libfuse; the file model and the
// control files need no kernel.
//
// Threads: implementations take calls from any thread, and never block on a request.
#pragma once

#include <cstdint>
#include <string>

namespace sopfs {

class CacheInvalidator {
 public:
  virtual ~CacheInvalidator() = default;
  // The inode's cached pages and attributes (attrs_only: attributes alone).
  virtual void InvalidateInode(uint64_t ino, bool attrs_only = false) = 0;
  // The name `name` in directory `parent`; sent later, never from inside a request.
  virtual void InvalidateEntryLater(uint64_t parent, std::string name) = 0;
};

}  // namespace sopfs
