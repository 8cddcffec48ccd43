// FileSystem: stores, directory subtrees with an erasure layout and chunk size of
// their own (fuse/fs/fs_store.h says how they are kept).
#include <cstdio>

#include "fuse/fs/file_system.h"
#include "fuse/fs/volume_layout.h"

namespace sopfs {

const FsStore& FileSystem::StoreOf(uint32_t id) const {
  std::lock_guard lock(stores_mu_);
  auto it = stores_.find(id);
  if (it != stores_.end()) return it->second;
  static std::once_flag logged;
  std::call_once(logged, [id] {
    std::fprintf(stderr,
                 "sopfs: an inode names store %u, which the volume does not record; its "
                 "content is looked for in the root store (sopfs fsck checks the volume)\n",
                 id);
  });
  return stores_.at(0);
}

Result<TxnTree*> FileSystem::ChunksIn(Transaction& txn, const FsStore& store) {
  Result<TxnTree*> chunks = txn.Tree(store.chunk_tree, store.chunk_options());
  if (chunks.ok()) (*chunks)->CheckRanges(false);
  return chunks;
}

Result<uint32_t> FileSystem::RecordedStore(TxnTree& inodes, uint64_t ino) {
  Result<std::string> bytes = inodes.Find(InodeKey(ino));
  if (!bytes.ok()) {
    if (bytes.status().code() == ENOENT) return uint32_t{0};
    return bytes.status();
  }
  Result<InodeRecord> rec = InodeRecord::Decode(*bytes, ino);
  if (!rec.ok()) return rec.status();
  return rec->store;
}

Status FileSystem::MakeStore(const InodePtr& dir, std::string_view text, const Caller& c) {
  // The caller sees only the errno: the daemon's log says why.
  const auto refuse = [&](Status st) {
    std::fprintf(stderr, "sopfs: user.sopfs.store of inode %llu refused: %s\n",
                 static_cast<unsigned long long>(dir->ino), st.ToString().c_str());
    return st;
  };
  if (!S_ISDIR(dir->rec.mode)) {
    return refuse(Status::Error(ENOTDIR, "user.sopfs.store: only a directory can be a store"));
  }
  if (c.txn) {
    return refuse(
        Status::Error(EOPNOTSUPP, "user.sopfs.store: stores are made outside transactions"));
  }
  if (options_.read_only) return Status::Error(EROFS, "the volume is read-only");
  Result<StoreSpec> spec =
      ParseStoreSpec(text, chunk_size_, static_cast<int>(engine_->options().data_folders.size()));
  if (!spec.ok()) {
    return refuse(Status::Error(EINVAL, "user.sopfs.store: " + spec.status().message()));
  }
  Result<bool> empty = DirEmpty(c, dir->ino);
  if (!empty.ok()) return empty.status();
  if (!*empty) {
    return refuse(Status::Error(ENOTEMPTY,
                                "user.sopfs.store: the directory must be empty to become a store"));
  }
  // The store exists once this commits; the directory points at it with its next
  // namespace commit (a crash between leaves an unused, empty store).
  auto txn = engine_->Begin(TxnMode::kNoCheck);
  Result<FsStore> store = CreateStore(*txn, VolumeLayout::kVolumeTree, *spec, "");
  if (!store.ok()) return store.status();
  SOPFS_RETURN_IF_ERROR(txn->Commit());
  {
    std::lock_guard lock(stores_mu_);
    stores_[store->id] = *store;
  }
  dir->rec.store = store->id;
  dir->committed.store = store->id;
  dir->rec.ctime_ns = NowNs();
  MarkDirty(c, dir);
  std::fprintf(stderr, "sopfs: inode %llu is now store %u (%s)\n",
               static_cast<unsigned long long>(dir->ino), store->id, spec->ToString().c_str());
  return Status::Ok();
}

std::string FileSystem::StoreText(uint32_t id) const {
  const FsStore& store = StoreOf(id);
  StoreSpec spec{store.layout.value_or(ErasureLayout{options_.k, options_.m}), store.chunk_size,
                 store.folders};
  return spec.ToString();
}

}  // namespace sopfs
