// LostBlob: a blob a check (sopfs fsck) found beyond repair — fewer than k good shards,
// so its bytes are gone — with what it held, as far as each layer can tell.
//
// The engine knows the registry IDs pointing at the blob (one for a value or a lone
// node; many for a node segment) and, walking the B-Trees, where each sits: a value
// of tree T under key K, or a node of tree T whose keys lie between two bounds (its
// parent's separators). What those trees and keys mean (a file's chunk, a directory's
// names) only their owner knows: the file system's check turns each place into words
// and paths (`held`). A blob nobody described is listed by its ID and registry IDs.
//
// Threads: plain values.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace sopfs {

// One registry ID of a lost blob, and where the trees reach it.
struct LostPlace {
  uint64_t id = 0;     // the registry (logical) ID
  uint64_t tree = 0;   // the root ID of the tree that reaches it; 0: no tree does
  bool value = false;  // a value of `tree` under `key`; else a node of it
  uint32_t level = 0;  // a node's depth below the root (0: the root itself)
  // A value: its key. A node: the keys below it come after `key` (no lower bound when
  // absent)...
  std::optional<std::string> key;
  // ...and before `end` (no upper bound when absent).
  std::optional<std::string> end;
};

// What a lost blob held, told by the layer that owns the trees.
struct LostHeld {
  std::string what;                // "chunk 2 (bytes 2097152..3145727) of /a/big"
  std::vector<std::string> paths;  // the files or directories hit (every name of a file)
};

struct LostBlob {
  std::string blob;               // the blob ID in hex
  std::string detail;             // why it is lost ("3 of 6 shards bad in 4+2")
  bool segment = false;           // a node segment (many nodes in one blob)
  std::vector<LostPlace> places;  // one per registry ID pointing at it
  std::vector<LostHeld> held;     // empty until the file system's check describes it

  // Where the blob is, for a listing: what it held, else its IDs.
  std::string Where() const {
    std::string out;
    for (const LostHeld& h : held) out += (out.empty() ? "" : "; ") + h.what;
    if (!out.empty()) return out;
    out = blob;
    for (size_t i = 0; i < places.size(); ++i) {
      out += (i == 0 ? " (id " : ", ") + std::to_string(places[i].id);
    }
    return places.empty() ? out : out + ")";
  }
};

}  // namespace sopfs
