#include "engine/txn/engine.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <limits>
#include <map>
#include <optional>
#include <utility>

#include "engine/blob/folder_mark.h"
#include "engine/lock/in_process_locker.h"
#include "engine/txn/node_segment.h"
#include "engine/txn/transaction.h"

namespace sopfs {

Engine::Engine(Env* env, EngineOptions options)
    : env_(env),
      options_(std::move(options)),
      node_cache_(options_.cache_bytes * 3 / 4),
      value_cache_(options_.cache_bytes / 4) {}

Engine::~Engine() {
  if (repairs_ != nullptr) repairs_->Stop();
  StopSpiller();
  if (!options_.checkpoint_on_close || options_.read_only || log_ == nullptr) return;
  {
    // What the log carries goes to the data folders (else the next open writes it).
    std::shared_lock<std::shared_mutex> gate(gate_);
    std::unique_lock<std::mutex> lock(mu_);
    const bool usable = broken_.ok();
    lock.unlock();
    if (usable) {
      if (Status st = WriteLogged(std::numeric_limits<size_t>::max()); !st.ok()) {
        std::fprintf(stderr, "sopfs: blobs the commit log carries stay there: %s\n",
                     st.ToString().c_str());
      }
    }
  }
  Status st = Checkpoint();
  if (!st.ok()) {
    std::fprintf(stderr, "sopfs: checkpoint at close failed (recovery will redo it): %s\n",
                 st.ToString().c_str());
  }
}

Status Engine::TooLarge(size_t record_bytes) {
  return Status::Error(EFBIG,
                       "the transaction is too large to commit at once (a commit record "
                       "of " +
                           std::to_string(record_bytes) + " bytes; at most " +
                           std::to_string(CommitLog::kMaxRecordBytes) + ")");
}

Result<std::unique_ptr<Engine>> Engine::Open(Env* env, EngineOptions options) {
  std::unique_ptr<Engine> engine(new Engine(env, std::move(options)));
  SOPFS_RETURN_IF_ERROR(engine->Init());
  return engine;
}

Status Engine::Init() {
  if (options_.data_folders.empty() || options_.registry_a.empty() || options_.registry_b.empty() ||
      options_.log_folder.empty()) {
    return Status::Error(EINVAL,
                         "engine needs data folders, two registry folders and a log folder");
  }
  const int folders = static_cast<int>(options_.data_folders.size());
  SOPFS_RETURN_IF_ERROR(options_.layout.Validate(folders));
  if (options_.metadata_layout.k == 0) {
    options_.metadata_layout = DefaultMetadataLayout(options_.layout, folders);
  }
  SOPFS_RETURN_IF_ERROR(options_.metadata_layout.Validate(folders));
  if (options_.checkpoint_commits < 1) {
    return Status::Error(EINVAL, "checkpoint_commits must be at least 1");
  }
  // A volume opened before has a commit log: a data folder missing then was lost, and
  // one without its mark beside marked ones came back empty (folder_mark.h).
  const bool used_before = env_->Exists(options_.log_folder + CommitLog::kFileName);
  std::vector<std::optional<int>> marks;
  bool any_mark = false;
  for (const std::string& dir : options_.data_folders) {
    marks.push_back(ReadFolderMark(env_, dir));
    any_mark = any_mark || marks.back().has_value();
  }
  for (int i = 0; i < folders; ++i) {
    const std::string& dir = options_.data_folders[i];
    if (marks[i] && *marks[i] != i) {
      return Status::Error(EINVAL, "data folder " + dir + " holds the shards of data folder " +
                                       std::to_string(*marks[i]) + " (" +
                                       options_.data_folders[*marks[i] % folders] +
                                       "): drives mounted in another order? sopfs.conf must "
                                       "list the data folders in their first order");
    }
    const bool missing = !env_->Exists(dir);
    if (used_before && (missing || (any_mark && !marks[i]))) {
      // A lost drive, or a replaced, empty one: its shards are gone for good.
      std::fprintf(stderr,
                   "sopfs: data folder %s %s%s; blobs that had a shard there rely "
                   "on parity until a scrub refills it\n",
                   dir.c_str(), missing ? "is missing" : "came back empty (it has no mark)",
                   options_.read_only || !missing ? "" : ": made again, empty");
      emptied_folders_.push_back(dir);
    }
    if (options_.read_only) continue;  // reads find no shard in a missing folder
    SOPFS_RETURN_IF_ERROR(env_->MkDirsDurably(dir));
    if (!marks[i]) SOPFS_RETURN_IF_ERROR(WriteFolderMark(env_, dir, i, folders));
  }
  for (const std::string* dir :
       {&options_.registry_a, &options_.registry_b, &options_.log_folder}) {
    SOPFS_RETURN_IF_ERROR(env_->MkDirsDurably(*dir));
  }
  std::vector<std::string> all_folders = options_.data_folders;
  all_folders.insert(all_folders.end(),
                     {options_.registry_a, options_.registry_b, options_.log_folder});
  auto reserve =
      MetadataReserve::Open(env_, all_folders, options_.read_only ? 0 : options_.reserve_bytes);
  if (!reserve.ok()) return reserve.status();
  reserve_ = std::move(*reserve);
  reserve_->Full();
  locker_ = options_.locker;
  if (locker_ == nullptr) {
    own_locker_ = std::make_unique<InProcessLocker>();
    locker_ = own_locker_.get();
  }
  instance_ = BlobId::Random().ToHex().substr(0, 16);
  auto blobs = BlobStore::Open(env_, options_.data_folders, options_.blob_options,
                               /*folders_may_be_missing=*/options_.read_only);
  if (!blobs.ok()) return blobs.status();
  blobs_ = std::move(*blobs);
  if (!options_.read_only && options_.read_repair) {
    repairs_ = std::make_unique<RepairQueue>(
        [this](const BlobId& blob, ErasureLayout layout) { RepairDamaged(blob, layout); });
  }
  auto registry = Registry::Open(env_, options_.registry_a, options_.registry_b);
  if (!registry.ok()) return registry.status();
  registry_ = std::move(*registry);
  CommitLogOptions log_options;
  log_options.read_only = options_.read_only;
  auto log = CommitLog::Open(env_, options_.log_folder, log_options);
  if (!log.ok()) return log.status();
  log_ = std::move(*log);
  entries_ = std::make_unique<EntryTable>(registry_.get());
  held_ = std::make_unique<HeldBlobs>(HeldCapacity());
  Status recovered = Recover();
  // A full disk: recovery writes the registry and a new log, metadata all.
  if (recovered.code() == ENOSPC && reserve_->Release()) recovered = Recover();
  if (recovered.ok() && options_.read_only) {
    broken_ = Status::Error(EROFS, "the volume is open read-only");
  }
  // The engine is destroyed unopened: its close must not checkpoint (a reset would drop
  // the log's records, which the registry does not hold yet).
  if (!recovered.ok()) broken_ = recovered;
  if (recovered.ok() && !options_.read_only) LookAtRoom();
  if (recovered.ok() && !options_.read_only && options_.background_spill) {
    spiller_ = std::thread([this] { SpillLoop(); });
  }
  return recovered;
}

Status Engine::RoomForNewData() {
  if (reserve_->Full()) return Status::Ok();
  return Status::Error(ENOSPC,
                       "the volume's disk is full: its metadata reserve is in use, so new "
                       "data is refused until deletions free room");
}

Result<uint64_t> Engine::AppendUsingReserve(const TxnRecord& rec, std::string payload) {
  Result<uint64_t> seq = log_->Append(std::move(payload));
  if (!seq.ok() && !log_->broken() && seq.status().code() == ENOSPC && reserve_->Release()) {
    seq = log_->Append(rec.Encode());
  }
  return seq;
}

std::unique_ptr<Transaction> Engine::Begin(TxnMode mode) {
  return std::unique_ptr<Transaction>(new Transaction(this, mode, next_txn_.fetch_add(1)));
}

Result<std::shared_ptr<const BtreeNode>> Engine::LoadNode(LogicalId id, uint64_t snapshot,
                                                          RegistryEntry* entry) {
  Result<RegistryEntry> e = entries_->Get(id, snapshot);
  if (!e.ok()) return e.status();
  if (entry != nullptr) *entry = *e;
  const NodeKey key{e->blob, e->in_segment() ? e->slot : 0};
  if (auto node = node_cache_.Lookup(key)) return node;
  // A segment's bytes stay in the value cache: its other nodes are likely wanted next.
  Result<std::shared_ptr<const std::string>> blob = LoadValueBlob(e->blob, LayoutOf(*e));
  if (!blob.ok()) return blob.status();
  std::string_view bytes = **blob;
  if (e->in_segment()) {
    Result<std::vector<NodeSegment::Slot>> slots = NodeSegment::Decode(bytes);
    if (!slots.ok()) return slots.status();
    if (e->slot >= slots->size() || (*slots)[e->slot].id != id) {
      return Status::Error(EIO, "node " + std::to_string(id) + ": slot " + std::to_string(e->slot) +
                                    " of segment " + e->blob.ToHex() + " holds another node");
    }
    bytes = (*slots)[e->slot].bytes;
  }
  Result<BtreeNode> node = BtreeNode::Decode(bytes, id);
  if (!node.ok()) return node.status();
  auto shared = std::make_shared<const BtreeNode>(std::move(*node));
  node_cache_.Insert(key, shared, NodeCharge(*shared));
  return shared;
}

Result<std::shared_ptr<const std::string>> Engine::LoadValue(LogicalId id, uint64_t snapshot) {
  Result<RegistryEntry> e = entries_->Get(id, snapshot);
  if (!e.ok()) return e.status();
  return LoadValueBlob(e->blob, LayoutOf(*e));
}

Result<std::shared_ptr<const std::string>> Engine::LoadValueBlob(const BlobId& blob,
                                                                 ErasureLayout layout) {
  if (auto held = held_->Find(blob)) return held;
  if (auto value = value_cache_.Lookup(blob)) return value;
  return value_loads_.Do(blob, [&]() -> Result<std::shared_ptr<const std::string>> {
    // Another load may have finished between the look-up above and this one's start.
    if (auto value = value_cache_.Lookup(blob)) return value;
    BlobReadReport report;
    Result<std::vector<uint8_t>> bytes = blobs_->Get(blob, layout, &report);
    NoteDamage(blob, layout, report);
    if (!bytes.ok()) return Unreadable(bytes.status());
    auto value = std::make_shared<const std::string>(reinterpret_cast<const char*>(bytes->data()),
                                                     bytes->size());
    value_cache_.Insert(blob, value, value->size() + 64);
    return value;
  });
}

Status Engine::Unreadable(const Status& blob_status) {
  if (blob_status.code() != ENOENT) return blob_status;
  return Status::Error(EIO, blob_status.message() + ": no shard of it is left");
}

Result<size_t> Engine::ReadValueBlob(const BlobId& blob, ErasureLayout layout, uint64_t offset,
                                     std::span<uint8_t> out) {
  std::shared_ptr<const std::string> value = held_->Find(blob);
  if (value == nullptr) value = value_cache_.Lookup(blob);
  if (value == nullptr) {
    // A whole load of the blob under way (read-ahead, most likely) serves this part too.
    if (auto loading = value_loads_.Join(blob); loading && loading->ok()) value = **loading;
  }
  if (value == nullptr) {
    BlobReadReport report;
    Result<size_t> n = blobs_->GetRange(blob, layout, offset, out, &report);
    NoteDamage(blob, layout, report);
    if (!n.ok()) return Unreadable(n.status());
    return n;
  }
  if (offset >= value->size()) return size_t{0};
  const size_t n = std::min<size_t>(out.size(), value->size() - offset);
  std::memcpy(out.data(), value->data() + offset, n);
  return n;
}

Status Engine::WritePrepared(std::span<const BlobStore::Write> writes, Room room) {
  if (writes.empty()) return Status::Ok();
  // Checked before the prepare record: a refused write leaves nothing to discard.
  if (room == Room::kNewData) SOPFS_RETURN_IF_ERROR(RoomForNewData());
  TxnRecord prepare;
  prepare.kind = TxnRecord::Kind::kPrepare;
  for (const BlobStore::Write& w : writes) prepare.blobs.push_back(w.id);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!broken_.ok()) return broken_;
    in_flight_.insert(prepare.blobs.begin(), prepare.blobs.end());
  }
  std::string payload = prepare.Encode();
  if (payload.size() > CommitLog::kMaxRecordBytes) {
    Discard(prepare.blobs);
    return TooLarge(payload.size());
  }
  Result<uint64_t> seq = room == Room::kMayUseReserve
                             ? AppendUsingReserve(prepare, std::move(payload))
                             : log_->Append(std::move(payload));
  if (!seq.ok()) {
    Discard(prepare.blobs);
    if (!log_->broken()) return seq.status();  // no room: nothing was written
    std::lock_guard<std::mutex> lock(mu_);
    broken_ =
        Status::Error(EIO, "the commit log failed; reopen the volume: " + seq.status().ToString());
    return broken_;
  }
  sequencer_.Done(*seq);
  std::vector<BlobWriteReport> reports;
  Status st = blobs_->Put(writes, &reports);
  if (st.code() == ENOSPC && room == Room::kMayUseReserve && reserve_->Release()) {
    // Once more, the blobs that did not reach quorum (nothing of them stayed).
    std::vector<BlobStore::Write> again;
    for (size_t i = 0; i < writes.size(); ++i) {
      if (!reports[i].written) again.push_back(writes[i]);
    }
    st = blobs_->Put(again);
  }
  if (!st.ok()) Discard(prepare.blobs);
  return st;
}

