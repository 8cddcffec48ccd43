// EntryTable: the registry as transactions see it — committed entries in memory, with
// the older versions that open snapshots still need (multi-version concurrency).
//
// Every commit publishes its registry updates here at once (after its commit record is
// durable) and gets the next publish sequence number. A snapshot is a sequence number:
// it sees exactly the commits published up to it, so a reader never sees half a commit
// and keeps seeing the same tree however long it runs.
//
// IDs changed since the last checkpoint have a chain of versions here (the entry the
// registry held before the first change comes first, numbered 0); other IDs read
// straight from the Registry, which a checkpoint brings up to date (Dirty, then
// Checkpointed). Chains shrink to what the open snapshots need at each checkpoint.
//
// Threads: every method may be called concurrently.
#pragma once

#include <cstdint>
#include <limits>
#include <map>
#include <set>
#include <shared_mutex>
#include <span>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "engine/registry/registry.h"

namespace sopfs {

class EntryTable {
 public:
  static constexpr uint64_t kNoSnapshot = std::numeric_limits<uint64_t>::max();

  explicit EntryTable(Registry* registry) : registry_(registry) {}

  // The entry of `id` as of `snapshot`: ENOENT if it is not in use then, EIO if the
  // registry cannot be read.
  Result<RegistryEntry> Get(LogicalId id, uint64_t snapshot);
  // Makes one commit's updates visible at once; returns their publish sequence.
  uint64_t Publish(std::span<const std::pair<LogicalId, RegistryEntry>> updates);

  // Opens a snapshot of everything published so far; Release closes it.
  uint64_t Acquire();
  void Release(uint64_t snapshot);
  // The oldest open snapshot, or kNoSnapshot when none is open.
  uint64_t OldestSnapshot() const;
  uint64_t published() const;

  // The newest entry of every ID published since the last Checkpointed().
  std::vector<std::pair<LogicalId, RegistryEntry>> Dirty() const;
  // The registry now holds what Dirty() returned: forget what no snapshot needs.
  void Checkpointed();
  // How many IDs changed since the last checkpoint (each holds a chain in memory).
  size_t DirtyCount() const;

 private:
  struct Version {
    uint64_t seq = 0;
    RegistryEntry entry;  // !in_use(): the ID was free then
    Status status;        // the registry could not be read for the base version
  };

  mutable std::shared_mutex mu_;  // guards everything below
  Registry* registry_;
  uint64_t published_ = 0;
  std::unordered_map<LogicalId, std::vector<Version>> chains_;  // oldest first
  std::unordered_set<LogicalId> dirty_;  // published since the last checkpoint
  std::multiset<uint64_t> snapshots_;
};

}  // namespace sopfs
