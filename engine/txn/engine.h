// Engine: ACID transactions over any number of B-Trees whose nodes are erasure-coded
// blobs behind the registry. What a volume runs on.
//
// Commit (see docs/ARCHITECTURE.md for the whole story):
//  1. A transaction reads from a snapshot (EntryTable) and keeps its writes in memory,
//     per tree, as each touched key's final state (an Overlay), remembering the item
//     version (the stamp of the commit that last wrote it) of every key it read or
//     wrote, and the node versions under every range it scanned with a cursor.
//  2. Commit locks the trees involved (Locker; the grant's fencing token goes into the
//     commit record), checks that none of those keys and nodes changed since the
//     snapshot (else EBUSY naming what conflicted; nothing is applied), and re-applies
//     the key states to the latest committed trees. So two transactions that change
//     different keys both commit even when the keys share a node; the same key changed
//     by both: the second to commit gets the conflict.
//  3. A prepare record lists the new node blobs (flushed), then the blobs are written
//     in one batched, erasure-coded Put (flushed), then the commit record carries the
//     registry updates (flushed; concurrent commits share one flush: group commit).
//     Once that record is durable the transaction is committed.
//  4. The updates take effect in memory in log order (Sequencer; a record whose fence
//     is older than one already applied to one of its trees is refused, here and in
//     recovery alike), old blobs are freed once no snapshot needs them, locks released.
//     A holder whose lease ran out after its lease check still records and applies its
//     commit: a newer holder of the same trees waits for that before it checks anything,
//     and an older holder that has not begun recording when a newer one begins checking
//     gives up (ESTALE), so a record never undoes an earlier one it did not see.
//  A checkpoint writes the registry (both sides), removes freed blobs durably and
//  resets the log, carrying what must survive (in-flight blobs, pending frees).
//  Recovery runs on every Open: replay commit records into the registry, remove the
//  blobs no commit adopted and the ones commits freed, reset the log. It reads the log
//  and the registry entries the log names, never the whole registry: the counts of
//  references into node segments come with the log (segment_refs.h).
//
// Errors: EBUSY for conflicts and for tree locks that could not be had in time; EFBIG
// for a transaction whose commit record would exceed the log's record limit; ESTALE
// when a lock's lease ran out before the commit record was written; EIO/ENOSPC etc.
// from below. A failed commit leaves nothing behind. If the log fails a flush, the
// outcome of the commits in that flush is unknown until the engine is reopened: the
// engine refuses further commits (EIO) and recovery decides.
//
// Threads: Begin, Checkpoint, Stats may be called concurrently; each Transaction is
// used by one thread at a time; many transactions may run and commit concurrently.
// Every Transaction must end before the Engine is destroyed.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "engine/blob/blob_store.h"
#include "engine/btree/btree.h"
#include "engine/btree/btree_node.h"
#include "engine/cache/lru_cache.h"
#include "engine/cache/single_flight.h"
#include "engine/check/check_report.h"
#include "engine/io/env.h"
#include "engine/io/metadata_reserve.h"
#include "engine/lock/locker.h"
#include "engine/registry/registry.h"
#include "engine/txn/commit_log.h"
#include "engine/txn/entry_table.h"
#include "engine/txn/held_blobs.h"
#include "engine/txn/repair_queue.h"
#include "engine/txn/segment_refs.h"
#include "engine/txn/sequencer.h"
#include "engine/txn/txn_record.h"

