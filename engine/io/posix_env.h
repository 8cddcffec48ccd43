// PosixEnv: the Env of a real Linux machine.
//
// Files are plain descriptors (O_CLOEXEC, O_DIRECT on request where the file system
// allows it); batches of two or more ops go through io_uring (UringBatch) when the
// kernel offers it and otherwise, like every batch of one op, through
// RunBatchSequentially (preadv/pwritev/fsync), with the same results either way. Namespace calls
// are the matching system calls. Every error is a Status carrying the errno and naming the path.
//
// Threads: every call may run concurrently from any number of threads, Submit
// included (each batch takes its own ring from a pool). A File may be used by many
// threads at once.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "engine/io/env.h"
#include "engine/status.h"

namespace sopfs {

class UringBatch;

struct PosixEnvOptions {
  // Run batches through io_uring when the kernel allows it.
  bool use_io_uring = true;
  // Submission slots per ring: the most ops one ring keeps in flight, and the
  // longest chain that runs through io_uring (longer chains run synchronously).
  unsigned ring_entries = 256;
};

class PosixEnv : public Env {
 public:
  explicit PosixEnv(PosixEnvOptions options = {});
  ~PosixEnv() override;

  // True when batches really go through io_uring: asked for, and a ring could be
  // created at construction. Otherwise Submit silently runs them sequentially.
  bool uring_active() const { return uring_ != nullptr; }

  Result<std::unique_ptr<File>> Open(const std::string& path, OpenOptions options) override;
  // Fails only for an op without a file (EINVAL). Ops on files that another Env
  // opened run sequentially through their File methods.
  Status Submit(std::span<IoOp> ops) override;

  Status MkDir(const std::string& path) override;
  Status RmDir(const std::string& path) override;
  Status Unlink(const std::string& path) override;
  Status Rename(const std::string& from, const std::string& to) override;
  Status Link(const std::string& from, const std::string& to) override;
  // Sorted by name; is_dir does not follow symbolic links.
  Result<std::vector<DirEntry>> List(const std::string& dir) override;
  Result<FsStats> StatFs(const std::string& path) override;
  // Follows symbolic links: a dangling link does not exist.
  bool Exists(const std::string& path) override;
  // Follows symbolic links, as Exists.
  Result<uint64_t> FileSize(const std::string& path) override;

 private:
  std::unique_ptr<UringBatch> uring_;  // null when batches run sequentially
};

}  // namespace sopfs
