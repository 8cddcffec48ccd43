#include "engine/io/env.h"

#include <cerrno>

namespace sopfs {

size_t IoOp::Length() const {
  size_t n = 0;
  for (int i = 0; i < iovcnt; ++i) n += iov[i].iov_len;
  return n;
}

bool IoOp::Complete() const {
  if (kind == IoKind::kFsync || kind == IoKind::kFdatasync) return result == 0;
  return result >= 0 && static_cast<size_t>(result) == Length();
}

namespace {

// Runs one read or write to completion, retrying the remainder after a short
// transfer. A read that hits end of file stops short (result < Length()).
int64_t RunTransfer(IoOp& op) {
  if (op.Length() == 0) return 0;
  std::vector<iovec> rest(op.iov, op.iov + op.iovcnt);
  size_t first = 0;
  int64_t done = 0;
  while (first < rest.size()) {
    int64_t n = op.kind == IoKind::kRead ? op.file->ReadV(op.offset + done, rest.data() + first,
                                                          static_cast<int>(rest.size() - first))
                                         : op.file->WriteV(op.offset + done, rest.data() + first,
                                                           static_cast<int>(rest.size() - first));
    if (n < 0) return n;
    if (n == 0) {
      if (op.kind == IoKind::kRead) break;  // end of file
      return -EIO;                          // a write that makes no progress
    }
    done += n;
    auto left = static_cast<size_t>(n);
    while (first < rest.size() && left >= rest[first].iov_len) left -= rest[first++].iov_len;
    if (first < rest.size()) {
      rest[first].iov_base = static_cast<char*>(rest[first].iov_base) + left;
      rest[first].iov_len -= left;
    }
  }
  return done;
}

}  // namespace

void RunBatchSequentially(std::span<IoOp> ops) {
  bool cancelled = false;  // a previous op of the current chain failed
  for (IoOp& op : ops) {
    if (cancelled) {
      op.result = -ECANCELED;
    } else if (op.kind == IoKind::kFsync || op.kind == IoKind::kFdatasync) {
      op.result = op.file->Sync(op.kind == IoKind::kFdatasync);
    } else {
      op.result = RunTransfer(op);
    }
    bool failed = !op.Complete();
    cancelled = op.link_next && (cancelled || failed);
  }
}

Status Env::Submit(std::span<IoOp> ops) {
  RunBatchSequentially(ops);
  return Status::Ok();
}

std::string DirName(const std::string& path) {
  auto pos = path.find_last_of('/');
  if (pos == std::string::npos) return ".";
  if (pos == 0) return "/";
  return path.substr(0, pos);
}

Status Env::SyncDir(const std::string& dir) {
  auto file = Open(dir, {.mode = OpenMode::kDirectory});
  if (!file.ok()) return file.status();
  IoOp op{.kind = IoKind::kFsync, .file = file->get()};
  SOPFS_RETURN_IF_ERROR(Submit({&op, 1}));
  if (op.result < 0) {
    return Status::Error(static_cast<int>(-op.result), "fsync of directory " + dir);
  }
  return Status::Ok();
}

Status Env::MkDirs(const std::string& path) {
  if (path.empty() || path == "/" || path == "." || Exists(path)) return Status::Ok();
  SOPFS_RETURN_IF_ERROR(MkDirs(DirName(path)));
  Status st = MkDir(path);
  if (!st.ok() && st.code() != EEXIST) return st;
  return Status::Ok();
}

Status Env::MkDirsDurably(const std::string& path) {
  if (path.empty() || path == "/" || path == ".") return Status::Ok();
  const std::string parent = DirName(path);
  if (!Exists(path)) {
    SOPFS_RETURN_IF_ERROR(MkDirsDurably(parent));
    Status st = MkDir(path);
    if (!st.ok() && st.code() != EEXIST) return st;
  }
  // Also when it existed: a run that crashed may have made it without this flush.
  return SyncDir(parent.empty() ? "." : parent);
}

Status Env::RemoveAll(const std::string& path) {
  auto entries = List(path);
  if (!entries.ok()) {
    if (entries.status().code() == ENOENT) return Status::Ok();
    if (entries.status().code() != ENOTDIR) return entries.status();
    Status st = Unlink(path);  // a file
    return st.code() == ENOENT ? Status::Ok() : st;
  }
  for (const DirEntry& e : *entries) {
    const std::string child = path + "/" + e.name;
    SOPFS_RETURN_IF_ERROR(e.is_dir ? RemoveAll(child) : Unlink(child));
  }
  Status st = RmDir(path);
  return st.code() == ENOENT ? Status::Ok() : st;
}

Status Env::WriteFileDurably(const std::string& path, std::span<const uint8_t> data) {
  auto file = Open(path, {.mode = OpenMode::kCreateTruncate});
  if (!file.ok()) return file.status();
  iovec iov{const_cast<uint8_t*>(data.data()), data.size()};
  IoOp ops[2] = {
      {.kind = IoKind::kWrite, .file = file->get(), .iov = &iov, .iovcnt = 1, .link_next = true},
      {.kind = IoKind::kFsync, .file = file->get()},
  };
  SOPFS_RETURN_IF_ERROR(Submit(ops));
  for (const IoOp& op : ops) {
    if (!op.Complete()) {
      int err = op.result < 0 ? static_cast<int>(-op.result) : EIO;
      return Status::Error(err, "writing " + path);
    }
  }
  return SyncDir(DirName(path));
}

Result<uint64_t> Env::FileSize(const std::string& path) {
  auto file = Open(path, {.mode = OpenMode::kRead});
  if (!file.ok()) return file.status();
  return (*file)->Size();
}

Result<std::vector<uint8_t>> Env::ReadFile(const std::string& path) {
  auto file = Open(path, {.mode = OpenMode::kRead});
  if (!file.ok()) return file.status();
  auto size = (*file)->Size();
  if (!size.ok()) return size.status();
  std::vector<uint8_t> data(*size);
  iovec iov{data.data(), data.size()};
  IoOp op{.kind = IoKind::kRead, .file = file->get(), .iov = &iov, .iovcnt = 1};
  SOPFS_RETURN_IF_ERROR(Submit({&op, 1}));
  if (op.result < 0) return Status::Error(static_cast<int>(-op.result), "reading " + path);
  data.resize(static_cast<size_t>(op.result));
  return data;
}

}  // namespace sopfs
