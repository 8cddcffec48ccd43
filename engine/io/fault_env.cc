// FaultEnv: the in-memory tree, its durability model, and the fault plan.
#include "engine/io/fault_env.h"

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace sopfs {

struct FaultEnv::Inode {
  using Table = std::map<std::string, std::shared_ptr<Inode>>;

  explicit Inode(bool dir) : is_dir(dir) {}

  const bool is_dir;
  std::vector<uint8_t> current;  // files: what reads see
  std::vector<uint8_t> durable;  // files: what survives Crash()
  Table entries;                 // directories: what lookups see
  Table durable_entries;         // directories: what survives Crash()
  // Files: how many current entry tables name it; its bytes count toward the
  // capacity while it has a name.
  int links = 0;
  bool vanished = false;  // removed by VanishFolder; open Files get ENOENT
};

// Where a path leads in the current namespace.
struct FaultEnv::Located {
  std::shared_ptr<Inode> parent;  // null for "/"
  std::string name;               // last component; empty for "/"
  std::shared_ptr<Inode> node;    // null if the name does not exist (yet)
  std::string canonical;          // "/a/b", without duplicate or trailing slashes
};

namespace {

Status Failure(int err, const char* what, const std::string& path) {
  return Status::Error(err, std::string(what) + " " + path);
}

// Splits an absolute path into its names. "." and ".." are refused: PosixEnv would
// resolve them, and no sopfs caller should build such paths.
bool SplitPath(const std::string& path, std::vector<std::string>* names) {
  if (path.empty() || path[0] != '/') return false;
  size_t pos = 0;
  while (pos < path.size()) {
    size_t end = path.find('/', pos);
    if (end == std::string::npos) end = path.size();
    if (end > pos) {
      std::string name = path.substr(pos, end - pos);
      if (name == "." || name == "..") return false;
      names->push_back(std::move(name));
    }
    pos = end + 1;
  }
  return true;
}

// "/vol/data0/" and "/vol/data0" name the same folder.
std::string FolderKey(std::string prefix) {
  while (prefix.size() > 1 && prefix.back() == '/') prefix.pop_back();
  return prefix;
}

size_t TotalLength(const iovec* iov, int iovcnt) {
  size_t n = 0;
  for (int i = 0; i < iovcnt; ++i) n += iov[i].iov_len;
  return n;
}

}  // namespace

// One open handle. It pins its inode, so an unlinked file stays readable through it,
// as on POSIX; faults are checked against the path it was opened with.
class FaultFile : public File {
 public:
  FaultFile(FaultEnv* env, std::string path, std::shared_ptr<FaultEnv::Inode> node, bool writable,
            uint64_t generation)
      : File(std::move(path)),
        env_(env),
        node_(std::move(node)),
        writable_(writable),
        generation_(generation) {}

  Result<uint64_t> Size() const override {
    std::lock_guard<std::mutex> lock(env_->tree_mu_);
    int err = env_->QuietFaultLocked(path());
    if (err == 0) err = HandleFaultLocked();
    if (err == 0 && node_->is_dir) err = EISDIR;
    if (err != 0) return Failure(err, "size of", path());
    return static_cast<uint64_t>(node_->current.size());
  }

  Status Truncate(uint64_t length) override {
    std::lock_guard<std::mutex> lock(env_->tree_mu_);
    int err = StartOpLocked(nullptr);
    if (err == 0 && node_->is_dir) err = EISDIR;
    if (err == 0 && !writable_) err = EBADF;
    if (err == 0) err = env_->ResizeLocked(*node_, length);
    if (err != 0) return Failure(err, "truncate", path());
    return Status::Ok();
  }

  // Bytes here are always stored, so allocating is growing (charged to the capacity).
  Status Allocate(uint64_t offset, uint64_t length) override {
    std::lock_guard<std::mutex> lock(env_->tree_mu_);
    int err = StartOpLocked(nullptr);
    if (err == 0 && node_->is_dir) err = EISDIR;
    if (err == 0 && !writable_) err = EBADF;
    if (err == 0 && offset + length > node_->current.size()) {
      err = env_->ResizeLocked(*node_, offset + length);
    }
    if (err != 0) return Failure(err, "allocate", path());
    return Status::Ok();
  }

  Status Advise(Advice, uint64_t, uint64_t) override { return Status::Ok(); }

  int64_t ReadV(uint64_t offset, const iovec* iov, int iovcnt) override {
    std::lock_guard<std::mutex> lock(env_->tree_mu_);
    if (int err = StartOpLocked(nullptr)) return -err;
    if (node_->is_dir) return -EISDIR;
    const std::vector<uint8_t>& data = node_->current;
    uint64_t pos = offset;
    for (int i = 0; i < iovcnt && pos < data.size(); ++i) {
      size_t n = std::min<uint64_t>(iov[i].iov_len, data.size() - pos);
      std::memcpy(iov[i].iov_base, data.data() + pos, n);
      pos += n;
    }
    return static_cast<int64_t>(pos > offset ? pos - offset : 0);
  }

  int64_t WriteV(uint64_t offset, const iovec* iov, int iovcnt) override {
    std::lock_guard<std::mutex> lock(env_->tree_mu_);
    uint64_t number = 0;
    if (int err = StartOpLocked(&number)) return -err;
    if (node_->is_dir) return -EISDIR;
    if (!writable_) return -EBADF;
    size_t length = TotalLength(iov, iovcnt);
    if (env_->short_write_ops_.erase(number) > 0) length /= 2;
    if (length == 0) return 0;
    if (length > UINT64_MAX - offset) return -EFBIG;
    std::vector<uint8_t>& data = node_->current;
    if (offset + length > data.size()) {
      if (int err = env_->ResizeLocked(*node_, offset + length)) return -err;
    }
    size_t done = 0;
    for (int i = 0; i < iovcnt && done < length; ++i) {
      size_t n = std::min(iov[i].iov_len, length - done);
      std::memcpy(data.data() + offset + done, iov[i].iov_base, n);
      done += n;
    }
    if (env_->flip_bit_ops_.erase(number) > 0) data[offset + length / 2] ^= 0x10;
    return static_cast<int64_t>(length);
  }

  int Sync(bool /*data_only*/) override {
    std::lock_guard<std::mutex> lock(env_->tree_mu_);
    if (int err = StartOpLocked(nullptr)) {
      // As on Linux after a failed writeback ("fsyncgate"), the unflushed bytes are
      // gone: a later fsync that succeeds must not make them durable after all.
      if (!node_->is_dir && !env_->dead_ && node_->current != node_->durable) {
        (void)env_->ResizeLocked(*node_, node_->durable.size());
        node_->current = node_->durable;
      }
      return -err;
    }
    // A directory flush makes only its own entry table durable, not its children's.
    if (node_->is_dir) {
      node_->durable_entries = node_->entries;
    } else {
      node_->durable = node_->current;
    }
    return 0;
  }

 private:
  // The errno this handle gets whatever the fault plan says, or 0.
  int HandleFaultLocked() const {
    if (generation_ != env_->generation_) return EIO;  // opened by the "dead" process
    if (node_->vanished) return ENOENT;
    return 0;
  }

  int StartOpLocked(uint64_t* number) {
    int err = env_->StartOpLocked(number, path());
    return err != 0 ? err : HandleFaultLocked();
  }

  FaultEnv* const env_;
  const std::shared_ptr<FaultEnv::Inode> node_;
  const bool writable_;
  const uint64_t generation_;
};

FaultEnv::FaultEnv() : root_(std::make_shared<Inode>(/*dir=*/true)) {}

FaultEnv::~FaultEnv() = default;

// ---- Bookkeeping ------------------------------------------------------------------

int FaultEnv::StartOpLocked(uint64_t* number, const std::string& path, const std::string* path2) {
  const uint64_t n = next_op_++;
  if (number != nullptr) *number = n;
  if (n >= crash_at_op_) dead_ = true;
  if (dead_) return EIO;
  if (auto it = fail_ops_.find(n); it != fail_ops_.end()) {
    int err = it->second;
    fail_ops_.erase(it);
    return err;
  }
  int err = FolderFaultLocked(path);
  if (err == 0 && path2 != nullptr) err = FolderFaultLocked(*path2);
  return err;
}

int FaultEnv::FolderFaultLocked(const std::string& path) const {
  for (const auto& [prefix, err] : failed_folders_) {
    if (prefix == "/" || path == prefix ||
        (path.size() > prefix.size() && path.compare(0, prefix.size(), prefix) == 0 &&
         path[prefix.size()] == '/')) {
      return err;
    }
  }
  return 0;
}

int FaultEnv::QuietFaultLocked(const std::string& path) const {
  return dead_ ? EIO : FolderFaultLocked(path);
}

Result<FaultEnv::Located> FaultEnv::LocateLocked(const std::string& path) const {
  std::vector<std::string> names;
  if (!SplitPath(path, &names)) return Failure(EINVAL, "bad path", path);
  Located loc;
  loc.node = root_;
  for (size_t i = 0; i < names.size(); ++i) {
    if (!loc.node) return Failure(ENOENT, "no such directory in", path);
    if (!loc.node->is_dir) return Failure(ENOTDIR, "not a directory in", path);
    loc.parent = loc.node;
    loc.name = names[i];
    auto it = loc.parent->entries.find(names[i]);
    loc.node = it == loc.parent->entries.end() ? nullptr : it->second;
    loc.canonical += "/" + names[i];
  }
  // push_back, not = "/": GCC 12 at -O2 warns wrongly (-Wrestrict) on the assignment.
  if (loc.canonical.empty()) loc.canonical.push_back('/');
  return loc;
}

void FaultEnv::UnlinkInodeLocked(Inode& node) {
  if (node.is_dir || node.links == 0) return;
  if (--node.links == 0) used_bytes_ -= node.current.size();
}

int FaultEnv::ResizeLocked(Inode& file, uint64_t size) {
  const uint64_t old_size = file.current.size();
  if (size > old_size && used_bytes_ + (size - old_size) > capacity_) return ENOSPC;
  if (file.links > 0) used_bytes_ = used_bytes_ - old_size + size;
  file.current.resize(size);  // zero-fills a gap
  return 0;
}

// ---- Env --------------------------------------------------------------------------

Result<std::unique_ptr<File>> FaultEnv::Open(const std::string& path, OpenOptions options) {
  std::lock_guard<std::mutex> lock(tree_mu_);
  if (int err = StartOpLocked(nullptr, path)) return Failure(err, "open", path);
  auto loc = LocateLocked(path);
  if (!loc.ok()) return loc.status();
  std::shared_ptr<Inode> node = loc->node;
  const OpenMode mode = options.mode;
  if (mode == OpenMode::kDirectory) {
    if (!node) return Failure(ENOENT, "open directory", path);
    if (!node->is_dir) return Failure(ENOTDIR, "open directory", path);
  } else if (node) {
    if (mode == OpenMode::kCreateExclusive) return Failure(EEXIST, "create", path);
    if (node->is_dir) return Failure(EISDIR, "open", path);
    if (mode == OpenMode::kCreateTruncate) ResizeLocked(*node, 0);  // shrinking cannot fail
  } else {
    if (mode == OpenMode::kRead || mode == OpenMode::kReadWrite) {
      return Failure(ENOENT, "open", path);
    }
    node = std::make_shared<Inode>(/*dir=*/false);
    node->links = 1;
    loc->parent->entries[loc->name] = node;
  }
  const bool writable = mode != OpenMode::kRead && mode != OpenMode::kDirectory;
  return std::unique_ptr<File>(
      std::make_unique<FaultFile>(this, path, std::move(node), writable, generation_));
}

Status FaultEnv::MkDir(const std::string& path) {
  std::lock_guard<std::mutex> lock(tree_mu_);
  if (int err = StartOpLocked(nullptr, path)) return Failure(err, "mkdir", path);
  auto loc = LocateLocked(path);
  if (!loc.ok()) return loc.status();
  if (loc->node) return Failure(EEXIST, "mkdir", path);
  loc->parent->entries[loc->name] = std::make_shared<Inode>(/*dir=*/true);
  return Status::Ok();
}

Status FaultEnv::RmDir(const std::string& path) {
  std::lock_guard<std::mutex> lock(tree_mu_);
  if (int err = StartOpLocked(nullptr, path)) return Failure(err, "rmdir", path);
  auto loc = LocateLocked(path);
  if (!loc.ok()) return loc.status();
  if (!loc->node) return Failure(ENOENT, "rmdir", path);
  if (!loc->node->is_dir) return Failure(ENOTDIR, "rmdir", path);
  if (!loc->parent) return Failure(EBUSY, "rmdir", path);
  if (!loc->node->entries.empty()) return Failure(ENOTEMPTY, "rmdir", path);
  loc->parent->entries.erase(loc->name);
  return Status::Ok();
}

Status FaultEnv::Unlink(const std::string& path) {
  std::lock_guard<std::mutex> lock(tree_mu_);
  if (int err = StartOpLocked(nullptr, path)) return Failure(err, "unlink", path);
  auto loc = LocateLocked(path);
  if (!loc.ok()) return loc.status();
  if (!loc->node) return Failure(ENOENT, "unlink", path);
  if (loc->node->is_dir) return Failure(EISDIR, "unlink", path);
  loc->parent->entries.erase(loc->name);
  UnlinkInodeLocked(*loc->node);
  return Status::Ok();
}

Result<std::pair<FaultEnv::Located, FaultEnv::Located>> FaultEnv::StartTwoPathOpLocked(
    const std::string& what, const std::string& from, const std::string& to) {
  if (int err = StartOpLocked(nullptr, from, &to)) return Failure(err, what.c_str(), to);
  auto src = LocateLocked(from);
  if (!src.ok()) return src.status();
  auto dst = LocateLocked(to);
  if (!dst.ok()) return dst.status();
  if (!src->node) return Failure(ENOENT, what.c_str(), to);
  return std::make_pair(std::move(*src), std::move(*dst));
}

Status FaultEnv::Rename(const std::string& from, const std::string& to) {
  std::lock_guard<std::mutex> lock(tree_mu_);
  const std::string what = "rename " + from + " to";
  auto pair = StartTwoPathOpLocked(what, from, to);
  if (!pair.ok()) return pair.status();
  auto& [src, dst] = *pair;
  if (!src.parent || !dst.parent) return Failure(EBUSY, what.c_str(), to);
  if (src.node == dst.node) return Status::Ok();  // same inode: rename(2) does nothing
  if (src.node->is_dir && dst.canonical.starts_with(src.canonical + "/")) {
    return Failure(EINVAL, what.c_str(), to);  // into its own subtree
  }
  if (dst.node) {
    if (dst.node->is_dir) {
      if (!src.node->is_dir) return Failure(EISDIR, what.c_str(), to);
      if (!dst.node->entries.empty()) return Failure(ENOTEMPTY, what.c_str(), to);
    } else {
      if (src.node->is_dir) return Failure(ENOTDIR, what.c_str(), to);
      UnlinkInodeLocked(*dst.node);
    }
  }
  dst.parent->entries[dst.name] = src.node;
  src.parent->entries.erase(src.name);
  return Status::Ok();
}

Status FaultEnv::Link(const std::string& from, const std::string& to) {
  std::lock_guard<std::mutex> lock(tree_mu_);
  const std::string what = "link " + from + " to";
  auto pair = StartTwoPathOpLocked(what, from, to);
  if (!pair.ok()) return pair.status();
  auto& [src, dst] = *pair;
  if (src.node->is_dir) return Failure(EPERM, what.c_str(), to);
  if (!dst.parent) return Failure(EEXIST, what.c_str(), to);
  if (dst.node) return Failure(EEXIST, what.c_str(), to);
  dst.parent->entries[dst.name] = src.node;
  ++src.node->links;
  return Status::Ok();
}

Result<std::vector<DirEntry>> FaultEnv::List(const std::string& dir) {
  std::lock_guard<std::mutex> lock(tree_mu_);
  if (int err = StartOpLocked(nullptr, dir)) return Failure(err, "list", dir);
  auto loc = LocateLocked(dir);
  if (!loc.ok()) return loc.status();
  if (!loc->node) return Failure(ENOENT, "list", dir);
  if (!loc->node->is_dir) return Failure(ENOTDIR, "list", dir);
  std::vector<DirEntry> list;
  list.reserve(loc->node->entries.size());
  for (const auto& [name, child] : loc->node->entries) list.push_back({name, child->is_dir});
  return list;  // std::map keeps names sorted
}

Result<FsStats> FaultEnv::StatFs(const std::string& path) {
  std::lock_guard<std::mutex> lock(tree_mu_);
  if (int err = QuietFaultLocked(path)) return Failure(err, "statfs", path);
  auto loc = LocateLocked(path);
  if (!loc.ok()) return loc.status();
  if (!loc->node) return Failure(ENOENT, "statfs", path);
  FsStats stats;
  stats.total_bytes = capacity_;
  stats.free_bytes = capacity_ > used_bytes_ ? capacity_ - used_bytes_ : 0;
  // Inodes are not limited; report a large fixed budget.
  stats.total_files = uint64_t{1} << 32;
  stats.free_files = stats.total_files;
  return stats;
}

bool FaultEnv::Exists(const std::string& path) {
  std::lock_guard<std::mutex> lock(tree_mu_);
  if (QuietFaultLocked(path) != 0) return false;  // stat(2) fails on a dead disk
  auto loc = LocateLocked(path);
  return loc.ok() && loc->node != nullptr;
}

// ---- Crash ------------------------------------------------------------------------

void FaultEnv::RestoreDurableLocked(Inode& dir, std::set<const Inode*>& seen_dirs) {
  dir.entries = dir.durable_entries;
  for (auto it = dir.entries.begin(); it != dir.entries.end();) {
    Inode& child = *it->second;
    if (child.is_dir) {
      // A directory renamed without syncing its old parent is durably named twice
      // (and could even form a cycle); keep the first name, as fsck would.
      if (!seen_dirs.insert(&child).second) {
        dir.durable_entries.erase(it->first);
        it = dir.entries.erase(it);
        continue;
      }
      RestoreDurableLocked(child, seen_dirs);
    } else if (child.links++ == 0) {
      child.current = child.durable;
      used_bytes_ += child.current.size();
    }
    ++it;
  }
}

void FaultEnv::Crash() {
  std::lock_guard<std::mutex> lock(tree_mu_);
  // Forget the names of the dead namespace, then rebuild names and byte counts from
  // the durable one.
  auto forget_names = [](auto& self, Inode& dir) -> void {
    for (auto& [name, child] : dir.entries) {
      if (child->is_dir) {
        self(self, *child);
      } else {
        child->links = 0;
      }
    }
  };
  forget_names(forget_names, *root_);
  used_bytes_ = 0;
  std::set<const Inode*> seen_dirs{root_.get()};
  RestoreDurableLocked(*root_, seen_dirs);

  RevivePlanLocked();
}

void FaultEnv::RevivePlanLocked() {
  ++generation_;
  crash_at_op_ = UINT64_MAX;
  dead_ = false;
  fail_ops_.clear();
  failed_folders_.clear();
  short_write_ops_.clear();
  flip_bit_ops_.clear();
}

void FaultEnv::Restart() {
  std::lock_guard<std::mutex> lock(tree_mu_);
  RevivePlanLocked();
}

// ---- Fault plan -------------------------------------------------------------------

uint64_t FaultEnv::op_count() const {
  std::lock_guard<std::mutex> lock(tree_mu_);
  return next_op_;
}

void FaultEnv::FailOp(uint64_t n, int err) {
  std::lock_guard<std::mutex> lock(tree_mu_);
  fail_ops_[n] = err;
}

void FaultEnv::FailFolder(const std::string& prefix, int err) {
  std::lock_guard<std::mutex> lock(tree_mu_);
  failed_folders_[FolderKey(prefix)] = err;
}

void FaultEnv::HealFolder(const std::string& prefix) {
  std::lock_guard<std::mutex> lock(tree_mu_);
  failed_folders_.erase(FolderKey(prefix));
}

void FaultEnv::ShortWriteOp(uint64_t n) {
  std::lock_guard<std::mutex> lock(tree_mu_);
  short_write_ops_.insert(n);
}

void FaultEnv::FlipBitOnWriteOp(uint64_t n) {
  std::lock_guard<std::mutex> lock(tree_mu_);
  flip_bit_ops_.insert(n);
}

void FaultEnv::CrashAtOp(uint64_t n) {
  std::lock_guard<std::mutex> lock(tree_mu_);
  crash_at_op_ = n;
}

void FaultEnv::SetCapacity(uint64_t bytes) {
  std::lock_guard<std::mutex> lock(tree_mu_);
  capacity_ = bytes;
}

void FaultEnv::VanishFolder(const std::string& path) {
  std::lock_guard<std::mutex> lock(tree_mu_);
  auto loc = LocateLocked(path);
  if (!loc.ok() || !loc->node || !loc->parent) return;
  loc->parent->entries.erase(loc->name);
  loc->parent->durable_entries.erase(loc->name);
  // Mark everything below, named durably or not, so open Files see it gone; only
  // current names held bytes in the capacity count.
  std::set<const Inode*> seen;
  auto vanish = [&](auto& self, Inode& node) -> void {
    if (!seen.insert(&node).second) return;
    node.vanished = true;
    for (auto& [name, child] : node.entries) UnlinkInodeLocked(*child);
    for (auto* table : {&node.entries, &node.durable_entries}) {
      for (auto& [name, child] : *table) self(self, *child);
    }
  };
  UnlinkInodeLocked(*loc->node);
  vanish(vanish, *loc->node);
}

// ---- Raw test helpers -------------------------------------------------------------

Status FaultEnv::CorruptByte(const std::string& path, uint64_t offset) {
  std::lock_guard<std::mutex> lock(tree_mu_);
  auto loc = LocateLocked(path);
  if (!loc.ok()) return loc.status();
  if (!loc->node) return Failure(ENOENT, "corrupt", path);
  Inode& file = *loc->node;
  if (file.is_dir) return Failure(EISDIR, "corrupt", path);
  if (offset >= file.current.size() && offset >= file.durable.size()) {
    return Failure(EINVAL, "corrupt beyond the end of", path);
  }
  if (offset < file.current.size()) file.current[offset] ^= 0xFF;
  if (offset < file.durable.size()) file.durable[offset] ^= 0xFF;
  return Status::Ok();
}

Status FaultEnv::TruncateRaw(const std::string& path, uint64_t length) {
  std::lock_guard<std::mutex> lock(tree_mu_);
  auto loc = LocateLocked(path);
  if (!loc.ok()) return loc.status();
  if (!loc->node) return Failure(ENOENT, "truncate", path);
  Inode& file = *loc->node;
  if (file.is_dir) return Failure(EISDIR, "truncate", path);
  if (file.links > 0) used_bytes_ = used_bytes_ - file.current.size() + length;
  file.current.resize(length);
  file.durable.resize(length);
  return Status::Ok();
}

Result<std::vector<uint8_t>> FaultEnv::ReadRaw(const std::string& path) {
  std::lock_guard<std::mutex> lock(tree_mu_);
  auto loc = LocateLocked(path);
  if (!loc.ok()) return loc.status();
  if (!loc->node) return Failure(ENOENT, "read", path);
  if (loc->node->is_dir) return Failure(EISDIR, "read", path);
  return loc->node->current;
}

bool FaultEnv::ExistsRaw(const std::string& path) {
  std::lock_guard<std::mutex> lock(tree_mu_);
  auto loc = LocateLocked(path);
  return loc.ok() && loc->node != nullptr;
}

}  // namespace sopfs
