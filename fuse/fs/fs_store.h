// FsStore: a directory subtree whose files use an erasure layout and a chunk size of
// their own (SPEC §4: k+m "overridable per store (directory subtree) by name", as
// SOP's ErasureConfigs map is).
//
// Each store is a B-Tree of its own in the engine: its chunk tree, whose value blobs
// (the files' chunks) are written in the store's layout (BtreeOptions::value_layout),
// so a store's file commits lock that tree and no other store's. The namespace and
// inode trees stay volume-wide: a directory entry and an inode record are tiny and
// packed in node segments, and keeping them in one place keeps every namespace
// operation, across stores too, one atomic commit of the same trees.
//
// Only store directories get a store, not every directory: a tree per directory would
// cost a root node and a registry ID per mkdir, make an empty directory cost a blob,
// and turn every rename between directories into a move between trees.
//
// The root store (ID 0) is the volume's own chunk tree and layout. Others are recorded
// in the volume tree under "store/" + ID (4 bytes, big endian): chunk tree, chunk size,
// layout, folders and the name given at format (empty when made by setfattr). An inode record
// names the store of its content (InodeRecord::store): a file's chunks, and for a
// directory the store of what is made in it. A store is never removed: rmdir of its
// directory leaves an empty tree (a few hundred bytes).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/btree/btree.h"
#include "engine/txn/transaction.h"

namespace sopfs {

// What a store is asked to be: "K+M[:SIZE][@FIRST-LAST]": its layout, its chunk size
// (e.g. 4M), and the data folders its files' shards go to (indexes as in sopfs.conf,
// e.g. @6-10 for drives of its own; default all).
struct StoreSpec {
  ErasureLayout layout;
  uint32_t chunk_size = 0;
  FolderSpan folders = {};
  std::string ToString() const;
};
// EINVAL naming what is wrong (the layout must fit `folders`; the chunk size is a
// power of two from 64K to 64M, `default_chunk` when not given).
Result<StoreSpec> ParseStoreSpec(std::string_view text, uint32_t default_chunk, int folders);

struct FsStore {
  uint32_t id = 0;  // 0: the volume's root store
  std::string name{};
  LogicalId chunk_tree = 0;
  uint32_t chunk_size = 0;
  std::optional<ErasureLayout> layout = std::nullopt;  // none: the volume's data layout
  FolderSpan folders = {};                             // where its chunks' shards go
  // The chunk tree's options: ChunkFile::TreeOptions() in the store's layout.
  BtreeOptions chunk_options() const;
};

// Every store recorded in the volume tree (not the root store), by ID.
Result<std::vector<FsStore>> ReadStores(TxnTree& volume);
// Makes a store (its chunk tree and its record) in `txn`, with the next free ID.
Result<FsStore> CreateStore(Transaction& txn, LogicalId volume_tree, const StoreSpec& spec,
                            std::string_view name);

}  // namespace sopfs
