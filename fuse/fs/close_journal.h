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
// Files "<dir>/journal-<generation>" (generation in decimal), one copy in each of its
// folders (the daemon: the log folder and the passive registry folder, which may sit on
// other drives). A record is [u32 payload length][u64 XXH3 of the payload][payload],
// appended to every copy at the same offset, and an append succeeds only when every
// copy took it (else the caller commits the file instead). So a record damaged in one
// copy (a flipped byte, a lost folder) is read from another. A record unreadable in
// every copy (torn by a power cut, or damaged everywhere) ends the replay, in its file
// and the later ones, so what is replayed is always a prefix (only closes before a
// crash of the daemon are promised, and those writes completed; after a power cut,
// what a commit made durable); the problems say where. Rotate starts a new file so
// that files whose records are all committed can be dropped whole.
//
// Threads: the caller serialises every call (FileSystem holds its mu_ for the close
// journal, its intent_mu_ for the intent log).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/io/env.h"

namespace sopfs {

class CloseJournal {
 public:
  // `dirs`: one or more folders, each holding a copy. Appends go to a new file. Files
  // are named `prefix` + generation (another journal in the same folders takes another
  // prefix: the intent log's is "intent-").
  static Result<std::unique_ptr<CloseJournal>> Open(Env* env, std::vector<std::string> dirs,
                                                    std::string prefix = "journal-");

  struct Contents {
    std::vector<std::string> records;   // the readable prefix, oldest first
    std::vector<std::string> problems;  // one line per damaged copy or unreadable record
  };
  // Every readable record of every journal file (read before appending).
  Result<Contents> ReadAll();
  Status Append(std::string_view payload);
  // Append, and the record (and every one before it) made durable against a power cut:
  // every copy written and flushed at the same time, and a new file's directory entry
  // flushed once.
  Status AppendDurably(std::string_view payload);
  // Starts a new file; returns its generation. Records appended later go there.
  Result<uint64_t> Rotate();
  // Removes the files older than `generation` (their records are all committed).
  void DropBefore(uint64_t generation);

 private:
  CloseJournal(Env* env, std::vector<std::string> dirs, std::string prefix)
      : env_(env), dirs_(std::move(dirs)), prefix_(std::move(prefix)) {}
  std::string PathOf(size_t copy, uint64_t generation) const;
  // Opens (creates) the current generation's copies for appending.
  Status OpenFiles();
  // The generations any copy has, ascending.
  Result<std::vector<uint64_t>> Generations();
  // The bytes of one copy of a file; empty when that copy is missing.
  std::string ReadCopy(size_t copy, uint64_t generation, std::vector<std::string>* problems);

  Env* env_;
  std::vector<std::string> dirs_;
  std::string prefix_;
  uint64_t generation_ = 0;
  bool entries_synced_ = false;               // the current files' directory entries are durable
  std::vector<std::unique_ptr<File>> files_;  // one per copy once appending
  uint64_t end_ = 0;
};

}  // namespace sopfs