namespace sopfs {

class Transaction;
class CommitStore;

// Where a node version lives: a blob, and its slot when the blob is a node segment.
struct NodeKey {
  BlobId blob;
  uint32_t slot = 0;
  friend bool operator==(const NodeKey&, const NodeKey&) = default;
};
struct NodeKeyHash {
  size_t operator()(const NodeKey& k) const noexcept {
    return std::hash<BlobId>()(k.blob) ^ (k.slot * 0x9e3779b97f4a7c15ULL);
  }
};

enum class TxnMode {
  kWriter,   // reads and writes; everything read or written is checked at commit
  kReader,   // a read-only snapshot; writes fail with EROFS
  kNoCheck,  // writes without conflict checks: the last commit of a key wins
};

inline constexpr int kConflictErrno = EBUSY;

// Whether a blob write may take the room of the metadata reserve (EngineOptions::
// reserve_bytes) when the disk is full.
enum class Room {
  kNewData,        // refused (ENOSPC) while the reserve is in use
  kMayUseReserve,  // metadata, or data already acknowledged: gets through a full disk
};

struct EngineOptions {
  std::vector<std::string> data_folders;  // one per drive; created if missing
  std::string registry_a;                 // the two registry sides
  std::string registry_b;
  std::string log_folder;
  ErasureLayout layout{.k = 4, .m = 2};  // of every value blob (file chunks)
  // Of B-Tree nodes (node segments): metadata outlives more lost folders than data, so
  // that a volume that lost some files' chunks still mounts and lists. k == 0: derived,
  // m + 2 parity shards (at most folders - 1), k = what the other folders allow, at
  // most layout.k (4+2 on 6 folders gives 2+4).
  ErasureLayout metadata_layout{.k = 0, .m = 0};
  Locker* locker = nullptr;         // null: the engine makes an InProcessLocker
  size_t cache_bytes = 256u << 20;  // decoded nodes and values kept in memory
  int checkpoint_commits = 1024;    // checkpoint after this many commits
  // ... or once this many IDs changed since the last one (their versions are in memory
  // until then: this bounds that memory when commits are few and large).
  size_t checkpoint_entries = 32768;
  bool checkpoint_on_close = true;  // false: close as a crash would (tests)
  std::chrono::milliseconds lock_lease{30000};
  std::chrono::milliseconds lock_timeout{10000};
  BlobStoreOptions blob_options;
  // Room kept free on every file system of the volume's folders (MetadataReserve), so
  // that at a full disk metadata writes, deletions and the commits of what was already
  // acknowledged still get through; 0: none.
  uint64_t reserve_bytes = 0;
  // Opens without writing anything (a disk too full even for recovery, a check): the
  // log is replayed into memory only, a missing data folder stays missing, and every
  // commit and checkpoint fails with EROFS.
  bool read_only = false;
  // A read that found shards missing or corrupt has the blob repaired in the background
  // (never when read-only). Off for fsck, which repairs everything itself.
  bool read_repair = true;
  // Small commits carry their new blobs (node segments, small staged values) in the
  // commit record itself, up to this many bytes, and the blobs are written to the data
  // folders after (held_blobs.h): one log flush per small commit. 0: never.
  size_t carry_bytes = 256u << 10;
  // Memory for blobs held that way and for small staged values (at most
  // kHeldValueBytes each) kept until their commit.
  size_t held_bytes = 16u << 20;
  // false: only checkpoints (and recovery) write carried blobs (tests that number
  // every I/O operation).
  bool background_spill = true;
  // true: a checkpoint that commits make due runs on the spiller's thread, so that no
  // commit waits for it (the file system commits one at a time, so all of them did);
  // except while the metadata reserve is in use (a full disk): then the commit runs it,
  // so that the room deletions free is back before the next write. false: the commit
  // that makes it due runs it (tests that count checkpoints). The daemon sets it.
  bool background_checkpoint = false;
  // Test hook, called at named points of a commit ("commit:locked",
  // "commit:before-record", "commit:lease-checked", "commit:before-apply") and of a
  // checkpoint ("checkpoint:removing-garbage").
  std::function<void(std::string_view point)> test_hook;
};

struct EngineStats {
  uint64_t commits = 0;
  uint64_t conflicts = 0;
  uint64_t log_flushes = 0;  // fewer than log records: group commit at work
  uint64_t log_records = 0;
  uint64_t checkpoints = 0;
  uint64_t node_cache_hits = 0;
  uint64_t node_cache_misses = 0;
  uint64_t cache_bytes = 0;      // charged by cached nodes and values (<= cache_bytes option)
  uint64_t blob_bytes_read = 0;  // shard bytes read from the data folders
  uint64_t blob_bytes_written = 0;
  uint64_t blobs_read = 0;  // node, value and chunk blobs
  uint64_t blobs_written = 0;
  uint64_t reconstructions = 0;  // reads that decoded parity
  uint64_t bad_shards_seen = 0;
  // Blobs a read found damaged and that were then repaired in the background (read
  // repair), and the shards that rewrote; read repairs that failed.
  uint64_t read_repairs = 0;
  uint64_t read_repair_shards = 0;
  uint64_t read_repair_failures = 0;
  uint64_t read_repairs_pending = 0;  // queued or under way now
  // Commits whose record carried their new blobs, and those blobs written to the data
  // folders since (by the spiller or a checkpoint); bytes held in memory now.
  uint64_t carrying_commits = 0;
  uint64_t carried_blobs_written = 0;
  uint64_t held_bytes = 0;
};

struct EngineCheckOptions {
  bool quick = false;   // no payload reads: shards are checked for presence only
  bool repair = false;  // rebuild bad shards from parity, remove orphan blobs
  // Every tree of the engine and its options: the B-Trees are verified, and registry
  // IDs that none of them reaches are reported as leaked.
  std::vector<std::pair<LogicalId, BtreeOptions>> trees;
  int threads = 8;  // blobs checked in parallel
};

struct RecoveryReport {
  uint64_t commits_replayed = 0;
  uint64_t commits_refused = 0;  // stale fencing token
  uint64_t orphans_removed = 0;  // blobs written by transactions that never committed
  uint64_t frees_done = 0;       // blobs committed transactions had freed
  uint64_t carried_written = 0;  // blobs the replayed records carried, written
  // The log carried no usable segment counts (segment_refs.h), so every registry entry
  // was read to count them.
  bool segment_refs_counted = false;
};

class Engine {
 public:
  static Result<std::unique_ptr<Engine>> Open(Env* env, EngineOptions options);
  ~Engine();  // checkpoints unless told not to (errors only logged: recovery redoes it)
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  std::unique_ptr<Transaction> Begin(TxnMode mode = TxnMode::kWriter);
  // Writes the registry, removes freed blobs and resets the log. Freed blobs an open
  // snapshot can still see stay (held_frees_seq() says until when).
  Status Checkpoint();
  // After a checkpoint: 0 when it removed every freed blob, else the publish number
  // every open snapshot must reach (frees_removable) before the next checkpoint can
  // remove the ones it kept.
  uint64_t held_frees_seq() const;
  // Whether every open snapshot has reached publish number `seq` (or none is open).
  bool frees_removable(uint64_t seq) const;

