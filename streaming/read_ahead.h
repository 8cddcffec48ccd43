// ReadAhead: sequential readers find their next chunks in memory.
//
// Every read is noted; a read that starts where the previous read of the same file
// ended is sequential, and the next `depth` chunks of the file are loaded in the
// background into the engine's value cache (whole blobs), so the reads that follow are
// served from memory while the disk works ahead. Random readers cost nothing but the
// note.
//
// Threads: Note may be called from any thread; the loads run on the ReadAhead's own
// workers, each in its own read-only transaction.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "engine/txn/engine.h"

namespace sopfs {

// Where a file's chunks are: its store's chunk tree and chunk size.
struct ChunkSource {
  LogicalId tree = 0;
  uint32_t chunk_size = 0;
};

class ReadAhead {
 public:
  explicit ReadAhead(Engine* engine, int depth = 4, int workers = 2);
  ~ReadAhead();
  ReadAhead(const ReadAhead&) = delete;
  ReadAhead& operator=(const ReadAhead&) = delete;

  // A read of `length` bytes at `offset` of file `file_id` whose size is `size`.
  void Note(uint64_t file_id, ChunkSource source, uint64_t offset, uint64_t length, uint64_t size);
  // The file's content changed or it went away: forget what was loaded for it.
  void Forget(uint64_t file_id);

 private:
  void Work();

  Engine* engine_;
  uint64_t depth_;

  std::mutex mu_;  // guards everything below
  std::condition_variable cv_;
  bool stopping_ = false;
  std::unordered_map<uint64_t, uint64_t> next_offset_;   // file -> where its last read ended
  std::unordered_map<uint64_t, uint64_t> loaded_up_to_;  // file -> chunks below are queued
  struct Load {
    LogicalId tree;
    uint64_t file_id;
    uint64_t index;
  };
  std::deque<Load> queue_;
  std::vector<std::thread> workers_;
};

}  // namespace sopfs
