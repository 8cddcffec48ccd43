// Engine::Check: the engine's half of fsck.
//
// Problem kinds (CheckReport):
//   data-folder-missing        a data folder was not there (a lost or replaced drive)
//   registry-entry-unreadable  a registry ID whose block cannot be read (both sides bad)
//   shard-missing              a shard file of a referenced blob is not there
//   shard-corrupt              a shard file fails its header, length or checksums
//   shard-unreadable           a shard file gives an I/O error (not rewritten by repair)
//   blob-lost                  a referenced blob with fewer than k good shards: its
//                              bytes are gone (repair cannot help). Kept apart
//                              (CheckReport::Lost) with every registry ID pointing at
//                              it and where the trees reach each (LocateInBtree), so
//                              the file system's check can name what it held
//   blob-orphan                shard files of a blob nothing refers to (a crash between a
//                              removal and its flush, or a lost commit); repair removes it
//   stray-file                 a file in a data folder's fan-out tree that is no shard
//   shard-misplaced            a shard file in a folder where the store never looks
//   btree-invalid              a B-Tree breaks an invariant (VerifyBtree's message)
//   registry-id-leaked         a registry ID in use that no tree reaches
// Repair rebuilds missing and corrupt shards from parity (BlobStore::Repair: written
// aside and renamed, so a crash leaves nothing worse) and removes orphan blobs and
// stray files. Leaked IDs and invalid trees are reported, not changed.
#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "engine/blob/shard_scan.h"
#include "engine/btree/btree_locate.h"
#include "engine/btree/btree_verifier.h"
#include "engine/txn/engine.h"

namespace sopfs {

// The engine's latest committed trees, read only, for VerifyBtree.
class LatestNodeStore : public ReadOnlyNodeStore {
 public:
  explicit LatestNodeStore(Engine* engine) : engine_(engine) {}
  Result<std::shared_ptr<const BtreeNode>> Load(LogicalId id) override {
    return engine_->LoadNode(id, EntryTable::kNoSnapshot);
  }
  Result<std::string> LoadValue(LogicalId id) override {
    auto value = engine_->LoadValue(id, EntryTable::kNoSnapshot);
    if (!value.ok()) return value.status();
    return **value;
  }

 private:
  Engine* engine_;
};

namespace {

struct BlobUse {
  ErasureLayout layout;
  LogicalId first_id = 0;  // one registry ID pointing at it, for messages
};

std::string KindOf(const ShardProblem& p) {
  if (p.status.code() == ENOENT) return "shard-missing";
  return p.corrupt ? "shard-corrupt" : "shard-unreadable";
}

// Runs fn(i) for i in [0, n) on `threads` threads.
template <class F>
void ForEachParallel(size_t n, int threads, F fn) {
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i = next++; i < n; i = next++) fn(i);
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < std::max(1, threads); ++t) pool.emplace_back(work);
  work();
  for (std::thread& t : pool) t.join();
}

}  // namespace

