// CloseJournal: the redo journal that makes a close durable against a crash of the
// daemon without an engine commit per file.
//
// A small file's close appends one record (the namespace changes since the last record
// and the file's whole content) with a plain write: once write() returns, the bytes
// are in the kernel and survive kill -9 of the daemon. The next namespace commit puts
// everything into the engine (which is what makes it survive a power cut too, within
// the commit interval, or at once on fsync). Each record carries a sequence number; a
// commit stores the last one it includes, and replay skips those.
//
// Files "<dir>/journal-<generation>" (generation in decimal). A record is
// [u32 payload length][u64 XXH3 of the payload][payload]. A torn or damaged record ends
// the replay, in its file and the later ones, so what is replayed is always a prefix
// (only closes before a crash of the daemon are promised, and those writes completed;
// after a power cut, what a commit made durable). Rotate starts a new file so that
// files whose records are all committed can be dropped whole.
//
// Threads: the caller serialises every call (FileSystem holds its mu_).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/io/env.h"

namespace sopfs {

class CloseJournal {
 public:
  static Result<std::unique_ptr<CloseJournal>> Open(Env* env, std::string dir);

  // Every intact record of every journal file, oldest first (read before appending).
  Result<std::vector<std::string>> ReadAll();
  Status Append(std::string_view payload);
  // Starts a new file; returns its generation. Records appended later go there.
  Result<uint64_t> Rotate();
  // Removes the files older than `generation` (their records are all committed).
  void DropBefore(uint64_t generation);

 private:
  CloseJournal(Env* env, std::string dir) : env_(env), dir_(std::move(dir)) {}
  std::string PathOf(uint64_t generation) const;
  Result<std::vector<uint64_t>> Generations();

  Env* env_;
  std::string dir_;
  uint64_t generation_ = 0;
  std::unique_ptr<File> file_;
  uint64_t end_ = 0;
};

}  // namespace sopfs