BlobId Engine::NewBlobId(FolderSpan span, int shards) {
  constexpr int kBlobsPerDirectory = 256;
  BlobId id;
  {
    std::lock_guard<std::mutex> lock(blob_id_mu_);
    if (blob_anchor_uses_ == 0 || blob_anchor_uses_ >= kBlobsPerDirectory) {
      blob_anchor_ = BlobId::Random();
      blob_anchor_uses_ = 0;
    }
    ++blob_anchor_uses_;
    id = BlobId::RandomNear(blob_anchor_);
  }
  if (span.all()) return id;
  // Placement starts at lo mod N: pick a start in [first, first + count - shards].
  const auto n = static_cast<uint64_t>(blobs_->folder_count());
  const auto starts = static_cast<uint64_t>(span.count - shards + 1);
  const uint64_t start = static_cast<uint64_t>(span.first) + (id.lo >> 32) % starts;
  uint64_t base = (id.lo / n) * n;
  if (base > UINT64_MAX - start) base -= n;  // the top multiple of n: one lower
  id.lo = base + start;
  return id;
}

Result<BlobId> Engine::StageValue(std::string_view bytes, ErasureLayout layout, FolderSpan span,
                                  Room room) {
  SOPFS_RETURN_IF_ERROR(span.Validate(blobs_->folder_count(), layout));
  if (auto held = HoldValues({&bytes, 1}, layout, span, room)) {
    if (!held->ok()) return held->status();
    return (**held)[0];
  }
  std::shared_lock<std::shared_mutex> gate(gate_);
  BlobStore::Write write{NewBlobId(span, layout.total()),
                         layout,
                         {reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()},
                         /*defer_flush=*/true};
  SOPFS_RETURN_IF_ERROR(WritePrepared({&write, 1}, room));
  return write.id;
}

