#include "fuse/fs/file_system_format.h"

#include <sys/stat.h>

#include "engine/io/posix_env.h"
#include "engine/txn/engine.h"
#include "engine/txn/transaction.h"
#include "fuse/fs/inode_record.h"
#include "fuse/fs/volume_layout.h"

namespace sopfs {
namespace {

// The store's directory under the root, its store made in the same commit.
Status CreateStoreDirectory(Engine& engine, const NamedStore& named, uint32_t uid, uint32_t gid) {
  Result<VolumeLayout> layout = ReadVolumeLayout(engine);
  if (!layout.ok()) return layout.status();
  auto txn = engine.Begin(TxnMode::kWriter);
  Result<FsStore> store = CreateStore(*txn, VolumeLayout::kVolumeTree, named.spec, named.name);
  if (!store.ok()) return store.status();
  Result<TxnTree*> inodes = txn->Tree(layout->inode_tree);
  if (!inodes.ok()) return inodes.status();
  Result<TxnTree*> names = txn->Tree(layout->names_tree);
  if (!names.ok()) return names.status();
  Result<std::string> next = (*inodes)->Find(InodeKey(0));
  if (!next.ok()) return next.status();
  const uint64_t ino = ReadBigEndian64(*next);
  std::string counter;
  AppendBigEndian64(counter, ino + 1);
  SOPFS_RETURN_IF_ERROR((*inodes)->Upsert(InodeKey(0), counter));
  InodeRecord dir;
  dir.mode = S_IFDIR | 0755;
  dir.uid = uid;
  dir.gid = gid;
  dir.nlink = 2;
  dir.store = store->id;
  dir.atime_ns = dir.mtime_ns = dir.ctime_ns = NowNs();
  SOPFS_RETURN_IF_ERROR((*inodes)->Add(InodeKey(ino), dir.Encode()));
  Status named_ok = (*names)->Add(DirEntryKey(1, named.name), EncodeNameEntry({ino, S_IFDIR}));
  if (named_ok.code() == EEXIST) {
    return Status::Error(EEXIST, "store '" + named.name + "' is given twice");
  }
  SOPFS_RETURN_IF_ERROR(named_ok);
  Result<std::string> root_bytes = (*inodes)->Find(InodeKey(1));
  if (!root_bytes.ok()) return root_bytes.status();
  Result<InodeRecord> root = InodeRecord::Decode(*root_bytes, 1);
  if (!root.ok()) return root.status();
  ++root->nlink;
  SOPFS_RETURN_IF_ERROR((*inodes)->Update(InodeKey(1), root->Encode()));
  return txn->Commit();
}

}  // namespace

Status FormatFileSystem(const VolumeConfig& volume, uint32_t uid, uint32_t gid,
                        std::span<const NamedStore> stores) {
  PosixEnv env;
  Result<std::unique_ptr<Engine>> engine = Engine::Open(&env, EngineOptionsFor(volume));
  if (!engine.ok()) return engine.status();
  SOPFS_RETURN_IF_ERROR(CreateVolumeLayout(**engine, volume.chunk_size, uid, gid));
  for (const NamedStore& store : stores) {
    SOPFS_RETURN_IF_ERROR(CreateStoreDirectory(**engine, store, uid, gid));
  }
  return Status::Ok();
}

}  // namespace sopfs