  EngineStats Stats() const;
  // Which registry side is active, and whether the other one missed writes.
  RegistryHealth registry_health() { return registry_->Health(); }
  // Fast-forwards a stale (restored) registry side from the live one.
  Status ReinstateRegistry();
  const RecoveryReport& recovery() const { return recovery_; }
  // Counts every registry entry's reference into a node segment (as commits see the
  // registry now) and compares with the counts the engine keeps (which decide when a
  // segment is freed): EIO naming the first difference. Reads the whole registry; waits
  // for commits under way. For checks and tests; not on a read-only engine.
  Status VerifySegmentRefs();
  const EngineOptions& options() const { return options_; }
  // Every blob a registry entry points to (for checks: fsck, tests).
  Result<std::set<BlobId>> ReferencedBlobs();
  // Checks (and with options.repair, repairs) the blobs behind the registry, the
  // B-Trees the caller names, and the data folders (engine_check.cc says what, by kind
  // of problem). Run it on a volume nobody else has open; the engine may be read-only
  // for a check. An error means the check could not go on; problems go to `report`.
  Status Check(const EngineCheckOptions& options, CheckReport* report);
  // Ok when new data may be written; ENOSPC while the metadata reserve is in use (the
  // disk is full until deletions free room).
  Status RoomForNewData();
  // Data folders that were missing at open and were made again, empty.
  // Until a scrub has rebuilt their shards (Refilled).
  std::vector<std::string> emptied_folders() const {
    std::lock_guard<std::mutex> lock(mu_);
    return emptied_folders_;
  }
  // The emptied folders, and how many times a folder was found without its mark so far
  // (a scrub takes this before it lists the blobs).
  struct EmptiedFolders {
    std::vector<std::string> folders;
    uint64_t losses = 0;
  };
  EmptiedFolders emptied() const {
    std::lock_guard<std::mutex> lock(mu_);
    return {emptied_folders_, folder_losses_};
  }
  // A scrub that began at `before` rebuilt every blob: those folders hold their shards
  // again, unless a folder lost its mark since (its drive was emptied again while the
  // pass ran, so shards the pass saw may be gone): then all stay emptied.
  void Refilled(const EmptiedFolders& before) {
    std::lock_guard<std::mutex> lock(mu_);
    if (folder_losses_ != before.losses) return;
    std::erase_if(emptied_folders_, [&](const std::string& f) {
      return std::find(before.folders.begin(), before.folders.end(), f) != before.folders.end();
    });
  }
  // While mounted: a data folder that is there but has lost its mark was replaced by an
  // empty drive. It gets its mark again and counts as emptied (a scrub refills it).
  // True when a mark was found gone (again, too). A missing folder is left alone: making it again
  // could put shards on the disk under a drive's mount point.
  bool FindReplacedFolders();
  // One blob behind the registry, for a scrub: a registry ID pointing at it, and its
  // layout. Each blob once.
  struct LiveBlob {
    LogicalId id = 0;
    BlobId blob;
    ErasureLayout layout;
  };
  Result<std::vector<LiveBlob>> LiveBlobs();
  struct ScrubResult {
    bool skipped = false;  // no longer live (replaced or removed since LiveBlobs)
    uint64_t bytes_read = 0;
    int bad_shards = 0;
    int rewritten = 0;
    bool lost = false;           // more bad shards than parity: the blob's bytes are gone
    bool repair_failed = false;  // a bad shard was left: rewriting it failed, or an I/O error
  };
  // Reads and verifies all of the blob's shards and rewrites the bad ones from parity
  // (a scrub's step). The gate keeps checkpoints (which remove blobs) out meanwhile.
  ScrubResult ScrubBlob(const LiveBlob& blob);
  // The layout node segments are written in (EngineOptions::metadata_layout, derived).
  ErasureLayout metadata_layout() const { return options_.metadata_layout; }
  // Ok when deletions can commit; else why not: the metadata reserve is used up and a
  // disk of the volume has almost no room left.
  Status RoomForDeletions() { return reserve_->RoomForDeletions(); }
  // Bytes the metadata reserve holds now, and wants when whole.
  uint64_t reserve_held() const { return reserve_->held(); }
  uint64_t reserve_target() const { return reserve_->target(); }

