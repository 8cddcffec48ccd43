// The daemon's open file and directory handles (what fi->fh points to).
//
// The kernel sends RELEASE asynchronously after close() has returned; a release still
// queued when the mount goes away never reaches the daemon. So every handle is owned
// by a table rather than by the kernel's promise to release it: Take() hands one back
// at release, and what is left when the session loop ends (TakeAll) is closed then by
// ReleaseHandle, as RELEASE would have; open transactions roll back.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "fuse/fs/file_system.h"

namespace sopfs {

struct FsTxn;

// An open file: its access mode, and the transaction it was opened in (its I/O belongs
// to that transaction, and fails with ESTALE once it ended), or a control file.
struct FileHandle {
  uint64_t ino = 0;
  bool writable = false;
  bool direct_io = false;  // the kernel's page cache is bypassed (see SetHandle)
  std::shared_ptr<FsTxn> txn;
  uint64_t control = 0;
  // A control file's text as of the read at offset 0: the later reads of the same
  // pass continue that text, so a reader never gets a mix of two versions.
  std::mutex control_mu;
  std::string control_text;
  bool control_read = false;  // control_text has been taken
};

// An open directory: its entries as of opendir, so offsets stay stable.
struct DirHandle {
  std::vector<ListedEntry> entries;
  bool read_once = false;  // a read at offset 0 after this one is a rewind
};

// Closes a handle as the kernel's RELEASE would: a handle of the shared state releases
// its file (the last writable one commits it); a transaction's handle and a control
// file's have nothing to release here.
inline Status ReleaseHandle(FileSystem& fs, const FileHandle& handle) {
  if (handle.control != 0) return Status::Ok();
  Caller caller;
  caller.txn = handle.txn.get();
  return fs.Release(handle.ino, handle.writable, caller);
}

template <class T>
class HandleTable {
 public:
  // Keeps `handle` and returns the value for fi->fh.
  uint64_t Add(std::unique_ptr<T> handle) {
    T* raw = handle.get();
    std::lock_guard<std::mutex> lock(mu_);
    open_.emplace(raw, std::move(handle));
    return reinterpret_cast<uint64_t>(raw);
  }

  // The handle behind fi->fh; valid until Take() of the same value.
  static T* Get(uint64_t fh) { return reinterpret_cast<T*>(fh); }

  // Gives up the table's ownership (release): the caller frees it.
  std::unique_ptr<T> Take(uint64_t fh) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = open_.find(Get(fh));
    if (it == open_.end()) return nullptr;
    std::unique_ptr<T> handle = std::move(it->second);
    open_.erase(it);
    return handle;
  }

  // Everything still open (at unmount: what the kernel never released).
  std::vector<std::unique_ptr<T>> TakeAll() {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<std::unique_ptr<T>> all;
    for (auto& [raw, handle] : open_) all.push_back(std::move(handle));
    open_.clear();
    return all;
  }

 private:
  std::mutex mu_;
  std::unordered_map<T*, std::unique_ptr<T>> open_;
};

}  // namespace sopfs
