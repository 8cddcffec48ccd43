#include "engine/registry/registry.h"

#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include <cstring>

#include "engine/coding.h"

namespace sopfs {
namespace {

constexpr uint32_t kStateMagic = 0x53504f53;  // "SOPS"
constexpr size_t kStateSize = 32;
constexpr const char* kStateFile = "/registry.state";

}  // namespace

Registry::Registry(Env* env, std::string side_a, std::string side_b)
    : env_(env), folders_{std::move(side_a), std::move(side_b)} {}

Result<std::unique_ptr<Registry>> Registry::Open(Env* env, std::string side_a, std::string side_b) {
  std::unique_ptr<Registry> r(new Registry(env, std::move(side_a), std::move(side_b)));
  SOPFS_RETURN_IF_ERROR(r->Init());
  return r;
}

Result<Registry::State> Registry::ReadState(Env* env, const std::string& folder) {
  auto bytes = env->ReadFile(folder + kStateFile);
  if (!bytes.ok()) return bytes.status();
  const uint8_t* b = bytes->data();
  uint32_t magic = 0;
  uint64_t epoch = 0, sum = 0;
  if (bytes->size() == kStateSize) {
    magic = GetFixed<uint32_t>(b);
    epoch = GetFixed<uint64_t>(b + 8);
    sum = GetFixed<uint64_t>(b + 24);
  }
  if (bytes->size() != kStateSize || magic != kStateMagic || sum != XXH3_64bits(b, 24) ||
      b[16] > 1 || b[17] > 1) {
    return Status::Error(EIO, "registry state " + folder + kStateFile + " is corrupt");
  }
  return State{.epoch = epoch, .active = b[16], .passive_stale = b[17] == 1};
}

Status Registry::SwitchStateLocked(const State& next) {
  Status st = RecordStateLocked(next);
  if (st.ok()) {
    state_ = next;
  } else {
    // Not recorded: acting on the new state could acknowledge commits that a restart
    // (reading the old state) would not find. Stop until reopened.
    broken_ = Status::Error(EIO, "registry state could not be recorded: " + st.ToString());
  }
  return st.ok() ? st : broken_;
}

Status Registry::RecordStateLocked(const State& next) {
  uint8_t b[kStateSize] = {};
  PutFixed<uint32_t>(b, kStateMagic);
  PutFixed<uint64_t>(b + 8, next.epoch);
  b[16] = static_cast<uint8_t>(next.active);
  b[17] = next.passive_stale ? 1 : 0;
  const uint64_t sum = XXH3_64bits(b, 24);
  PutFixed<uint64_t>(b + 24, sum);
  Status active_status;
  for (int side : {next.active, 1 - next.active}) {
    if (side != next.active && next.passive_stale && !files_[side]) continue;
    // Written aside and renamed, so a torn write never destroys the previous state.
    const std::string path = folders_[side] + kStateFile;
    Status st = env_->WriteFileDurably(path + ".new", {b, kStateSize});
    if (st.ok()) st = env_->Rename(path + ".new", path);
    if (st.ok()) st = env_->SyncDir(folders_[side]);
    if (side == next.active) active_status = st;
  }
  return active_status;
}

Status Registry::Init() {
  // The newest valid state decides which side is active. A side whose state cannot be
  // read leaves it open whether it recorded a newer switch; only a readable side that
  // says it took over (it is active, the other stale) may then go on alone.
  bool any = false;
  int unreadable = -1;
  Status why;
  for (int side = 0; side < 2; ++side) {
    auto st = ReadState(env_, folders_[side]);
    if (st.ok()) {
      if (!any || st->epoch > state_.epoch) state_ = *st;
      any = true;
    } else {
      unreadable = side;
      why = st.status();
    }
  }
  const bool blocks_exist = env_->Exists(folders_[0] + "/registry.blocks") ||
                            env_->Exists(folders_[1] + "/registry.blocks");
  if (!any && blocks_exist) {
    return Status::Error(EIO, "registry: no readable registry.state on either side (" +
                                  why.ToString() + "); refusing to guess which side is current");
  }
  if (any && unreadable >= 0 && !(state_.active != unreadable && state_.passive_stale) &&
      blocks_exist) {
    return Status::Error(EIO, "registry: the state of " + folders_[unreadable] +
                                  " cannot be read (" + why.ToString() +
                                  ") and the other side does not know it is current; restore "
                                  "that folder or reinstate it by hand");
  }
  for (int side = 0; side < 2; ++side) {
    auto file = RegistryFile::Open(env_, folders_[side], /*create=*/!any);
    if (file.ok()) files_[side] = std::move(*file);
  }
  if (!files_[state_.active]) {
    return FailOverLocked(Status::Error(ENOENT, "cannot open " + folders_[state_.active]));
  }
  if (!files_[1 - state_.active] && !state_.passive_stale) {
    State next = state_;
    next.passive_stale = true;
    ++next.epoch;
    return SwitchStateLocked(next);
  }
  if (!any) return SwitchStateLocked(state_);
  return Status::Ok();
}

Status Registry::FailOverLocked(const Status& why) {
  if (state_.passive_stale || !files_[1 - state_.active]) {
    return Status::Error(EIO, "registry: active side " + folders_[state_.active] + " failed (" +
                                  why.ToString() + ") and no passive side is current");
  }
  const State next{.epoch = state_.epoch + 1, .active = 1 - state_.active, .passive_stale = true};
  Status st = SwitchStateLocked(next);
  if (!st.ok()) {
    return Status::Error(EIO, "registry: failing over to " + folders_[next.active] +
                                  " could not be recorded: " + st.ToString());
  }
  return Status::Ok();
}

Result<RegistryBlock> Registry::LoadBlockLocked(uint64_t number) {
  if (auto it = cache_.find(number); it != cache_.end()) return it->second;
  using S = RegistryFile::BlockState;
  RegistryBlock block;
  bool suspect = false;
  auto active = ActiveLocked()->Read(number, &block, &suspect);
  if (!active.ok()) {
    SOPFS_RETURN_IF_ERROR(FailOverLocked(active.status()));
    return LoadBlockLocked(number);
  }
  if (*active == S::kEmpty || (*active == S::kValid && !suspect)) return cache_[number] = block;
  // The active copy is unreadable, or its newer slot is: the passive one decides.
  RegistryFile* passive = PassiveLocked();
  RegistryBlock other;
  auto pstate = passive ? passive->Read(number, &other) : Result<S>(S::kCorrupt);
  if (*active == S::kValid) {
    if (!pstate.ok() || *pstate != S::kValid || other.sequence <= block.sequence) {
      return cache_[number] = block;  // the newer write was torn everywhere: never committed
    }
  }
  if (pstate.ok() && *pstate == S::kValid) {
    std::vector<RegistryBlock> fix{other};
    std::vector<IoOp> ops;
    ActiveLocked()->PrepareWrite(fix, &ops);
    if (env_->Submit(ops).ok()) (void)ActiveLocked()->FinishWrite(ops);  // repaired next time
    return cache_[number] = other;
  }
  if (*active == S::kFirstWriteTorn && pstate.ok() &&
      (*pstate == S::kEmpty || *pstate == S::kFirstWriteTorn)) {
    // The block's first write never completed on either side: nothing was committed.
    return cache_[number] = block;
  }
  return Status::Error(
      EIO, "registry block " + std::to_string(number) +
               (passive ? " is unreadable on both sides"
                        : " is unreadable and no current passive copy exists") +
               " (logical IDs " + std::to_string(number * RegistryBlock::kEntriesPerBlock) + ".." +
               std::to_string((number + 1) * RegistryBlock::kEntriesPerBlock - 1) + ")");
}

Result<RegistryEntry> Registry::Get(LogicalId id) {
  auto entry = [id](const RegistryBlock& block) -> Result<RegistryEntry> {
    const RegistryEntry& e = block.entries[RegistryBlock::SlotOf(id)];
    if (!e.in_use()) {
      return Status::Error(ENOENT, "logical ID " + std::to_string(id) + " not in use");
    }
    return e;
  };
  std::lock_guard<std::mutex> lock(mu_);
  // A cached block is read in place, not copied (4 KiB) out of the cache: every B-Tree
  // node a file read visits costs one Get, all of them under this one lock.
  const uint64_t number = RegistryBlock::BlockOf(id);
  if (auto it = cache_.find(number); it != cache_.end()) return entry(it->second);
  auto block = LoadBlockLocked(number);
  if (!block.ok()) return block.status();
  return entry(*block);
}

Status Registry::Apply(std::span<const std::pair<LogicalId, RegistryEntry>> updates) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!broken_.ok()) return broken_;
  std::map<uint64_t, RegistryBlock> changed;
  for (const auto& [id, entry] : updates) {
    const uint64_t number = RegistryBlock::BlockOf(id);
    if (!changed.count(number)) {
      auto block = LoadBlockLocked(number);
      if (!block.ok()) return block.status();
      block->sequence++;
      changed[number] = *block;
    }
    changed[number].entries[RegistryBlock::SlotOf(id)] = entry;
  }
  std::vector<RegistryBlock> blocks;
  for (auto& [number, block] : changed) blocks.push_back(block);

  RegistryFile* sides[2] = {ActiveLocked(), PassiveLocked()};
  // Room first: a full disk refuses the write on no side rather than marking a side
  // stale for it (other errors are the write's to find, as before).
  for (RegistryFile* side : sides) {
    if (side == nullptr || blocks.empty()) continue;
    Status room = side->Preallocate(blocks.back().number + 1);
    if (room.code() == ENOSPC || room.code() == EDQUOT) {
      return Status::Error(room.code(), "no room for registry blocks: " + room.ToString());
    }
  }
  std::vector<IoOp> ops;
  size_t split = 0;
  sides[0]->PrepareWrite(blocks, &ops);
  split = ops.size();
  if (sides[1]) sides[1]->PrepareWrite(blocks, &ops);
  Status batch = env_->Submit(ops);
  Status result[2];
  result[0] = batch.ok() ? sides[0]->FinishWrite(std::span(ops).first(split)) : batch;
  if (sides[1])
    result[1] = batch.ok() ? sides[1]->FinishWrite(std::span(ops).subspan(split)) : batch;

  if (result[0].ok()) {
    for (const RegistryBlock& b : blocks) cache_[b.number] = b;
    if (sides[1] && !result[1].ok()) {
      // The passive side missed this write. The commit is durable on the active side;
      // if even that cannot be recorded the caller must take it as "maybe applied".
      State next = state_;
      next.passive_stale = true;
      ++next.epoch;
      return SwitchStateLocked(next);
    }
    return Status::Ok();
  }
  if (sides[1] && result[1].ok()) {
    // The commit is durable on the passive side: it becomes the active one.
    for (const RegistryBlock& b : blocks) cache_[b.number] = b;
    return FailOverLocked(result[0]);
  }
  // Durable nowhere for sure. The cache keeps the versions from before this Apply
  // (`blocks` were copies); re-reading the disk could show the failed bytes (on Linux a
  // failed flush can leave them in the page cache).
  return Status::Error(result[0].code(),
                       "registry write failed on every side: " + result[0].ToString());
}

