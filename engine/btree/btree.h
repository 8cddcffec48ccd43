// Btree: an ordered map of byte-string keys to byte-string values, kept as a B-Tree
// whose nodes live in a NodeStore (so, for real, as blobs behind the registry).
//
// - Items live in every node (as in SOP), at most slot_length per node; every node but
//   the root holds at least slot_length / 2. Inserts split full nodes, removes borrow
//   from a sibling or merge with it, and freed nodes go back to the store.
// - Logical IDs are stable: a changed node is staged again under its own ID; the root's
//   ID never changes (a root split moves its contents into two new children, and when
//   the root is left with one child that child's contents move up into the root).
// - A value goes into its own blob when values_in_node is false or it is longer than
//   value_blob_threshold (UpsertStaged: where the caller put it); replacing or removing
//   it frees the old blob.
// - Each operation loads the path from the root, changes only the nodes it must and
//   stages them at the end. Nodes from the store are immutable and may still be held by
//   cursors, so a node is changed in place only when the store hands it over
//   (NodeStore::TakeStaged: nobody else holds it) and copied otherwise. If the store
//   fails midway the tree may be half changed: the caller (a transaction) must roll
//   back. Values are staged before, and freed after, the nodes that reference them.
// - Every item an operation writes (added, or its value replaced) gets the tree's
//   write_version() as its BtreeItem::version; items moved by splits, merges, borrows
//   and removes keep theirs.
// - Errors: EEXIST, ENOENT and EINVAL as each call says; EIO for a node that is missing
//   or malformed (ENOENT always means "no such key"); other store errors pass through.
//
// Threads: a Btree is used by one transaction (one thread) at a time. Use one Btree
// object per tree at a time: cursors notice writes made through their own Btree only.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/blob/erasure_layout.h"
#include "engine/btree/node_store.h"

namespace sopfs {

// Negative, zero or positive as a sorts before, with, or after b.
using BtreeComparator = std::function<int(std::string_view a, std::string_view b)>;

struct BtreeOptions {
  static constexpr int kMinSlotLength = 4;
  static constexpr int kMaxSlotLength = 5000;

  int slot_length = 500;  // max items per node, kMinSlotLength..kMaxSlotLength
  bool values_in_node = true;
  size_t value_blob_threshold = 1024;  // longer values get their own blob
  BtreeComparator compare = nullptr;   // empty: byte-wise (unsigned, shorter first)
  // The erasure layout of the values that get their own blob (a store's file chunks);
  // none: the engine's data layout (EngineOptions::layout).
  std::optional<ErasureLayout> value_layout = std::nullopt;
  // The data folders those blobs' shards go to (all by default).
  FolderSpan value_folders = {};

  // EINVAL naming the bad field.
  Status Validate() const;
};

class Btree {
 public:
  static constexpr size_t kMaxKeyLength = 4096;

  // Allocates and stages an empty root; returns its ID (the tree's ID from now on).
  static Result<LogicalId> Create(NodeStore* store, const BtreeOptions& options = {});
  // The tree rooted at `root`. The options must match the ones it was created with
  // (same comparator, same slot length); invalid options fail every call with EINVAL.
  Btree(NodeStore* store, LogicalId root, BtreeOptions options = {});

  // Keys longer than kMaxKeyLength: EINVAL. The empty key is a key like any other.
  Status Add(std::string_view key, std::string_view value);                  // EEXIST if present
  Result<bool> AddIfNotExist(std::string_view key, std::string_view value);  // false: present
  Status Update(std::string_view key, std::string_view value);               // ENOENT if absent
  Status Upsert(std::string_view key, std::string_view value);
  Status Remove(std::string_view key);                   // ENOENT if absent
  Result<std::string> Find(std::string_view key) const;  // ENOENT if absent
  // The item as stored (key bytes as stored, value blob not read); ENOENT if absent.
  Result<BtreeItem> FindItem(std::string_view key) const;

  // An upsert of a value the caller placed: value_blob != 0 is a value blob the caller
  // staged, which the item then references as is (`value` is ignored, nothing is staged);
  // value_blob == 0 stores `value` in the node whatever values_in_node and
  // value_blob_threshold say. A replaced item's old value blob is freed, unless it is
  // value_blob itself. True if the key was new. (For the transaction layer, re-applying
  // a transaction's final key states at commit.)
  Result<bool> UpsertStaged(std::string_view key, std::string_view value, LogicalId value_blob);

  // The version written into every item the calls above write; 0 until set.
  void set_write_version(uint64_t version) { write_version_ = version; }
  uint64_t write_version() const { return write_version_; }

  LogicalId root() const { return root_; }
  NodeStore* store() const { return store_; }
  const BtreeOptions& options() const { return options_; }
  int Compare(std::string_view a, std::string_view b) const {
    return options_.compare ? options_.compare(a, b) : a.compare(b);
  }

 private:
  friend class BtreeCursor;
  enum class PutMode { kAdd, kAddIfNotExist, kUpdate, kUpsert };
  struct PathStep;
  using Path = std::vector<PathStep>;

  Status CheckKey(std::string_view key) const;
  // Index of the first item >= key; *found tells whether it equals key.
  size_t LowerBound(const BtreeNode& node, std::string_view key, bool* found) const;
  // Loads a node and checks that it is the node asked for and well formed.
  Result<std::shared_ptr<const BtreeNode>> LoadNode(LogicalId id) const;
  // The value of an item, from its blob if it has one.
  Result<std::string> ValueOf(const BtreeItem& item) const;
  // Fills `path` from the root down to the node holding key (true) or to the leaf
  // where it would go (false).
  Result<bool> Descend(std::string_view key, Path* path) const;
  // The item to write: value placement by the options, or as given by `staged_blob`
  // (see UpsertStaged). Stages the value blob if the options call for one.
  Result<BtreeItem> MakeItem(std::string_view key, std::string_view value,
                             std::optional<LogicalId> staged_blob);
  Result<bool> Put(std::string_view key, std::string_view value, PutMode mode,
                   std::optional<LogicalId> staged_blob = std::nullopt);
  // A node to change that is not on the path (a sibling): the store's own object if
  // TakeStaged hands it over, else a copy. `node` is consumed.
  std::shared_ptr<BtreeNode> Mutable(std::shared_ptr<const BtreeNode> node);
  Status SplitOverfull(Path& path);
  Status SplitRoot(BtreeNode& root);
  Status Rebalance(Path& path);
  Status StageEdited(Path& path);

  NodeStore* store_;
  LogicalId root_;
  BtreeOptions options_;
  Status options_status_;
  uint64_t write_version_ = 0;
  // Bumped by every write, so that cursors know when their path may be stale.
  uint64_t generation_ = 0;
};

}  // namespace sopfs
