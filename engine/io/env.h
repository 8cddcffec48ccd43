// Env: the only way any sopfs layer reaches the disk.
//
// Files are opened through an Env and read, written and flushed in batches
// (Env::Submit). Namespace operations (mkdir, rename, unlink, list, statfs) are plain
// calls. Two implementations exist: PosixEnv (io_uring with a pread/pwrite fallback)
// and FaultEnv (in memory, for tests: injected errors, short writes, bit flips,
// vanishing folders and "crash now").
//
// Durability model (the strict POSIX one; FaultEnv enforces it on crash):
//  - bytes written to a file are durable only after a successful kFsync/kFdatasync of
//    that file;
//  - a directory entry (create, mkdir, rename, unlink) is durable only after a
//    successful fsync of the directory that holds it (open it with OpenMode::kDirectory
//    and submit kFsync, or call SyncDir);
//  - a failed fsync means the data is lost: callers must fail their operation, never
//    retry the flush as if nothing happened.
//
// Threads: an Env may be used by many threads at once; a File may be used by many
// threads at once for positional I/O (no shared file offset exists).
#pragma once

#include <sys/uio.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "engine/status.h"

namespace sopfs {

enum class OpenMode {
  kRead,             // existing file, read only
  kReadWrite,        // existing file, read and write
  kCreate,           // create if missing (keep contents), read and write
  kCreateTruncate,   // create or truncate to 0, read and write
  kCreateExclusive,  // create; EEXIST if it exists
  kDirectory,        // an existing directory, only to be flushed (kFsync)
};

struct OpenOptions {
  OpenMode mode = OpenMode::kRead;
  // Ask for O_DIRECT. Buffers, offsets and lengths must then be aligned to
  // kDirectIoAlignment. Where the file system refuses O_DIRECT the file is opened
  // buffered instead; File::direct() tells which one happened.
  bool direct = false;
};

inline constexpr size_t kDirectIoAlignment = 4096;

enum class Advice { kNormal, kSequential, kRandom, kWillNeed, kDontNeed };

class File {
 public:
  virtual ~File() = default;
  File(const File&) = delete;
  File& operator=(const File&) = delete;

  const std::string& path() const { return path_; }
  virtual bool direct() const { return false; }
  virtual Result<uint64_t> Size() const = 0;
  virtual Status Truncate(uint64_t length) = 0;
  // Allocates disk space for [offset, offset + length), growing the file to cover it
  // (posix_fallocate): ENOSPC when the disk lacks room. Truncate gives it back.
  virtual Status Allocate(uint64_t offset, uint64_t length) = 0;
  // A hint to the page cache (posix_fadvise); may be a no-op.
  virtual Status Advise(Advice advice, uint64_t offset, uint64_t length) = 0;
  // A hint: starts writing the file's dirty pages to disk now, without waiting for
  // them (sync_file_range's SYNC_FILE_RANGE_WRITE), so that a Sync later finds little
  // left to do. Durability still needs Sync. May be a no-op.
  virtual void StartWriteback() {}

  // Positional vectored I/O, used by the default (sequential) Env::Submit. Return the
  // number of bytes transferred (which may be short) or a negative errno.
  virtual int64_t ReadV(uint64_t offset, const iovec* iov, int iovcnt) = 0;
  virtual int64_t WriteV(uint64_t offset, const iovec* iov, int iovcnt) = 0;
  // data_only: fdatasync instead of fsync. Returns 0 or a negative errno.
  virtual int Sync(bool data_only) = 0;

 protected:
  explicit File(std::string path) : path_(std::move(path)) {}

 private:
  std::string path_;
};

enum class IoKind { kRead, kWrite, kFsync, kFdatasync };

// One operation of a batch. The caller owns the File and the iovec array, which must
// stay valid until Submit returns.
struct IoOp {
  IoKind kind = IoKind::kRead;
  File* file = nullptr;
  uint64_t offset = 0;
  const iovec* iov = nullptr;
  int iovcnt = 0;
  // The next op of the batch starts only after this one completed in full; if this
  // one fails (error or short transfer) every later op of the chain gets -ECANCELED.
  // This is how a write and the flush that must follow it are ordered.
  bool link_next = false;
  // Out: bytes transferred (reads/writes), 0 (flushes), or a negative errno.
  int64_t result = 0;

  size_t Length() const;  // sum of the iovec lengths
  bool Complete() const;  // result == Length() for I/O, == 0 for flushes
};

struct FsStats {
  uint64_t total_bytes = 0;
  uint64_t free_bytes = 0;  // available to an unprivileged writer
  uint64_t total_files = 0;
  uint64_t free_files = 0;
  uint64_t device = 0;  // which file system (statvfs's f_fsid): folders on one share it
};

struct DirEntry {
  std::string name;
  bool is_dir = false;
};

class Env {
 public:
  virtual ~Env() = default;

  virtual Result<std::unique_ptr<File>> Open(const std::string& path, OpenOptions options) = 0;

  // Runs every op of the batch; independent ops (and chains) may run concurrently and
  // complete in any order. Per-op outcomes land in IoOp::result. The returned Status
  // is not ok only when the batch could not be run at all.
  virtual Status Submit(std::span<IoOp> ops);

  virtual Status MkDir(const std::string& path) = 0;  // EEXIST if it exists
  virtual Status RmDir(const std::string& path) = 0;
  virtual Status Unlink(const std::string& path) = 0;
  virtual Status Rename(const std::string& from, const std::string& to) = 0;
  // A second name `to` for the file `from` (link(2)): EEXIST if `to` exists, which makes
  // it a put-if-absent that never replaces (the commit sequence claims numbers with it).
  virtual Status Link(const std::string& from, const std::string& to) = 0;
  virtual Result<std::vector<DirEntry>> List(const std::string& dir) = 0;  // no . or ..
  virtual Result<FsStats> StatFs(const std::string& path) = 0;
  virtual bool Exists(const std::string& path) = 0;
  // The size of a file, without reading it (stat). The default opens it and asks the
  // File (one counted Open on FaultEnv); PosixEnv calls stat(2).
  virtual Result<uint64_t> FileSize(const std::string& path);

  // Conveniences built on the calls above.
  Status SyncDir(const std::string& dir);  // open kDirectory + kFsync
  Status MkDirs(const std::string& path);  // mkdir -p; no error if it exists
  // mkdir -p, then fsyncs the parent of every directory it made and of `path`, so the
  // directories survive a crash.
  Status MkDirsDurably(const std::string& path);
  Status RemoveAll(const std::string& path);  // rm -r; no error if it is gone
  Status WriteFileDurably(const std::string& path, std::span<const uint8_t> data);
  Result<std::vector<uint8_t>> ReadFile(const std::string& path);
};

// Runs a batch one op at a time in order with the chain semantics of IoOp::link_next,
// completing short transfers by retrying the remainder. Env::Submit's default; also
// PosixEnv's fallback when io_uring is unavailable.
void RunBatchSequentially(std::span<IoOp> ops);

// The directory part of a path ("/a/b/c" -> "/a/b"; "c" -> ".").
std::string DirName(const std::string& path);

}  // namespace sopfs