Status Engine::Check(const EngineCheckOptions& options, CheckReport* report) {
  if (options.repair && options_.read_only) {
    return Status::Error(EROFS, "a repair needs the engine open for writing");
  }
  // 1. Every registry entry, and the blobs they point to.
  std::map<BlobId, BlobUse> used;
  std::vector<LogicalId> in_use;
  const LogicalId end = next_id_.load();
  for (LogicalId id = 1; id < end; ++id) {
    Result<RegistryEntry> entry = entries_->Get(id, EntryTable::kNoSnapshot);
    if (!entry.ok()) {
      if (entry.status().code() != ENOENT) {
        report->Found("registry-entry-unreadable", "id " + std::to_string(id),
                      entry.status().ToString());
      }
      continue;
    }
    in_use.push_back(id);
    used.try_emplace(entry->blob, BlobUse{LayoutOf(*entry), id});
  }
  report->Checked("registry-ids", in_use.size());

  // 2. The data folders: which shard files exist.
  std::vector<std::string> missing_folders;
  Result<ShardScan> scan = ScanShards(env_, options_.data_folders, &missing_folders);
  if (!scan.ok()) return scan.status();
  // A data folder missing at open (a lost or replaced drive): its shards are counted
  // missing below. A writable open (a repair) made it again, empty, as a mount does.
  for (const std::string& folder : emptied_folders_) {
    if (options.repair) {
      report->Fixed("data-folder-missing", folder,
                    "made again; its shards are rebuilt from parity");
    } else {
      report->Found("data-folder-missing", folder, "missing: its shards are gone");
    }
  }
  for (const std::string& folder : missing_folders) {
    if (std::find(emptied_folders_.begin(), emptied_folders_.end(), folder) !=
        emptied_folders_.end()) {
      continue;  // said above (a read-only open leaves it missing)
    }
    report->Found("data-folder-missing", folder, "the data folder is not there");
  }
  for (const std::string& path : scan->stray_files) {
    if (options.repair && env_->Unlink(path).ok()) {
      report->Fixed("stray-file", path, "removed");
    } else {
      report->Found("stray-file", path, "a file in a data folder that is no shard");
    }
  }
  for (const std::string& path : scan->misplaced) {
    if (options.repair && env_->Unlink(path).ok()) {
      report->Fixed("shard-misplaced", path, "removed: the store never reads it there");
    } else {
      report->Found("shard-misplaced", path, "a shard file where the store never looks");
    }
  }
  std::vector<BlobId> orphans;
  for (const auto& [blob, shards] : scan->blobs) {
    if (used.count(blob) || recovery_pending_.count(blob)) continue;
    orphans.push_back(blob);
  }
  if (!orphans.empty() && options.repair) {
    Status removed = blobs_->RemoveDurably(orphans, RemovalLayout());
    for (const BlobId& blob : orphans) {
      if (removed.ok()) {
        report->Fixed("blob-orphan", blob.ToHex(), "removed: nothing referred to it");
      } else {
        report->Found("blob-orphan", blob.ToHex(), "could not remove it: " + removed.ToString());
      }
    }
  } else {
    for (const BlobId& blob : orphans) {
      report->Found("blob-orphan", blob.ToHex(),
                    std::to_string(scan->blobs[blob].size()) + " shard files nothing refers to");
    }
  }

  // 3. Every referenced blob: all its shards, verified (or, quick, present).
  std::mutex lost_mu;
  std::map<BlobId, std::string> lost;  // blob -> why
  auto lose = [&](const BlobId& blob, std::string why) {
    std::lock_guard lock(lost_mu);
    lost.emplace(blob, std::move(why));
  };
  std::vector<std::pair<BlobId, BlobUse>> blobs(used.begin(), used.end());
  report->Expect("blobs", blobs.size());
  ForEachParallel(blobs.size(), options.threads, [&](size_t i) {
    const auto& [blob, use] = blobs[i];
    const std::string where = blob.ToHex() + " (id " + std::to_string(use.first_id) + ")";
    std::vector<ShardProblem> bad;
    uint64_t bytes = 0;
    if (held_->Contains(blob)) {
      // A read-only open keeps the blobs the log's records carry in memory: the
      // writable open that replays the log writes them.
      report->Checked("blobs", 1);
      return;
    }
    if (options.quick) {
      std::vector<bool> present(use.layout.total());
      auto found = scan->blobs.find(blob);
      if (found != scan->blobs.end()) {
        for (const StoredShard& s : found->second) {
          if (s.shard < use.layout.total()) present[s.shard] = true;
        }
      }
      for (int s = 0; s < use.layout.total(); ++s) {
        if (!present[s]) bad.push_back({s, 0, Status::Error(ENOENT, "shard file missing")});
      }
    } else {
      Result<BlobRepairReport> inspected = blobs_->Inspect(blob, use.layout);
      if (!inspected.ok()) {
        report->Checked("blobs", 1);
        lose(blob, inspected.status().ToString());
        return;
      }
      bad = inspected->bad_shards;
      bytes = inspected->bytes_read;
    }
    report->Checked("blobs", 1, bytes);
    if (bad.empty()) return;
    if (static_cast<int>(bad.size()) > use.layout.m) {
      lose(blob, std::to_string(bad.size()) + " of " + std::to_string(use.layout.total()) +
                     " shards bad in " + use.layout.ToString() + ": its bytes are gone");
      return;
    }
    std::set<int> rewritten;
    if (options.repair) {
      Result<BlobRepairReport> repaired = blobs_->Repair(blob, use.layout);
      if (repaired.ok()) rewritten.insert(repaired->rewritten.begin(), repaired->rewritten.end());
    }
    for (const ShardProblem& p : bad) {
      const std::string shard = where + " shard " + std::to_string(p.shard);
      if (rewritten.count(p.shard)) {
        report->Fixed(KindOf(p), shard, "rebuilt from parity");
      } else {
        report->Found(KindOf(p), shard, p.status.ToString());
      }
    }
  });

  // 4. The B-Trees, and registry IDs no tree reaches.
  LatestNodeStore store(this);
  std::unordered_set<LogicalId> reached;
  bool trees_whole = !options.trees.empty();
  for (const auto& [root, tree_options] : options.trees) {
    Result<BtreeShape> shape = VerifyBtree(&store, root, tree_options);
    if (!shape.ok()) {
      report->Found("btree-invalid", "tree " + std::to_string(root), shape.status().ToString());
      trees_whole = false;
      continue;
    }
    reached.insert(shape->nodes.begin(), shape->nodes.end());
    reached.insert(shape->value_blobs.begin(), shape->value_blobs.end());
    report->Checked("btree-nodes", shape->nodes.size());
  }
  // An invalid tree hides what it reaches: only whole trees can tell a leak.
  if (trees_whole) {
    for (LogicalId id : in_use) {
      if (!reached.count(id)) {
        report->Found("registry-id-leaked", "id " + std::to_string(id),
                      "in use in the registry, reached by no tree");
      }
    }
  }

  // 5. The lost blobs, with every registry ID pointing at each and where it sits.
  if (!lost.empty()) ReportLost(lost, in_use, options, report);
  return Status::Ok();
}