 private:
  friend class Transaction;
  friend class TxnTree;
  friend class SnapshotStore;
  friend class LatestNodeStore;
  struct Prepared;

  Engine(Env* env, EngineOptions options);
  Status Init();
  Status Recover();
  // Check's last step: reports each lost blob (blob -> why) with every registry ID of
  // `in_use` pointing at it and where the checked trees reach each.
  void ReportLost(const std::map<BlobId, std::string>& lost, const std::vector<LogicalId>& in_use,
                  const EngineCheckOptions& options, CheckReport* report);
  // Counts the entries pointing into each node segment of the registry on disk (only
  // when the log carried no counts: it reads the whole registry).
  Result<SegmentRefs> CountSegmentRefs();
  LogicalId AllocateId() { return next_id_.fetch_add(1); }
  // A new blob ID. Consecutive blobs share their fan-out directories (a few hundred per
  // leaf directory) so that small commits do not each create, and flush, new
  // directories in every data folder.
  // With a span, a start keeping `layout`'s shards inside it (FolderSpan).
  BlobId NewBlobId(FolderSpan span = {}, int shards = 0);
  // Memory charged for a cached node: the node as it sits in memory, plus the cache's
  // own bookkeeping.
  static size_t NodeCharge(const BtreeNode& node) { return node.MemoryUsage() + 128; }
  // EFBIG for a transaction whose record would pass the log's limit.
  static Status TooLarge(size_t record_bytes);
  // A staged value up to this size is held in memory until its commit (held_blobs.h).
  static constexpr size_t kHeldValueBytes = 64u << 10;
  // Holds `values` as staged blobs when carrying is on and they fit; nullopt if not.
  std::optional<Result<std::vector<BlobId>>> HoldValues(std::span<const std::string_view> values,
                                                        ErasureLayout layout, FolderSpan span,
                                                        Room room);
  // Writes logged blobs to the data folders, up to `max_bytes` of them, or all. The
  // caller holds the gate (shared or exclusive); one call at a time writes (the
  // spiller's and a checkpoint's). engine_spill.cc.
  Status WriteLogged(size_t max_bytes);
  // Forgets held blobs that turned garbage, with no WriteLogged writing meanwhile (it
  // may have written part of one that failed: the caller removes them from the folders).
  void DropHeldGarbage(const std::vector<BlobId>& garbage);
  // Writes the blobs replayed records carried (recovery), replacing what a write
  // before the crash left of them.
  Status WriteCarried(const std::vector<TxnRecord::CarriedBlob>& carried);
  void SpillLoop();
  // Checkpoint(), and after a failure waits for as many commits again before the next.
  Status CheckpointOrBackOff();
  void StopSpiller();
  // What may be held in memory (and twice that carried by the log since its last
  // reset): at most an eighth of the metadata reserve, so that at a full disk the
  // reserve's room writes what is held (erasure coded: up to 3 times the bytes).
  size_t HeldCapacity() const {
    return options_.reserve_bytes == 0
               ? options_.held_bytes
               : std::min<size_t>(options_.held_bytes, options_.reserve_bytes / 8);
  }

