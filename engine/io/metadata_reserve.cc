#include "engine/io/metadata_reserve.h"

#include <algorithm>
#include <cstdio>
#include <set>

namespace sopfs {

Result<std::unique_ptr<MetadataReserve>> MetadataReserve::Open(
    Env* env, const std::vector<std::string>& folders, uint64_t bytes) {
  std::unique_ptr<MetadataReserve> reserve(new MetadataReserve(env, bytes));
  if (bytes == 0) return reserve;
  std::set<uint64_t> devices;
  for (const std::string& folder : folders) {
    Result<FsStats> st = env->StatFs(folder);
    if (!st.ok() || !devices.insert(st->device).second) continue;
    OpenOptions options;
    options.mode = OpenMode::kCreate;
    Result<std::unique_ptr<File>> file = env->Open(folder + "/" + kFileName, options);
    if (!file.ok()) {
      std::fprintf(stderr, "sopfs: no metadata reserve in %s: %s\n", folder.c_str(),
                   file.status().ToString().c_str());
      continue;
    }
    Result<uint64_t> size = (*file)->Size();
    if (size.ok() && *size > bytes && (*file)->Truncate(bytes).ok()) *size = bytes;
    Slot slot{folder, std::move(*file), size.ok() ? std::min(*size, bytes) : 0};
    reserve->files_.push_back(std::move(slot));
  }
  reserve->full_ = reserve->held() == reserve->target();
  return reserve;
}

uint64_t MetadataReserve::held() const {
  std::lock_guard lock(mu_);
  uint64_t sum = 0;
  for (const Slot& s : files_) sum += s.held;
  return sum;
}

Status MetadataReserve::RoomForDeletions() const {
  constexpr uint64_t kRoomForDeletions = uint64_t{4} << 20;
  if (files_.empty() || held() > 0) return Status::Ok();
  for (const Slot& s : files_) {
    Result<FsStats> st = env_->StatFs(s.folder);
    if (st.ok() && st->free_bytes < kRoomForDeletions) {
      return Status::Error(ENOSPC, "the disk under " + s.folder + " is full (" +
                                       std::to_string(st->free_bytes >> 10) +
                                       " KiB free) and the volume's metadata reserve is used "
                                       "up, so not even deletions could commit; free room on "
                                       "that disk and mount again for writes");
    }
  }
  return Status::Ok();
}

bool MetadataReserve::Full() {
  if (full_.load(std::memory_order_acquire)) return true;
  std::lock_guard lock(mu_);
  return RefillLocked();
}

bool MetadataReserve::RefillLocked() {
  bool all = true;
  for (Slot& s : files_) {
    if (s.held >= bytes_) continue;
    const uint64_t need = bytes_ - s.held;
    Result<FsStats> st = env_->StatFs(s.folder);
    // Refilled only with room to spare, so that the next write does not take it back.
    if (!st.ok() || st->free_bytes < need + need / 4 || !s.file->Allocate(0, bytes_).ok()) {
      all = false;
      continue;
    }
    if (s.file->Sync(true) != 0) {
      all = false;
      continue;
    }
    s.held = bytes_;
    if (!s.released) continue;
    s.released = false;
    std::fprintf(stderr, "sopfs: the metadata reserve in %s is whole again (%llu MiB)\n",
                 s.folder.c_str(), static_cast<unsigned long long>(bytes_ >> 20));
  }
  full_.store(all, std::memory_order_release);
  return all;
}

bool MetadataReserve::Release() {
  std::lock_guard lock(mu_);
  bool gave = false;
  for (Slot& s : files_) {
    if (s.held == 0) continue;
    Status st = s.file->Truncate(0);
    if (!st.ok()) {
      std::fprintf(stderr, "sopfs: the metadata reserve in %s could not be given back: %s\n",
                   s.folder.c_str(), st.ToString().c_str());
      continue;
    }
    std::fprintf(stderr,
                 "sopfs: the disk under %s is full: its %llu MiB metadata reserve is in use; "
                 "new data is refused (ENOSPC) until deletions free room\n",
                 s.folder.c_str(), static_cast<unsigned long long>(s.held >> 20));
    s.held = 0;
    s.released = true;
    gave = true;
  }
  if (gave) full_.store(false, std::memory_order_release);
  return gave;
}

}  // namespace sopfs
