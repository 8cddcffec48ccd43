// Transaction and TxnTree: what callers of the engine use (see engine.h for how a
// commit works).
//
// A Transaction reads from the snapshot taken at Begin and sees its own writes on top
// (per tree, an Overlay of each touched key's final state). Commit applies everything
// atomically or nothing; Rollback (or destroying the Transaction) drops everything.
// Values longer than the tree's value_blob_threshold (or all values when
// values_in_node is false) are written to their own blob at once, so a transaction's
// memory holds keys and small values only.
//
// A tree is named by its root's logical ID and must always be opened with the options
// it was created with (same comparator, slot length and value placement).
//
// Errors: like Btree (EEXIST, ENOENT, EINVAL), EROFS for writes in a reader, EINVAL
// for calls after the transaction ended, EIO for unreadable nodes, and Commit's errors
// (engine.h). After a failed write the transaction stays usable: the write did nothing.
//
// Threads: one thread at a time per Transaction (and its trees and cursors).
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "engine/btree/btree.h"
#include "engine/txn/engine.h"
#include "engine/txn/overlay.h"
#include "engine/txn/overlay_cursor.h"

namespace sopfs {

class SnapshotStore;
class TxnCursor;

class TxnTree {
 public:
  Status Add(std::string_view key, std::string_view value);                  // EEXIST if present
  Result<bool> AddIfNotExist(std::string_view key, std::string_view value);  // false: present
  Status Update(std::string_view key, std::string_view value);               // ENOENT if absent
  Status Upsert(std::string_view key, std::string_view value);
  Status Remove(std::string_view key);  // ENOENT if absent
  // Removes the key whether or not this transaction's snapshot holds it: a blind
  // delete that also removes a newer committed version (no-check transactions).
  Status Erase(std::string_view key);
  // Pipelined writes of blob-valued trees: StageBlob writes a value blob now and may run
  // on any thread, concurrently with the transaction's own thread (it touches no
  // transaction state); UpsertStaged then gives the key that blob, which the
  // transaction owns from then on (committed with it, or freed — also when
  // UpsertStaged fails).
  Result<BlobId> StageBlob(std::string_view bytes, Room room = Room::kNewData);
  // Many blobs in one batch (one prepare record, one erasure-coded write).
  // Room::kMayUseReserve for contents already acknowledged (a journaled close).
  Result<std::vector<BlobId>> StageBlobs(std::span<const std::string_view> values,
                                         Room room = Room::kNewData);
  Status UpsertStaged(std::string_view key, const BlobId& blob);
  // An upsert that keeps `value` in the tree's node whatever values_in_node and
  // value_blob_threshold say: small values of a blob-valued tree (a small file's only
  // chunk) are packed with their neighbours into node segments instead of costing a
  // blob each. Replacing a value that had a blob frees that blob.
  Status UpsertInNode(std::string_view key, std::string_view value);
  Result<std::string> Find(std::string_view key);
  // Stops checking `key` at commit: neither what this transaction read of it nor its
  // own write of it is compared with later commits (a blind write: its last state
  // still commits, over whatever another commit put there). For values the caller
  // merges itself.
  void Unwatch(std::string_view key);
  // Whether ranges read by cursors are checked at commit (phantom protection; on by
  // default). Off for a tree whose ranges are guarded by a key the caller does check.
  void CheckRanges(bool on) { check_ranges_ = on; }
  // Reads up to out.size() bytes of the key's value at `offset`; returns how many (short
  // at the value's end). A value in its own blob is read in part: only the shards
  // holding the range (unless the whole blob is cached). ENOENT if absent.
  Result<size_t> ReadValue(std::string_view key, uint64_t offset, std::span<uint8_t> out);

  // A cursor over the transaction's view of the tree. Writes to the tree invalidate
  // it: position it again (Seek to its last key) after writing.
  std::unique_ptr<TxnCursor> NewCursor();

  LogicalId root() const { return root_; }
  const BtreeOptions& options() const { return options_; }

 private:
  friend class Transaction;
  friend class TxnCursor;
  friend class Engine;
  friend class SnapshotStore;

  TxnTree(Transaction* txn, LogicalId root, BtreeOptions options, bool created);
  // The key's state in the transaction's view: nullopt when absent. Records the
  // snapshot version of a key seen for the first time.
  Result<std::optional<OverlayEntry>> Current(std::string_view key);
  // Where a written value goes: by the tree's options, or into the node regardless.
  enum class Placement { kByOptions, kInNode };
  Status Write(std::string_view key, std::optional<std::string_view> value,
               const BlobId* staged_blob = nullptr, Placement placement = Placement::kByOptions);

  Transaction* txn_;
  LogicalId root_;
  BtreeOptions options_;
  bool created_;  // made by this transaction: nothing under it in the snapshot
  bool check_ranges_ = true;
  Btree base_;  // the snapshot's tree
  Overlay overlay_;
  std::map<std::string, uint64_t, OverlayLess> versions_;  // key -> version seen (0: absent)
  std::unordered_map<LogicalId, uint64_t> scanned_nodes_;  // node -> version, under cursors
};

class TxnCursor {
 public:
  Status First();
  Status Last();
  Status Seek(std::string_view key);
  Status SeekForPrev(std::string_view key);
  Status Next();
  Status Prev();
  bool Valid() const { return cursor_.Valid(); }
  std::string_view key() const { return cursor_.key(); }
  Result<std::string> value() const;

 private:
  friend class TxnTree;
  explicit TxnCursor(TxnTree* tree);
  template <class F>
  Status Tracked(F move);

  TxnTree* tree_;
  OverlayCursor cursor_;
};

class Transaction {
 public:
  ~Transaction();  // rolls back if still open
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;

  // A new, empty tree; it exists for others once this transaction commits.
  Result<LogicalId> CreateTree(const BtreeOptions& options = {});
  // The tree rooted at `root`; the same object for every call in this transaction.
  Result<TxnTree*> Tree(LogicalId root, const BtreeOptions& options = {});

  Status Commit();
  void Rollback();

  // After a commit failed with a conflict: the tree and key that changed (key empty
  // when a range read by a cursor changed).
  struct ConflictSite {
    LogicalId tree = 0;
    std::string key;
  };
  const std::optional<ConflictSite>& conflict() const { return conflict_; }

  TxnMode mode() const { return mode_; }
  bool open() const { return open_; }
  uint64_t snapshot() const { return snapshot_; }

 private:
  friend class Engine;
  friend class TxnTree;
  friend class TxnCursor;
  friend class SnapshotStore;

  Transaction(Engine* engine, TxnMode mode, uint64_t id);
  Status CheckOpen() const;
  Status CheckWritable() const;
  // Ends the transaction: releases the snapshot and hands back unused value blobs.
  void Finish(bool committed);

  Engine* engine_;
  TxnMode mode_;
  uint64_t id_;
  uint64_t snapshot_;
  bool open_ = true;
  bool tracking_ = false;  // a cursor is moving: record the versions of nodes loaded
  TxnTree* tracking_tree_ = nullptr;
  std::unique_ptr<SnapshotStore> store_;
  std::map<LogicalId, std::unique_ptr<TxnTree>> trees_;
  struct StagedValue {
    BlobId blob;
    ErasureLayout layout;  // its tree's value layout
  };
  std::unordered_map<LogicalId, StagedValue> staged_values_;  // value ID -> its blob
  std::optional<ConflictSite> conflict_;
};

}  // namespace sopfs