  // A node (or value) as of `snapshot` (EntryTable::kNoSnapshot: the latest).
  Result<std::shared_ptr<const BtreeNode>> LoadNode(LogicalId id, uint64_t snapshot,
                                                    RegistryEntry* entry = nullptr);
  Result<std::shared_ptr<const std::string>> LoadValue(LogicalId id, uint64_t snapshot);
  Result<std::shared_ptr<const std::string>> LoadValueBlob(const BlobId& blob,
                                                           ErasureLayout layout);
  // The layout of the blob a registry entry points to.
  ErasureLayout LayoutOf(const RegistryEntry& e) const {
    if (std::optional<ErasureLayout> own = e.layout()) return *own;
    return (e.flags & RegistryEntry::kMetadataLayout) ? options_.metadata_layout : options_.layout;
  }
  // The layout of a tree's value blobs.
  ErasureLayout ValueLayout(const BtreeOptions& tree) const {
    return tree.value_layout.value_or(options_.layout);
  }
  // Wide enough to remove a blob of any layout: shard i sits in folder (start + i) mod
  // N whatever the layout, so N shard indices reach every folder.
  ErasureLayout RemovalLayout() const {
    const int folders = blobs_->folder_count();
    const int m = std::min(ErasureLayout::kMaxParity, folders - 1);
    return {.k = std::max(1, folders - m), .m = m};
  }
  // Part of a value blob: from the cache when the whole blob is there, else only the
  // shards that hold the range.
  Result<size_t> ReadValueBlob(const BlobId& blob, ErasureLayout layout, uint64_t offset,
                               std::span<uint8_t> out);
  // A blob the registry points to whose shards are all missing is EIO, never ENOENT:
  // above the engine ENOENT means "no such key", and a file would read a hole of zeros.
  static Status Unreadable(const Status& blob_status);
  // A read found bad shards in `blob`: queue a repair (read repair; not when read-only).
  void NoteDamage(const BlobId& blob, ErasureLayout layout, const BlobReadReport& report);
  // The repair itself, on the RepairQueue's thread: skipped for a blob already freed
  // (a checkpoint may be removing it); the gate keeps checkpoints out meanwhile.
  void RepairDamaged(const BlobId& blob, ErasureLayout layout);
  // Writes a value blob now (prepare record first); it belongs to the caller's
  // transaction until that commits or hands it back with Discard.
  Result<BlobId> StageValue(std::string_view bytes, ErasureLayout layout, FolderSpan span,
                            Room room = Room::kNewData);
  // Many at once: one prepare record and one batched, erasure-coded write.
  Result<std::vector<BlobId>> StageValues(std::span<const std::string_view> values,
                                          ErasureLayout layout, FolderSpan span,
                                          Room room = Room::kNewData);
  // Blobs that will never be committed: removed durably at the next checkpoint.
  void Discard(std::span<const BlobId> blobs);
  // Writes blobs with a prepare record first; on failure nothing stays in flight.
  Status WritePrepared(std::span<const BlobStore::Write> writes, Room room);
  // Appends `rec` (already encoded as `payload`); with no room for it, once more
  // (encoded again: the first payload was consumed) after the metadata reserve gave
  // its room back.
  Result<uint64_t> AppendUsingReserve(const TxnRecord& rec, std::string payload);
  Status CheckpointOnce();

  Status Commit(Transaction& txn);
  Status CommitLocked(Transaction& txn, const LockGrant& grant,
                      const std::vector<std::string>& lock_keys,
                      const std::vector<LogicalId>& locked_trees, const std::string& owner);
  // Makes the values the transaction staged durable (they were written deferred).
  Status FlushStaged(const Transaction& txn);
  // Nothing the transaction read or wrote changed since its snapshot (its trees are
  // locked, so their latest state cannot move meanwhile); else a conflict naming it.
  Status CheckUnchanged(Transaction& txn, CommitStore& store);
  Status MaybeCheckpoint();

