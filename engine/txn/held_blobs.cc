#include "engine/txn/held_blobs.h"

namespace sopfs {

bool HeldBlobs::Hold(const BlobId& id, ErasureLayout layout, std::string bytes, bool logged,
                     bool new_data) {
  std::lock_guard<std::mutex> lock(mu_);
  if ((!logged && bytes_ + bytes.size() > capacity_) || held_.count(id)) return false;
  bytes_ += bytes.size();
  if (logged) ++logged_;
  held_.emplace(
      id, Held{layout, std::make_shared<const std::string>(std::move(bytes)), logged, new_data});
  return true;
}

std::shared_ptr<const std::string> HeldBlobs::Find(const BlobId& id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = held_.find(id);
  return it == held_.end() ? nullptr : it->second.bytes;
}

std::optional<HeldBlobs::Blob> HeldBlobs::FindStaged(const BlobId& id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = held_.find(id);
  if (it == held_.end() || it->second.logged) return std::nullopt;
  return Blob{id, it->second.layout, it->second.bytes, it->second.new_data};
}

bool HeldBlobs::Contains(const BlobId& id) const {
  std::lock_guard<std::mutex> lock(mu_);
  return held_.count(id) != 0;
}

bool HeldBlobs::HasRoom(size_t bytes) const {
  std::lock_guard<std::mutex> lock(mu_);
  return bytes_ + bytes <= capacity_;
}

void HeldBlobs::MarkLogged(const std::vector<Blob>& blobs) {
  std::lock_guard<std::mutex> lock(mu_);
  for (const Blob& b : blobs) {
    auto it = held_.find(b.id);
    if (it == held_.end()) {
      bytes_ += b.bytes->size();
      it = held_.emplace(b.id, Held{b.layout, b.bytes, false, false}).first;
    }
    if (it->second.logged) continue;
    it->second.logged = true;
    ++logged_;
  }
}

bool HeldBlobs::Drop(const BlobId& id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = held_.find(id);
  if (it == held_.end()) return false;
  bytes_ -= it->second.bytes->size();
  if (it->second.logged) --logged_;
  held_.erase(it);
  return true;
}

bool HeldBlobs::DropStaged(const BlobId& id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = held_.find(id);
  if (it == held_.end() || it->second.logged) return false;
  bytes_ -= it->second.bytes->size();
  held_.erase(it);
  return true;
}

std::vector<HeldBlobs::Blob> HeldBlobs::Logged(size_t max_bytes) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<Blob> out;
  size_t total = 0;
  for (const auto& [id, held] : held_) {
    if (!held.logged) continue;
    if (!out.empty() && total + held.bytes->size() > max_bytes) break;
    out.push_back({id, held.layout, held.bytes});
    total += held.bytes->size();
  }
  return out;
}

size_t HeldBlobs::logged_count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return logged_;
}

size_t HeldBlobs::bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return bytes_;
}

}  // namespace sopfs
