// FileSystem: fallocate's mode 0 and FALLOC_FL_KEEP_SIZE. The room is promised through
// SpaceReserve (see space_reserve.h for what is promised and for how long); the range
// reads as zeros, as a hole always does.
#include <linux/falloc.h>

#include "fuse/fs/file_system.h"
#include "streaming/chunk_file.h"

namespace sopfs {

void FileSystem::ReleasePromisesOnStore(BufferedFile& content, uint64_t ino) {
  if (!reserve_) return;
  content.SetBeforeStore(
      [reserve = reserve_.get(), ino](uint64_t index) { reserve->Release(ino, index, index + 1); });
}

void FileSystem::ReleasePromisesOnCut(uint64_t ino, uint64_t before, uint64_t after) {
  if (!reserve_ || after >= before) return;
  reserve_->Release(ino, (after + chunk_size_ - 1) / chunk_size_);
}

uint64_t FileSystem::promised_chunks() const { return reserve_ ? reserve_->promised_chunks() : 0; }

Status FileSystem::Preallocate(uint64_t ino, BufferedFile& content, int mode, uint64_t offset,
                               uint64_t length) {
  if (!reserve_) return Status::Error(EOPNOTSUPP, "no room can be promised on this volume");
  if (length == 0 || offset + length < offset) return Status::Error(EINVAL, "bad range");
  if (offset + length > ChunkFile::kMaxFileSize) {
    return Status::Error(EFBIG, "past the largest file size (1 PiB)");
  }
  // The chunks of the range that hold no data: they need room when written. (Chunks
  // with data are rewritten copy-on-write, from the common pool.)
  const uint64_t cs = chunk_size_;
  const uint64_t end = offset / cs + (offset % cs + length + cs - 1) / cs;
  std::vector<std::pair<uint64_t, uint64_t>> holes;  // runs of chunks [first, end)
  for (uint64_t i = offset / cs; i < end;) {
    Result<uint64_t> data = content.Seek(i * cs, /*want_data=*/true);
    if (!data.ok() && data.status().code() != ENXIO) return data.status();
    const uint64_t data_chunk = data.ok() ? std::min(end, *data / cs) : end;
    if (i < data_chunk) holes.emplace_back(i, data_chunk);
    i = std::max(i, data_chunk);
    if (i >= end) break;
    Result<uint64_t> hole = content.Seek(i * cs, /*want_data=*/false);
    if (!hole.ok()) return hole.status();
    i = std::max(i + 1, (*hole + cs - 1) / cs);
  }
  // Grown first, so that a failed promise is undone by cutting back, without touching
  // what earlier calls promised.
  const uint64_t old_size = content.size();
  const bool grow = !(mode & FALLOC_FL_KEEP_SIZE) && offset + length > old_size;
  if (grow) SOPFS_RETURN_IF_ERROR(content.Truncate(offset + length));
  Status st = reserve_->Promise(ino, holes);
  if (!st.ok() && grow) (void)content.Truncate(old_size);
  return st;
}

}  // namespace sopfs
