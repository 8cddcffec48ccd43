// KernelNotifier: tells the kernel that what it cached of an inode or a name is stale
// (libfuse's notify_inval_*), which explicit transactions need: the kernel's caches are
// shared by every session, while a transaction's changes are seen by its own alone.
//
// Entry invalidations are queued and sent by a thread of their own: the kernel takes
// the directory's lock for them, which a request of that directory may hold while it
// waits for this daemon, so they must never be sent from inside a request. Nor while
// this daemon holds such a request for long: a directory's fsync holds its lock until
// the next namespace commit, so an invalidation for a directory with an fsync in
// flight waits until it is answered (DirectoryBusy/DirectoryIdle). Were the daemon
// killed while that thread waits in the kernel, it could never exit (see
// stale_mount.h); a request that takes the lock after the check makes that window as
// short as the request itself. Inode
// invalidations (pages and attributes) take no directory lock and are sent at once,
// so a commit's changes are visible to every session when `commit` returns.
//
// Threads: every method may be called from any thread.
#pragma once

#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>

#include "fuse/control/cache_invalidator.h"

namespace sopfs {

class KernelNotifier : public CacheInvalidator {
 public:
  KernelNotifier();
  ~KernelNotifier();  // sends nothing more once the session is cleared
  KernelNotifier(const KernelNotifier&) = delete;
  KernelNotifier& operator=(const KernelNotifier&) = delete;

  // Set once the session is mounted, cleared (null) before it goes.
  void SetSession(fuse_session* se);

  // The inode's cached pages and attributes (attrs_only: attributes alone).
  void InvalidateInode(uint64_t ino, bool attrs_only = false) override;
  // The inode's cached pages over [offset, offset + length), and its attributes.
  void InvalidateRange(uint64_t ino, uint64_t offset, uint64_t length);
  void InvalidateEntryLater(uint64_t parent, std::string name) override;

  // A request that holds directory `ino`'s lock in the kernel and waits long in this
  // daemon (a directory fsync) starts / ends. Calls nest.
  void DirectoryBusy(uint64_t ino);
  void DirectoryIdle(uint64_t ino);

 private:
  void Loop();

  // Guards se_: notifications share it (they may block in the kernel), clearing the
  // session waits for them.
  std::shared_mutex session_mu_;
  fuse_session* se_ = nullptr;

  std::mutex queue_mu_;  // guards queue_, busy_ and stopping_
  std::condition_variable queue_cv_;
  std::deque<std::pair<uint64_t, std::string>> queue_;
  std::unordered_map<uint64_t, int> busy_;  // directory -> requests holding it
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace sopfs
