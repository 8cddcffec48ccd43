// BtreeNode: one node of a B-Tree (its items in key order and, for an internal node,
// the logical IDs of its children) and the binary format a node is stored in as a blob.
//
// Format (version 1; integers are LEB128 varints, canonical: no redundant zero groups):
//   "SOPN" magic, u8 format version, u8 flags (bit 0: internal node; others zero),
//   varint node ID (must equal the logical ID the node is read under, so a registry
//   entry pointing at another node's blob is caught), varint item count,
//   per item: varint key length, key bytes, varint version, varint value blob ID, and
//             when that is 0 varint value length, value bytes;
//   internal nodes only: item count + 1 varint child IDs (never 0).
// Nothing may follow. No checksum here: the blob store checksums every shard. Decode
// accepts exactly what Encode produces (Encode(Decode(b)) == b) and rejects anything
// else with EIO, reading nothing out of bounds.
//
// Threads: plain values; a node shared through shared_ptr<const BtreeNode> is immutable.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "engine/registry/registry_block.h"
#include "engine/status.h"

namespace sopfs {

struct BtreeItem {
  std::string key;
  std::string value;         // empty when value_blob != 0
  LogicalId value_blob = 0;  // nonzero: the value lives in its own blob
  // The write version of the Btree that last wrote the item (the transaction layer's
  // commit stamp, for optimistic conflict checks); moving an item keeps it.
  uint64_t version = 0;

  friend bool operator==(const BtreeItem&, const BtreeItem&) = default;
};

struct BtreeNode {
  static constexpr uint8_t kFormatVersion = 1;

  LogicalId id = 0;
  std::vector<BtreeItem> items;     // sorted by the tree's comparator
  std::vector<LogicalId> children;  // empty for a leaf, else items.size() + 1

  bool leaf() const { return children.empty(); }
  // Bytes this node takes in memory (what a cache holding it is charged).
  size_t MemoryUsage() const;

  // Requires children to be empty or items.size() + 1 long.
  std::string Encode() const;
  // EIO (naming `id`) for anything malformed.
  static Result<BtreeNode> Decode(std::string_view bytes, LogicalId id);

  friend bool operator==(const BtreeNode&, const BtreeNode&) = default;
};

}  // namespace sopfs
