// MetadataReserve: room kept free on every file system a volume's folders live on, so
// that metadata (node versions, commit records, the registry, checkpoints) can still be
// written when the disk is full, and deletions, truncates and the commits of what was
// already acknowledged still go through: as ext4 keeps blocks for root, but held as a
// real file (`metadata-reserve`, allocated), so that no other writer on the same disk,
// inside sopfs or not, can take the room.
//
// - One file per file system (folders sharing a device share it), in the first folder
//   on that file system, allocated to `bytes`.
// - Release: a metadata write found no room; every file is cut to zero so that the
//   write can be tried again. While any file is short, Full() is false and new data is
//   refused (ENOSPC): only metadata and deletions use the released room.
// - Full() refills a short file once its file system has the room and a quarter more to
//   spare (deletions freed it); from then on data is taken again. While short, each
//   call costs a statfs per file system.
//
// Threads: every method may be called concurrently.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "engine/io/env.h"
#include "engine/status.h"

namespace sopfs {

class MetadataReserve {
 public:
  static constexpr const char* kFileName = "metadata-reserve";

  // `bytes` == 0: no reserve (Full() is always true, Release() gives nothing). A folder
  // that cannot be reached (a lost drive) is skipped. Does not fill: call Full().
  static Result<std::unique_ptr<MetadataReserve>> Open(Env* env,
                                                       const std::vector<std::string>& folders,
                                                       uint64_t bytes);
  MetadataReserve(const MetadataReserve&) = delete;
  MetadataReserve& operator=(const MetadataReserve&) = delete;

  // True when every file holds its full size, refilling short ones first if their file
  // systems have the room.
  bool Full();
  // Gives every file's room back to its file system, saying so in the log. False when
  // nothing was held (there is nothing more to give).
  bool Release();
  // Ok while deletions can commit: the reserve holds room, or every file system it
  // covers has a few MiB free. Else ENOSPC naming the full one.
  Status RoomForDeletions() const;
  // Bytes held now, over all files; bytes wanted when full.
  uint64_t held() const;
  uint64_t target() const { return bytes_ * files_.size(); }

 private:
  struct Slot {
    std::string folder;
    std::unique_ptr<File> file;
    uint64_t held = 0;
    bool released = false;  // by Release, in this process: say when it is whole again
  };
  MetadataReserve(Env* env, uint64_t bytes) : env_(env), bytes_(bytes) {}
  // Tries to bring every short file to its size. mu_ held.
  bool RefillLocked();

  Env* const env_;
  const uint64_t bytes_;
  std::vector<Slot> files_;
  mutable std::mutex mu_;  // guards the slots' `held`
  std::atomic<bool> full_{true};
};

}  // namespace sopfs
