// Registry: logical ID -> RegistryEntry (the blob holding the current version, the
// version number, flags), kept on two folders: an active side and a passive side.
//
// - Writes (Apply) go to both sides in one batch. Each touched block is written
//   atomically (RegistryFile's two slots) and durably before Apply returns. Atomicity
//   across blocks, and so across a transaction, is the transaction log's job.
// - If the active side fails a write or a read with an I/O error (or vanishes), the
//   passive side becomes active, the failed side is marked stale, and the switch is
//   recorded durably (registry.state, epoch numbered) before Apply returns: no commit
//   is lost. If the passive side fails, it is marked stale and writes go on alone.
// - A block that fails its checksum on the active side is read from the passive side
//   and rewritten; with no good copy anywhere the block's IDs fail with EIO. Nothing is
//   ever used silently.
// - Reinstate fast-forwards a stale (e.g. restored) side from the live one.
//
// Every block read stays cached in memory (32 bytes per logical ID).
// Threads: every method may be called concurrently (one mutex serializes them).
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <utility>

#include "engine/io/env.h"
#include "engine/registry/registry_block.h"
#include "engine/registry/registry_file.h"

namespace sopfs {

struct RegistryHealth {
  std::string active_folder;
  std::string passive_folder;
  bool passive_stale = false;  // the passive side missed writes; Reinstate fixes it
  uint64_t epoch = 0;          // bumped by every failover or reinstate
};

class Registry {
 public:
  // Opens (creating on first use) the registry kept in two folders.
  static Result<std::unique_ptr<Registry>> Open(Env* env, std::string side_a, std::string side_b);

  // The entry of `id`; ENOENT if it is not in use, EIO if its block is unreadable.
  Result<RegistryEntry> Get(LogicalId id);
  // Sets entries (an entry without kInUse frees the ID), durably; see the file comment.
  Status Apply(std::span<const std::pair<LogicalId, RegistryEntry>> updates);
  // Brings the stale side up to date from the active one and makes it passive again.
  Status Reinstate();
  RegistryHealth Health();

  // What one side's registry.state records. Open takes the readable one with the
  // higher epoch (see Init for when an unreadable one stops it).
  struct State {
    uint64_t epoch = 0;
    int active = 0;  // 0: side A, 1: side B
    bool passive_stale = false;
  };
  // Reads `folder`'s registry.state; EIO if it is corrupt (a check reads it without
  // opening the registry, which may write).
  static Result<State> ReadState(Env* env, const std::string& folder);

 private:
  Registry(Env* env, std::string side_a, std::string side_b);
  Status Init();
  // Writes `next` to every side that can take it; ok if its active side took it.
  Status RecordStateLocked(const State& next);
  // Records `next` and only then makes it the state; if it cannot be recorded the
  // registry refuses further writes (broken_) until reopened.
  Status SwitchStateLocked(const State& next);
  RegistryFile* ActiveLocked() { return files_[state_.active].get(); }
  RegistryFile* PassiveLocked() {
    return state_.passive_stale ? nullptr : files_[1 - state_.active].get();
  }
  // Makes the passive side active (the active one failed with `why`).
  Status FailOverLocked(const Status& why);
  Result<RegistryBlock> LoadBlockLocked(uint64_t number);

  Env* env_;
  std::string folders_[2];
  std::mutex mu_;  // guards everything below
  State state_;
  std::unique_ptr<RegistryFile> files_[2];  // null for a side that could not be opened
  std::map<uint64_t, RegistryBlock> cache_;
  Status broken_;  // set when a state switch could not be recorded
};

}  // namespace sopfs
