#include "tools/bench/bench_mount_volume.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <utility>
#include <vector>

#include "engine/registry/registry.h"
#include "engine/txn/commit_log.h"
#include "engine/txn/txn_record.h"
#include "fuse/volume/volume_config.h"

namespace sopfs::tools {
namespace {

using Clock = std::chrono::steady_clock;
constexpr uint64_t kFilesPerFolder = 1000;
constexpr uint64_t kFilesPerCommit = 20000;

std::string Numbered(const char* prefix, uint64_t n, int width) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%s%0*llu", prefix, width, static_cast<unsigned long long>(n));
  return buf;
}

}  // namespace

OpenVolume::~OpenVolume() {
  if (fs != nullptr) {
    if (Status st = fs->Sync(); !st.ok()) {
      std::fprintf(stderr, "sopfs bench mount: closing the file system: %s\n",
                   st.ToString().c_str());
    }
  }
  fs.reset();
  engine.reset();
}

Result<std::unique_ptr<OpenVolume>> OpenVolumeHere(const std::string& dir,
                                                   bool checkpoint_on_close) {
  Result<VolumeConfig> config = ReadVolumeConfig(dir);
  if (!config.ok()) return config.status();
  auto volume = std::make_unique<OpenVolume>();
  EngineOptions options = EngineOptionsFor(*config);
  options.checkpoint_on_close = checkpoint_on_close;
  Clock::time_point start = Clock::now();
  Result<std::unique_ptr<Engine>> engine = Engine::Open(&volume->env, options);
  if (!engine.ok()) return engine.status();
  volume->engine = std::move(*engine);
  volume->engine_open = Clock::now() - start;
  // As the daemon opens it (fuse/kernel/daemon.cc), without a kernel to tell.
  FileSystemOptions fs_options;
  fs_options.data_folders = config->data_folders;
  fs_options.k = config->layout.k;
  fs_options.m = config->layout.m;
  fs_options.env = &volume->env;
  fs_options.journal_dirs = {config->log_folder + "/close-journal",
                             config->registry_b + "/close-journal"};
  fs_options.commit_interval = std::chrono::milliseconds(3600 * 1000);  // Sync commits
  start = Clock::now();
  Result<std::unique_ptr<FileSystem>> fs = FileSystem::Open(volume->engine.get(), fs_options);
  if (!fs.ok()) return fs.status();
  volume->fs = std::move(*fs);
  volume->fs_open = Clock::now() - start;
  return volume;
}

Status FillFiles(const std::string& dir, uint64_t files,
                 const std::function<void(uint64_t)>& progress) {
  Result<std::unique_ptr<OpenVolume>> volume = OpenVolumeHere(dir);
  if (!volume.ok()) return volume.status();
  FileSystem& fs = *(*volume)->fs;
  const Caller caller{.uid = getuid(), .gid = getgid()};
  uint64_t folder = 0;
  for (uint64_t i = 0; i < files; ++i) {
    if (i % kFilesPerFolder == 0) {
      Result<struct stat> made = fs.MakeNode(
          FileSystem::kRootIno, Numbered("d", i / kFilesPerFolder, 4), S_IFDIR | 0755, 0, caller);
      if (!made.ok()) return made.status();
      folder = made->st_ino;
      fs.Forget(folder, 1);
    }
    Result<struct stat> made = fs.MakeNode(folder, Numbered("f", i, 7), S_IFREG | 0644, 0, caller);
    if (!made.ok()) return made.status();
    fs.Forget(made->st_ino, 1);
    if ((i + 1) % kFilesPerCommit == 0) {
      SOPFS_RETURN_IF_ERROR(fs.Sync());
      progress(i + 1);
    }
  }
  SOPFS_RETURN_IF_ERROR(fs.Sync());
  progress(files);
  return Status::Ok();
}

Result<uint64_t> GrowRegistry(const std::string& dir, uint64_t ids,
                              const std::function<void(uint64_t)>& progress) {
  Result<VolumeConfig> config = ReadVolumeConfig(dir);
  if (!config.ok()) return config.status();
  PosixEnv env;
  // The high-water mark is in the log's carry record (a volume closed cleanly has a
  // log of the carry and what a checkpoint carries beside it).
  Result<std::unique_ptr<CommitLog>> log = CommitLog::Open(&env, config->log_folder);
  if (!log.ok()) return log.status();
  std::vector<std::string> records;
  size_t carry_at = SIZE_MAX;
  LogicalId next_id = 0;
  for (const CommitRecord& raw : (*log)->recovered()) {
    Result<TxnRecord> rec = TxnRecord::Decode(raw.payload);
    if (!rec.ok()) return rec.status();
    if (rec->kind == TxnRecord::Kind::kCommit || rec->kind == TxnRecord::Kind::kPrepare) {
      return Status::Error(EINVAL, "the volume was not closed cleanly (its log holds commits)");
    }
    if (rec->kind == TxnRecord::Kind::kCarry) {
      carry_at = records.size();
      next_id = rec->next_id;
    }
    records.push_back(raw.payload);
  }
  if (carry_at == SIZE_MAX) return Status::Error(EINVAL, "the volume's log has no carry record");
  if (next_id > ids) return next_id - 1;
  Result<std::unique_ptr<Registry>> registry =
      Registry::Open(&env, config->registry_a, config->registry_b);
  if (!registry.ok()) return registry.status();
  // A batch of whole blocks at a time: each Apply writes both sides and flushes them.
  constexpr uint64_t kBatch = RegistryBlock::kEntriesPerBlock * 2048;
  std::vector<std::pair<LogicalId, RegistryEntry>> batch;
  batch.reserve(kBatch);
  for (LogicalId id = next_id; id <= ids;) {
    batch.clear();
    for (; id <= ids && batch.size() < kBatch; ++id) {
      // A chunk's value blob, as a commit would record it (engine_commit.cc).
      batch.emplace_back(
          id, RegistryEntry{BlobId{0x5eed000000000000ULL | (id >> 32), id * 2654435761u}, 1,
                            RegistryEntry::kInUse});
    }
    SOPFS_RETURN_IF_ERROR((*registry)->Apply(batch));
    progress(id - 1);
  }
  TxnRecord carry = *TxnRecord::Decode(records[carry_at]);
  carry.next_id = ids + 1;
  records[carry_at] = carry.Encode();
  SOPFS_RETURN_IF_ERROR((*log)->Reset(records));
  return ids;
}

Result<CarriedCounts> ReadCarriedCounts(const std::string& dir) {
  Result<VolumeConfig> config = ReadVolumeConfig(dir);
  if (!config.ok()) return config.status();
  PosixEnv env;
  CommitLogOptions options;
  options.read_only = true;
  Result<std::unique_ptr<CommitLog>> log = CommitLog::Open(&env, config->log_folder, options);
  if (!log.ok()) return log.status();
  CarriedCounts counts;
  for (const CommitRecord& raw : (*log)->recovered()) {
    Result<TxnRecord> rec = TxnRecord::Decode(raw.payload);
    if (!rec.ok()) return rec.status();
    if (rec->kind != TxnRecord::Kind::kSegmentRefs) continue;
    counts.segments += rec->segment_refs.size();
    counts.bytes += raw.payload.size();
  }
  return counts;
}

}  // namespace sopfs::tools
