#include "engine/txn/entry_table.h"

#include <mutex>

namespace sopfs {
namespace {

Result<RegistryEntry> Visible(const RegistryEntry& entry, LogicalId id) {
  if (!entry.in_use())
    return Status::Error(ENOENT, "logical ID " + std::to_string(id) + " is free");
  return entry;
}

}  // namespace

Result<RegistryEntry> EntryTable::Get(LogicalId id, uint64_t snapshot) {
  // The registry is read under the lock as well: an ID without a chain is one no commit
  // has changed since the last checkpoint, and only while the lock is held can no
  // commit publish a new version of it (which a checkpoint could then write to the
  // registry before this read, showing an older snapshot a newer version).
  std::shared_lock<std::shared_mutex> lock(mu_);
  auto it = chains_.find(id);
  if (it != chains_.end()) {
    const std::vector<Version>& chain = it->second;
    for (auto v = chain.rbegin(); v != chain.rend(); ++v) {
      if (v->seq > snapshot) continue;
      if (!v->status.ok()) return v->status;
      return Visible(v->entry, id);
    }
    return Status::Error(ENOENT, "logical ID " + std::to_string(id) + " is not in the snapshot");
  }
  return registry_->Get(id);
}

size_t EntryTable::DirtyCount() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  return dirty_.size();
}

uint64_t EntryTable::Publish(std::span<const std::pair<LogicalId, RegistryEntry>> updates) {
  // Base versions come from the registry, read outside the table's lock.
  std::vector<Version> bases(updates.size());
  {
    std::shared_lock<std::shared_mutex> lock(mu_);
    for (size_t i = 0; i < updates.size(); ++i) {
      if (chains_.count(updates[i].first)) continue;
      Result<RegistryEntry> base = registry_->Get(updates[i].first);
      if (base.ok()) {
        bases[i].entry = *base;
      } else if (base.status().code() != ENOENT) {
        bases[i].status = base.status();
      }
    }
  }
  std::unique_lock<std::shared_mutex> lock(mu_);
  const uint64_t seq = ++published_;
  for (size_t i = 0; i < updates.size(); ++i) {
    auto [it, inserted] = chains_.try_emplace(updates[i].first);
    if (inserted) it->second.push_back(std::move(bases[i]));
    dirty_.insert(it->first);
    it->second.push_back(Version{seq, updates[i].second, Status::Ok()});
  }
  return seq;
}

uint64_t EntryTable::Acquire() {
  std::unique_lock<std::shared_mutex> lock(mu_);
  snapshots_.insert(published_);
  return published_;
}

void EntryTable::Release(uint64_t snapshot) {
  std::unique_lock<std::shared_mutex> lock(mu_);
  auto it = snapshots_.find(snapshot);
  if (it != snapshots_.end()) snapshots_.erase(it);
}

uint64_t EntryTable::OldestSnapshot() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  return snapshots_.empty() ? kNoSnapshot : *snapshots_.begin();
}

uint64_t EntryTable::published() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  return published_;
}

std::vector<std::pair<LogicalId, RegistryEntry>> EntryTable::Dirty() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  std::vector<std::pair<LogicalId, RegistryEntry>> out;
  out.reserve(dirty_.size());
  for (LogicalId id : dirty_) out.emplace_back(id, chains_.at(id).back().entry);
  return out;
}

void EntryTable::Checkpointed() {
  std::unique_lock<std::shared_mutex> lock(mu_);
  dirty_.clear();
  const uint64_t oldest = snapshots_.empty() ? published_ : *snapshots_.begin();
  for (auto it = chains_.begin(); it != chains_.end();) {
    std::vector<Version>& chain = it->second;
    // Keep the newest version the oldest snapshot sees, and everything newer.
    size_t keep = 0;
    for (size_t i = 0; i < chain.size(); ++i) {
      if (chain[i].seq <= oldest) keep = i;
    }
    chain.erase(chain.begin(), chain.begin() + static_cast<std::ptrdiff_t>(keep));
    if (chain.size() == 1) {
      it = chains_.erase(it);  // the registry holds it now
    } else {
      chain.front().seq = 0;  // what the registry held before the rest: the base
      ++it;
    }
  }
}

}  // namespace sopfs