void Engine::ReportLost(const std::map<BlobId, std::string>& lost,
                        const std::vector<LogicalId>& in_use, const EngineCheckOptions& options,
                        CheckReport* report) {
  std::map<BlobId, LostBlob> out;
  std::vector<LostBlob> unplaced;
  std::unordered_map<LogicalId, BlobId> blob_of;
  std::unordered_set<LogicalId> wanted;
  for (const auto& [blob, why] : lost) {
    LostBlob b;
    b.blob = blob.ToHex();
    b.detail = why;
    // Past what the report lists, a lost blob is only counted: not placed.
    if (out.size() >= CheckReport::kMaxListed) {
      unplaced.push_back(std::move(b));
    } else {
      out.emplace(blob, std::move(b));
    }
  }
  for (LogicalId id : in_use) {
    Result<RegistryEntry> entry = entries_->Get(id, EntryTable::kNoSnapshot);
    if (!entry.ok() || !out.count(entry->blob)) continue;
    blob_of.emplace(id, entry->blob);
    wanted.insert(id);
    out[entry->blob].segment = entry->in_segment();
  }
  LatestNodeStore store(this);
  std::unordered_map<LogicalId, LostPlace> places;
  for (const auto& tree : options.trees) {
    for (const BtreePlace& p : LocateInBtree(&store, tree.first, wanted)) {
      places.try_emplace(p.id, LostPlace{.id = p.id,
                                         .tree = tree.first,
                                         .value = p.value,
                                         .level = p.level,
                                         .key = p.key,
                                         .end = p.end});
    }
  }
  // In registry ID order within each blob; an ID no tree reaches keeps tree 0.
  for (LogicalId id : in_use) {
    auto it = blob_of.find(id);
    if (it == blob_of.end()) continue;
    auto placed = places.find(id);
    LostPlace place;
    place.id = id;
    out[it->second].places.push_back(placed != places.end() ? placed->second : place);
  }
  for (auto& [blob, b] : out) report->Lost(std::move(b));
  for (LostBlob& b : unplaced) report->Lost(std::move(b));
}

}  // namespace sopfs