  Env* env_;
  EngineOptions options_;
  std::unique_ptr<Locker> own_locker_;
  Locker* locker_ = nullptr;
  std::unique_ptr<BlobStore> blobs_;
  std::unique_ptr<Registry> registry_;
  std::unique_ptr<CommitLog> log_;
  std::unique_ptr<MetadataReserve> reserve_;
  std::unique_ptr<EntryTable> entries_;
  Sequencer sequencer_;
  LruCache<NodeKey, BtreeNode, NodeKeyHash> node_cache_;
  LruCache<BlobId, std::string> value_cache_;
  // Value blobs being read now: a second reader of one waits for it (see single_flight.h).
  SingleFlight<BlobId, std::shared_ptr<const std::string>> value_loads_;
  RecoveryReport recovery_;
  // Read-only opens: blobs the log says a writable open's recovery would remove.
  std::set<BlobId> recovery_pending_;
  std::vector<std::string> emptied_folders_;  // guarded by mu_ once open
  uint64_t folder_losses_ = 0;                // marks found gone while mounted; mu_
  std::unique_ptr<RepairQueue> repairs_;      // null when read-only; stopped first at close
  // One repair at a time (read repair and scrub may meet on one blob; each writes its
  // shards aside under the same names before renaming them in).
  std::mutex repair_mu_;
  std::string instance_;  // names this engine's lock owners

  std::atomic<LogicalId> next_id_{1};
  std::mutex blob_id_mu_;  // guards the two below
  BlobId blob_anchor_;
  int blob_anchor_uses_ = 0;
  std::atomic<uint64_t> stamp_{0};
  std::atomic<uint64_t> next_txn_{1};

  // Commits and stagings hold it shared from their first log record until they are
  // applied (or given up); a checkpoint holds it exclusively.
  std::shared_mutex gate_;
  std::mutex checkpoint_mu_;  // one CheckpointOnce at a time (taken before gate_)
  // Held exclusively while a checkpoint removes garbage outside gate_; shared by what may
  // rewrite shards of a blob (scrub, read repair), taken before gate_.
  std::shared_mutex garbage_gate_;
  mutable std::mutex mu_;       // guards everything below
  std::set<BlobId> in_flight_;  // prepared, neither committed nor discarded
  std::vector<std::pair<uint64_t, BlobId>> pending_frees_;  // (publish seq, blob)
  uint64_t held_frees_seq_ = 0;                             // see held_frees_seq()
  std::unordered_map<LogicalId, uint64_t> applied_fence_;   // per tree
  // A holder whose lease ran out right after its lease check still writes its record.
  // Per tree: the newest fence a commit started checking under (older holders that have
  // not started recording give up), and the commits between the start of their record
  // and its apply (newer holders wait for them, recorded_cv_).
  std::unordered_map<LogicalId, uint64_t> newest_holder_;
  std::unordered_map<LogicalId, int> recording_;
  std::condition_variable recorded_cv_;
  SegmentRefs segment_refs_;  // registry entries per segment
  Status broken_;             // the log failed a flush
  uint64_t commits_since_checkpoint_ = 0;
  size_t dirty_entries_at_failure_ = 0;    // a failed checkpoint waits for as many again
  uint64_t carried_since_checkpoint_ = 0;  // bytes commit records carried into the log
  EngineStats stats_;

  std::unique_ptr<HeldBlobs> held_;  // made in Init
  std::thread spiller_;              // writes logged blobs soon after their commit
  std::mutex spill_mu_;
  // Held through each WriteLogged, and by a scrub that waits for a spill (after gate_).
  std::mutex writing_logged_mu_;
  std::condition_variable spill_cv_;
  bool spill_stop_ = false;         // spill_mu_
  bool checkpoint_wanted_ = false;  // spill_mu_: a commit made a checkpoint due
  // The last write of carried blobs failed (a full or failing data folder): commits stop
  // carrying, and meet the error themselves, until one succeeds again.
  std::atomic<bool> spill_failing_{false};
  // A data folder's disk has less room than kCarryMinFreeBytes (or twice the metadata
  // reserve): commits write their blobs first, as they did before carrying, so that
  // nothing written later takes the room a deletion gives back. Looked at after every
  // spill, and at open.
  std::atomic<bool> disk_tight_{false};
  static constexpr uint64_t kCarryMinFreeBytes = 256u << 20;
  void LookAtRoom();
};

}  // namespace sopfs
