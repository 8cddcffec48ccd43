// ChunkWalk: the chunk trees of every store, read in inode order beside the inode tree
// (CheckFileSystem's first pass): one cursor per store, each key read once.
//
// For each file it tallies, per store, the chunks that belong (below the size, in the
// file's own store) and those that do not: past the size, in another store's tree, of
// something that is not a regular file, or of an inode with no record. A repair erases
// the ones that do not belong. Keys that are not (inode, chunk index) are counted and
// left.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "engine/txn/transaction.h"
#include "fuse/fs/inode_record.h"

namespace sopfs {

class ChunkWalk {
 public:
  explicit ChunkWalk(bool repair) : repair_(repair) {}

  // A store's chunk tree (the root store's first); its cursor starts at the first key.
  Status AddStore(uint32_t id, uint32_t chunk_size, TxnTree* tree);

  // What one file has in one store.
  struct Tally {
    uint64_t file = 0;
    uint32_t store = 0;
    bool own = false;  // the store of the file's record
    uint32_t chunk_size = 0;
    uint64_t kept = 0;    // chunks that belong
    uint64_t stray = 0;   // of no record, not a regular file, or in a store not its own
    uint64_t beyond = 0;  // at or past the size
    uint64_t first_beyond = 0;
    uint64_t limit = 0;  // chunks the size covers (in the file's own store)
    uint64_t bad_keys = 0;
  };
  // The chunks of files numbered below `end` (they have no record), one tally per file
  // and store holding any.
  Status Before(uint64_t end, std::vector<Tally>* out);
  // The chunks of `file` in every store. `rec` null: no record; `bad`: a record that
  // does not decode (its chunks are left alone). An unknown store counts as the root
  // store, as a mount reads it.
  Status Of(uint64_t file, const InodeRecord* rec, bool bad, std::vector<Tally>* out);
  // Whether any store has keys left (after the last record).
  bool more() const;
  uint64_t visited() const { return visited_; }

 private:
  struct Store {
    uint32_t id = 0;
    uint32_t chunk_size = 0;
    TxnTree* tree = nullptr;
    std::unique_ptr<TxnCursor> cursor;
  };
  // The keys of `file` at the store's cursor.
  Status Walk(Store& store, uint64_t file, const InodeRecord* rec, bool own, bool bad,
              Tally* tally);

  bool repair_;
  std::vector<Store> stores_;
  uint64_t visited_ = 0;
};

}  // namespace sopfs
