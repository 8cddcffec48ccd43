#include "streaming/read_ahead.h"

#include "engine/txn/transaction.h"
#include "streaming/chunk_file.h"

namespace sopfs {

ReadAhead::ReadAhead(Engine* engine, int depth, int workers) : engine_(engine), depth_(depth) {
  for (int i = 0; i < workers; ++i) workers_.emplace_back([this] { Work(); });
}

ReadAhead::~ReadAhead() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (std::thread& t : workers_) t.join();
}

void ReadAhead::Note(uint64_t file_id, ChunkSource source, uint64_t offset, uint64_t length,
                     uint64_t size) {
  std::lock_guard lock(mu_);
  if (next_offset_.size() > 4096) {  // bounded; a miss costs little
    next_offset_.clear();
    loaded_up_to_.clear();
  }
  auto [it, fresh] = next_offset_.try_emplace(file_id, 0);
  const bool sequential = !fresh && it->second == offset;
  it->second = offset + length;
  if (!sequential || size == 0) {
    loaded_up_to_.erase(file_id);  // a new run starts: read ahead of it afresh
    return;
  }
  const uint64_t current = offset / source.chunk_size;
  const uint64_t last = (size - 1) / source.chunk_size;
  uint64_t& queued = loaded_up_to_[file_id];
  if (queued <= current) queued = current + 1;
  bool added = false;
  while (queued <= last && queued <= current + depth_ && queue_.size() < 64) {
    queue_.push_back({source.tree, file_id, queued++});
    added = true;
  }
  if (added) cv_.notify_one();
}

void ReadAhead::Forget(uint64_t file_id) {
  std::lock_guard lock(mu_);
  next_offset_.erase(file_id);
  loaded_up_to_.erase(file_id);
}

void ReadAhead::Work() {
  std::unique_lock lock(mu_);
  while (true) {
    cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (stopping_) return;
    const Load load = queue_.front();
    queue_.pop_front();
    lock.unlock();
    // Loading the whole value puts its blob in the engine's value cache; a hole or an
    // error is simply not cached (the reader will see it itself).
    auto txn = engine_->Begin(TxnMode::kReader);
    Result<TxnTree*> tree = txn->Tree(load.tree, ChunkFile::TreeOptions());
    if (tree.ok()) (void)(*tree)->Find(ChunkFile::ChunkKey(load.file_id, load.index));
    txn.reset();
    lock.lock();
  }
}

}  // namespace sopfs
