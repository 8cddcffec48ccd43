// FileSystem: opening a volume's file system, the committer thread, statfs. The
// calls live by concept in file_system_*.cc (see fuse/fs/file_system.h).
#include "fuse/fs/file_system.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <malloc.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <utility>

#include "fuse/fs/fs_txn.h"
#include "fuse/fs/set_id_bits.h"
#include "fuse/fs/volume_layout.h"

namespace sopfs {

FileSystem::FileSystem(Engine* engine, FileSystemOptions options)
    : engine_(engine), options_(std::move(options)) {}

Result<std::unique_ptr<FileSystem>> FileSystem::Open(Engine* engine, FileSystemOptions options) {
  std::unique_ptr<FileSystem> fs(new FileSystem(engine, std::move(options)));
  SOPFS_RETURN_IF_ERROR(fs->LoadVolume());
  if (fs->options_.read_only) return fs;
  fs->committer_ = std::thread([f = fs.get()] { f->CommitterLoop(); });
  return fs;
}

FileSystem::~FileSystem() {
  {
    std::lock_guard lock(committer_mu_);
    stopping_ = true;
  }
  committer_cv_.notify_all();
  if (committer_.joinable()) committer_.join();
  read_ahead_.reset();
  // Content transactions still open roll back when their Inode goes.
  std::lock_guard lock(mu_);
  inodes_.clear();
}

Status FileSystem::LoadVolume() {
  Result<VolumeLayout> layout = ReadVolumeLayout(*engine_);
  if (!layout.ok()) return layout.status();
  inode_tree_ = layout->inode_tree;
  names_tree_ = layout->names_tree;
  chunk_tree_ = layout->chunk_tree;
  chunk_size_ = layout->chunk_size;
  {
    std::lock_guard lock(stores_mu_);
    stores_[0] = FsStore{.id = 0, .chunk_tree = chunk_tree_, .chunk_size = chunk_size_};
    for (const FsStore& store : layout->stores) stores_[store.id] = store;
  }
  auto txn = engine_->Begin(TxnMode::kReader);
  Result<TxnTree*> inodes = txn->Tree(inode_tree_);
  if (!inodes.ok()) return inodes.status();
  Result<std::string> next = (*inodes)->Find(InodeKey(0));
  if (!next.ok()) return next.status();
  next_ino_ = committed_next_ino_ = ReadBigEndian64(*next);
  // A transaction's commit stores inodes numbered past the stored counter (the shared
  // state writes the counter with its next commit): never hand those numbers out again.
  auto last = (*inodes)->NewCursor();
  SOPFS_RETURN_IF_ERROR(last->SeekForPrev(OrphanPrefix()));
  if (last->Valid() && last->key().size() == 8) {
    next_ino_ = std::max(next_ino_, ReadBigEndian64(last->key()) + 1);
  }
  read_ahead_ = std::make_unique<ReadAhead>(engine_);
  if (options_.env != nullptr) {
    Result<std::unique_ptr<SpaceReserve>> reserve =
        SpaceReserve::Open(options_.env, options_.data_folders, options_.k, chunk_size_);
    if (!reserve.ok()) return reserve.status();
    reserve_ = std::move(*reserve);
  }
  SOPFS_RETURN_IF_ERROR(ReplayJournal());
  SOPFS_RETURN_IF_ERROR(ReplayIntents());
  return options_.read_only ? Status::Ok() : DeleteOrphans();
}

void FileSystem::CommitterLoop() {
  std::unique_lock lock(committer_mu_);
  while (!stopping_) {
    // While freed blobs wait for snapshots to end, look every 100 ms (a cheap check)
    // rather than a commit interval later: rm must give the room back soon.
    const auto wait = frees_to_chase_ == 0
                          ? options_.commit_interval
                          : std::min<std::chrono::milliseconds>(options_.commit_interval,
                                                                std::chrono::milliseconds(100));
    committer_cv_.wait_for(lock, wait,
                           [&] { return stopping_ || commit_soon_ || !to_invalidate_.empty(); });
    if (stopping_) break;
    commit_soon_ = false;
    bool checkpoint = std::exchange(checkpoint_wanted_, false);
    std::vector<uint64_t> stale = std::exchange(to_invalidate_, {});
    lock.unlock();
    if (options_.invalidate) {
      for (uint64_t ino : stale) options_.invalidate(ino);
    }
    (void)FoldIntents(/*force=*/false);  // when the log is big or old enough
    (void)CommitNamespace();             // a failure is logged, and retried next time
    // What the commit freed (small contents, their shards) goes back to the system
    // rather than staying in malloc's arenas, so the daemon's RSS follows what it holds.
    malloc_trim(0);
    {
      // A commit that deleted files wants its blobs removed now (a checkpoint).
      std::lock_guard again(committer_mu_);
      checkpoint = std::exchange(checkpoint_wanted_, false) || checkpoint;
    }
    const bool chase = frees_to_chase_ != 0 && engine_->frees_removable(frees_to_chase_);
    if (checkpoint || chase) {
      Status st = engine_->Checkpoint();
      if (!st.ok()) std::fprintf(stderr, "sopfs: checkpoint failed: %s\n", st.ToString().c_str());
      // Chase only what a wanted checkpoint kept: every frees_to_chase_ of a chase's
      // own checkpoint was removable, and what it kept is ordinary garbage.
      frees_to_chase_ = checkpoint && st.ok() ? engine_->held_frees_seq() : 0;
    }
    lock.lock();
  }
}

FileSystem::MemoryCounts FileSystem::memory_counts() {
  std::lock_guard lock(mu_);
  return {inodes_.size(), parked_lookups_.size(), small_bytes_};
}

void FileSystem::WantCheckpoint() {
  std::lock_guard lock(committer_mu_);
  checkpoint_wanted_ = true;
}

Result<struct statvfs> FileSystem::StatFs() {
  // Every blob puts one shard (1/k of it) in each data folder, so a device holding n of
  // the folders fills n shards per blob: it has room for free * k / n bytes of files.
  // Folders on one device (all of them on one disk, say) are counted together.
  struct Device {
    uint64_t total = 0, free = 0, avail = 0;
    int folders = 0;
  };
  std::map<dev_t, Device> devices;
  for (const std::string& folder : options_.data_folders) {
    struct statvfs st;
    struct stat where;
    if (statvfs(folder.c_str(), &st) != 0 || stat(folder.c_str(), &where) != 0) {
      continue;  // a lost folder: redundancy covers it
    }
    Device& d = devices[where.st_dev];
    d.total = uint64_t{st.f_blocks} * st.f_frsize;
    d.free = uint64_t{st.f_bfree} * st.f_frsize;
    d.avail = uint64_t{st.f_bavail} * st.f_frsize;
    ++d.folders;
  }
  // Room the metadata reserve gave away is not available: it is taken back first, and
  // new data is refused until it can be (with a quarter to spare).
  const uint64_t deficit = engine_->reserve_target() - engine_->reserve_held();
  for (auto& [dev, d] : devices) {
    d.free = d.free > deficit ? d.free - deficit : 0;
    d.avail = d.avail >= deficit + deficit / 4 ? d.avail - deficit : 0;
  }
  if (devices.empty()) return Status::Error(EIO, "no data folder is reachable");
  // Each folder holds a (k+m)/N share of every blob's shards: the room of the fullest
  // folder's share, times N folders, times k data shards in k+m (the root store's).
  uint64_t total = UINT64_MAX, free = UINT64_MAX, avail = UINT64_MAX;
  const uint64_t k = static_cast<uint64_t>(options_.k);
  const uint64_t n = options_.data_folders.size();
  const uint64_t per_blob = static_cast<uint64_t>(options_.k + options_.m);
  auto usable = [&](uint64_t per_folder) {
    return per_folder / per_blob * n * k + per_folder % per_blob * n * k / per_blob;
  };
  for (const auto& [dev, d] : devices) {
    total = std::min(total, usable(d.total / d.folders));
    free = std::min(free, usable(d.free / d.folders));
    avail = std::min(avail, usable(d.avail / d.folders));
  }
  struct statvfs out {};
  const uint64_t block = 4096;
  out.f_bsize = out.f_frsize = block;
  out.f_blocks = total / block;
  out.f_bfree = free / block;
  out.f_bavail = avail / block;
  out.f_files = UINT32_MAX;
  {
    std::lock_guard lock(mu_);
    out.f_ffree = UINT32_MAX - std::min<uint64_t>(UINT32_MAX, next_ino_);
  }
  out.f_favail = out.f_ffree;
  out.f_namemax = kMaxNameLength;
  return out;
}

}  // namespace sopfs