Status Registry::Reinstate() {
  std::lock_guard<std::mutex> lock(mu_);
  if (!broken_.ok()) return broken_;
  if (!state_.passive_stale) return Status::Ok();
  const int stale = 1 - state_.active;
  SOPFS_RETURN_IF_ERROR(env_->MkDirs(folders_[stale]));
  auto file = RegistryFile::Open(env_, folders_[stale], /*create=*/true);
  if (!file.ok()) return file.status();
  auto count = ActiveLocked()->BlockCount();
  if (!count.ok()) return count.status();
  std::vector<RegistryBlock> blocks;
  for (uint64_t n = 0; n < *count; ++n) {
    auto block = LoadBlockLocked(n);
    if (!block.ok()) return block.status();
    blocks.push_back(*block);
  }
  SOPFS_RETURN_IF_ERROR((*file)->Rewrite(blocks));
  files_[stale] = std::move(*file);
  State next = state_;
  next.passive_stale = false;
  ++next.epoch;
  return SwitchStateLocked(next);
}

RegistryHealth Registry::Health() {
  std::lock_guard<std::mutex> lock(mu_);
  return {.active_folder = folders_[state_.active],
          .passive_folder = folders_[1 - state_.active],
          .passive_stale = state_.passive_stale,
          .epoch = state_.epoch};
}

}  // namespace sopfs