Result<std::vector<BlobId>> Engine::StageValues(std::span<const std::string_view> values,
                                                ErasureLayout layout, FolderSpan span, Room room) {
  SOPFS_RETURN_IF_ERROR(span.Validate(blobs_->folder_count(), layout));
  if (auto held = HoldValues(values, layout, span, room)) return std::move(*held);
  std::shared_lock<std::shared_mutex> gate(gate_);
  std::vector<BlobStore::Write> writes;
  std::vector<BlobId> ids;
  writes.reserve(values.size());
  for (std::string_view v : values) {
    writes.push_back({NewBlobId(span, layout.total()),
                      layout,
                      {reinterpret_cast<const uint8_t*>(v.data()), v.size()},
                      /*defer_flush=*/true});
    ids.push_back(writes.back().id);
  }
  SOPFS_RETURN_IF_ERROR(WritePrepared(writes, room));
  return ids;
}

void Engine::Discard(std::span<const BlobId> blobs) {
  std::lock_guard<std::mutex> lock(mu_);
  for (const BlobId& blob : blobs) {
    in_flight_.erase(blob);
    if (held_->DropStaged(blob)) continue;  // never written
    pending_frees_.emplace_back(0, blob);
  }
}

EngineStats Engine::Stats() const {
  EngineStats s;
  {
    std::lock_guard<std::mutex> lock(mu_);
    s = stats_;
  }
  s.log_flushes = log_->flushes();
  s.log_records = log_->appended();
  CacheStats cache = node_cache_.Stats();
  s.node_cache_hits = cache.hits;
  s.node_cache_misses = cache.misses;
  s.cache_bytes = cache.charge + value_cache_.Stats().charge;
  const BlobStoreCounters& blobs = blobs_->counters();
  s.blob_bytes_read = blobs.bytes_read.load();
  s.blob_bytes_written = blobs.bytes_written.load();
  s.blobs_read = blobs.blobs_read.load();
  s.blobs_written = blobs.blobs_written.load();
  s.reconstructions = blobs.reconstructions.load();
  s.bad_shards_seen = blobs.bad_shards_seen.load();
  s.read_repairs_pending = repairs_ != nullptr ? repairs_->pending() : 0;
  s.held_bytes = held_->bytes();
  return s;
}

