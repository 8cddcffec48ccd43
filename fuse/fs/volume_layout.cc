#include "fuse/fs/volume_layout.h"

#include <sys/stat.h>

#include "engine/txn/transaction.h"
#include "fuse/fs/inode_record.h"
#include "streaming/chunk_file.h"

namespace sopfs {
namespace {

constexpr const char* kTreeKeys[] = {"inodes", "names", "chunks"};

std::string Encode64(uint64_t v) {
  std::string out;
  AppendBigEndian64(out, v);
  return out;
}

}  // namespace

Result<VolumeLayout> ReadVolumeLayout(Engine& engine) {
  auto txn = engine.Begin(TxnMode::kReader);
  Result<TxnTree*> volume = txn->Tree(VolumeLayout::kVolumeTree);
  if (!volume.ok()) return volume.status();
  VolumeLayout layout;
  LogicalId* ids[] = {&layout.inode_tree, &layout.names_tree, &layout.chunk_tree};
  for (int i = 0; i < 3; ++i) {
    Result<std::string> id = (*volume)->Find(kTreeKeys[i]);
    if (!id.ok()) {
      return Status::Error(EIO, std::string("volume holds no file system (no '") + kTreeKeys[i] +
                                    "' tree: " + id.status().message() + ")");
    }
    *ids[i] = ReadBigEndian64(*id);
  }
  Result<std::string> chunk = (*volume)->Find("chunk-size");
  if (!chunk.ok()) return Status::Error(EIO, "volume records no chunk size");
  layout.chunk_size = static_cast<uint32_t>(ReadBigEndian64(*chunk));
  if (layout.chunk_size == 0) return Status::Error(EIO, "volume records a chunk size of 0");
  Result<std::vector<FsStore>> stores = ReadStores(**volume);
  if (!stores.ok()) return stores.status();
  layout.stores = std::move(*stores);
  return layout;
}

Status CreateVolumeLayout(Engine& engine, uint32_t chunk_size, uint32_t uid, uint32_t gid) {
  auto txn = engine.Begin(TxnMode::kWriter);
  Result<LogicalId> volume_id = txn->CreateTree();
  if (!volume_id.ok()) return volume_id.status();
  if (*volume_id != VolumeLayout::kVolumeTree) {
    return Status::Error(EEXIST, "the volume's engine already holds trees");
  }
  Result<LogicalId> inodes = txn->CreateTree();
  if (!inodes.ok()) return inodes.status();
  Result<LogicalId> names = txn->CreateTree();
  if (!names.ok()) return names.status();
  Result<LogicalId> chunks = txn->CreateTree(ChunkFile::TreeOptions());
  if (!chunks.ok()) return chunks.status();
  Result<TxnTree*> volume = txn->Tree(*volume_id);
  if (!volume.ok()) return volume.status();
  const LogicalId ids[] = {*inodes, *names, *chunks};
  for (int i = 0; i < 3; ++i) {
    SOPFS_RETURN_IF_ERROR((*volume)->Add(kTreeKeys[i], Encode64(ids[i])));
  }
  SOPFS_RETURN_IF_ERROR((*volume)->Add("chunk-size", Encode64(chunk_size)));

  InodeRecord root;
  root.mode = S_IFDIR | 0755;
  root.uid = uid;
  root.gid = gid;
  root.nlink = 2;
  root.atime_ns = root.mtime_ns = root.ctime_ns = NowNs();
  Result<TxnTree*> inode_tree = txn->Tree(*inodes);
  if (!inode_tree.ok()) return inode_tree.status();
  SOPFS_RETURN_IF_ERROR((*inode_tree)->Add(InodeKey(1), root.Encode()));
  SOPFS_RETURN_IF_ERROR((*inode_tree)->Add(InodeKey(0), Encode64(2)));  // next inode number
  return txn->Commit();
}

std::vector<std::pair<LogicalId, BtreeOptions>> VolumeTrees(const VolumeLayout& layout) {
  std::vector<std::pair<LogicalId, BtreeOptions>> trees = {
      {VolumeLayout::kVolumeTree, BtreeOptions{}},
      {layout.inode_tree, BtreeOptions{}},
      {layout.names_tree, BtreeOptions{}},
      {layout.chunk_tree, ChunkFile::TreeOptions()}};
  for (const FsStore& store : layout.stores)
    trees.emplace_back(store.chunk_tree, store.chunk_options());
  return trees;
}

}  // namespace sopfs
