// SpaceReserve: disk space that fallocate (mode 0 and FALLOC_FL_KEEP_SIZE) promised to
// chunks of a file that hold no data yet, so that writing them later does not fail with
// ENOSPC, and a promise the disk cannot keep fails at once.
//
// Each data folder holds a file `reserved-space`, allocated (posix_fallocate) to its
// share of the promises: a chunk is stored as one shard in each of k+m folders, so a
// promised chunk keeps one shard's room (a k-th of the chunk, plus a header) in every
// folder, (k+m)/k of its length in all. A chunk's room is given back just before the
// chunk is stored (BufferedFile's before-store hook), and when the file is cut below it
// or deleted. Each file with promises also keeps one share more, for the metadata its
// commit writes (a node segment, the log record), until that commit is done (Settle):
// a disk filled by others meanwhile must not fail the commit of the promised bytes.
// statfs sees the promised room as used, as on ext4.
//
// Promises last while the volume is mounted: each mount starts with none (the files are
// cut to zero), so after an unmount or a crash a fallocated range still has its size
// and reads as zeros, but its chunks take room from the common pool when written.
//
// Threads: every method may be called concurrently. mu_ guards the promises and is held
// while the folders' files are resized (metadata-only allocate and truncate calls), so
// the files always hold exactly what is promised.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "engine/io/env.h"
#include "engine/status.h"
#include "fuse/fs/chunk_ranges.h"

namespace sopfs {

class SpaceReserve {
 public:
  static constexpr const char* kFileName = "reserved-space";

  // A data folder that cannot be opened (a lost drive) holds no share.
  static Result<std::unique_ptr<SpaceReserve>> Open(Env* env,
                                                    const std::vector<std::string>& data_folders,
                                                    int k, uint32_t chunk_size);
  ~SpaceReserve();  // gives every promise back
  SpaceReserve(const SpaceReserve&) = delete;
  SpaceReserve& operator=(const SpaceReserve&) = delete;

  // Promises room for the chunks of file `ino` in `runs` ([first, end) each; chunks
  // promised already are skipped). ENOSPC naming the folder, and nothing promised, when
  // a folder lacks the room (found from its free space before anything is allocated).
  Status Promise(uint64_t ino, const std::vector<std::pair<uint64_t, uint64_t>>& runs);
  // Gives back the room of chunks [first, last) of `ino`.
  void Release(uint64_t ino, uint64_t first, uint64_t last = UINT64_MAX);
  // The file's content was committed: once none of its chunks is promised any more, its
  // metadata share goes back too.
  void Settle(uint64_t ino);
  // The file is deleted: everything promised to it goes back.
  void Forget(uint64_t ino);
  // Chunks promised now, over all files.
  uint64_t promised_chunks() const;

 private:
  SpaceReserve(Env* env, uint64_t share) : env_(env), share_(share) {}
  // Sets every folder's file to `shares` shares. mu_ held.
  Status Resize(uint64_t shares);
  uint64_t SharesLocked() const { return chunks_ + allowances_.size(); }

  Env* const env_;
  const uint64_t share_;
  std::vector<std::string> folders_;  // those holding a file, in order
  std::vector<std::unique_ptr<File>> files_;
  mutable std::mutex mu_;                     // guards the four below
  std::map<uint64_t, ChunkRanges> promised_;  // file -> its promised chunks
  std::set<uint64_t> allowances_;             // files holding a metadata share
  uint64_t chunks_ = 0;                       // promised, over all files
  uint64_t shares_ = 0;                       // what the folders' files hold
};

}  // namespace sopfs