void Engine::NoteDamage(const BlobId& blob, ErasureLayout layout, const BlobReadReport& report) {
  // Only damage on disk: a shard missing or corrupt. One an I/O error hid may be fine,
  // and its folder is failing anyway.
  bool damaged = false;
  for (const ShardProblem& p : report.bad_shards) {
    damaged = damaged || p.corrupt || p.status.code() == ENOENT;
  }
  if (damaged && repairs_ != nullptr) repairs_->Add(blob, layout);
}

void Engine::RepairDamaged(const BlobId& blob, ErasureLayout layout) {
  // At a full disk (the metadata reserve in use) the room that deletions free goes back
  // to the reserve first: rebuilt shards wait for the scrub.
  if (Status room = RoomForNewData(); !room.ok()) {
    std::lock_guard<std::mutex> lock(mu_);
    ++stats_.read_repair_failures;
    std::fprintf(stderr, "sopfs: read repair of blob %s deferred: %s\n", blob.ToHex().c_str(),
                 room.message().c_str());
    return;
  }
  std::shared_lock<std::shared_mutex> no_garbage_removal(garbage_gate_);
  std::shared_lock<std::shared_mutex> gate(gate_);
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [seq, freed] : pending_frees_) {
      if (freed == blob) return;  // garbage: the next checkpoint removes it
    }
  }
  Result<BlobRepairReport> repaired = [&] {
    std::lock_guard<std::mutex> one_at_a_time(repair_mu_);
    return blobs_->Repair(blob, layout);
  }();
  std::lock_guard<std::mutex> lock(mu_);
  if (repaired.ok()) {
    // Nothing to rewrite: a read queued it again while its first repair ran.
    if (!repaired->rewritten.empty()) ++stats_.read_repairs;
    stats_.read_repair_shards += repaired->rewritten.size();
  } else {
    ++stats_.read_repair_failures;
    std::fprintf(stderr, "sopfs: read repair of blob %s failed: %s\n", blob.ToHex().c_str(),
                 repaired.status().ToString().c_str());
  }
}

Status Engine::ReinstateRegistry() {
  // No checkpoint may write the registry meanwhile.
  std::unique_lock<std::shared_mutex> gate(gate_);
  return registry_->Reinstate();
}

Result<std::set<BlobId>> Engine::ReferencedBlobs() {
  std::set<BlobId> out;
  const LogicalId end = next_id_.load();
  for (LogicalId id = 1; id < end; ++id) {
    Result<RegistryEntry> entry = entries_->Get(id, EntryTable::kNoSnapshot);
    if (entry.ok()) {
      out.insert(entry->blob);
    } else if (entry.status().code() != ENOENT) {
      return entry.status();
    }
  }
  return out;
}

}  // namespace sopfs
