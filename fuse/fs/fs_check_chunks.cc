#include "fuse/fs/fs_check_chunks.h"

#include <sys/stat.h>

#include <algorithm>
#include <string>

namespace sopfs {

Status ChunkWalk::AddStore(uint32_t id, uint32_t chunk_size, TxnTree* tree) {
  Store store{.id = id, .chunk_size = chunk_size, .tree = tree, .cursor = tree->NewCursor()};
  SOPFS_RETURN_IF_ERROR(store.cursor->First());
  stores_.push_back(std::move(store));
  return Status::Ok();
}

bool ChunkWalk::more() const {
  return std::any_of(stores_.begin(), stores_.end(),
                     [](const Store& s) { return s.cursor->Valid(); });
}

Status ChunkWalk::Before(uint64_t end, std::vector<Tally>* out) {
  for (Store& store : stores_) {
    while (store.cursor->Valid()) {
      const std::string_view key = store.cursor->key();
      if (key.size() != 16) {
        ++visited_;
        out->push_back({.store = store.id, .chunk_size = store.chunk_size, .bad_keys = 1});
        SOPFS_RETURN_IF_ERROR(store.cursor->Next());
        continue;
      }
      const uint64_t file = ReadBigEndian64(key);
      if (file >= end) break;
      Tally tally{.file = file, .store = store.id, .chunk_size = store.chunk_size};
      SOPFS_RETURN_IF_ERROR(Walk(store, file, nullptr, false, false, &tally));
      out->push_back(tally);
    }
  }
  return Status::Ok();
}

Status ChunkWalk::Of(uint64_t file, const InodeRecord* rec, bool bad, std::vector<Tally>* out) {
  const bool known = rec != nullptr && std::any_of(stores_.begin(), stores_.end(),
                                                   [&](auto& s) { return s.id == rec->store; });
  const uint32_t own = rec == nullptr ? 0 : known ? rec->store : 0;
  for (Store& store : stores_) {
    const bool mine = rec != nullptr && store.id == own;
    Tally tally{.file = file, .store = store.id, .own = mine, .chunk_size = store.chunk_size};
    SOPFS_RETURN_IF_ERROR(Walk(store, file, rec, mine, bad, &tally));
    // The file's own store always reports (its count is checked even with no chunk).
    if (mine || tally.kept + tally.stray + tally.beyond != 0) out->push_back(tally);
  }
  return Status::Ok();
}

Status ChunkWalk::Walk(Store& store, uint64_t file, const InodeRecord* rec, bool own, bool bad,
                       Tally* tally) {
  const bool regular = own && rec != nullptr && S_ISREG(rec->mode);
  if (regular) {
    tally->limit = rec->size / store.chunk_size + (rec->size % store.chunk_size != 0);
  }
  while (store.cursor->Valid()) {
    const std::string_view key = store.cursor->key();
    if (key.size() != 16 || ReadBigEndian64(key) != file) break;
    const uint64_t index = ReadBigEndian64(key.substr(8));
    ++visited_;
    bool drop = false;
    if (bad) {
    } else if (!regular) {
      ++tally->stray;
      drop = true;
    } else if (index >= tally->limit) {
      if (tally->beyond++ == 0) tally->first_beyond = index;
      drop = true;
    } else {
      ++tally->kept;
    }
    if (drop && repair_) {
      const std::string erased(key);
      SOPFS_RETURN_IF_ERROR(store.tree->Erase(erased));
      SOPFS_RETURN_IF_ERROR(store.cursor->Seek(erased));  // the write moved the cursor
    } else {
      SOPFS_RETURN_IF_ERROR(store.cursor->Next());
    }
  }
  return Status::Ok();
}

}  // namespace sopfs
