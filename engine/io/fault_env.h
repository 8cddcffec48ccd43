// FaultEnv: an in-memory Env for tests, with fault injection.
//
// It keeps a tree of inodes in memory and enforces the strict durability model of
// env.h: every file has `current` and `durable` bytes (fsync copies one to the other),
// every directory has `current` and `durable` entry tables (fsync of the directory,
// opened with OpenMode::kDirectory, copies its own table). Crash() is a power cut: the
// whole tree falls back to its durable state, so a test can check what survives.
//
// Faults are planned by operation number. Every call of Open, MkDir, RmDir, Unlink,
// Rename, Link, List, File::ReadV, File::WriteV, File::Sync and File::Truncate is one
// operation, numbered from 0 in call order (op_count() is the next number). Size,
// Advise, StatFs and Exists are not counted, but they fail once the simulated process
// has died (CrashAtOp) and inside a failed folder. A failed operation has no effect.
// Submit is Env's sequential runner, so every byte moved goes through ReadV/WriteV.
//
// Paths are absolute ("/vol/data0/ab/x.0"); "/" always exists durably. Files opened
// with `direct` are served buffered (File::direct() is false).
//
// Threads: every method may be called from any thread; one mutex guards the tree and
// the fault plan, so op numbers follow the order in which calls take it. Files must
// not outlive their FaultEnv. A File opened before Crash() belongs to the dead process:
// every later call on it fails with EIO.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "engine/io/env.h"

namespace sopfs {

class FaultFile;

class FaultEnv : public Env {
 public:
  static constexpr uint64_t kDefaultCapacity = uint64_t{1} << 40;  // 1 TiB

  FaultEnv();
  ~FaultEnv() override;
  FaultEnv(const FaultEnv&) = delete;
  FaultEnv& operator=(const FaultEnv&) = delete;

  // Env.
  Result<std::unique_ptr<File>> Open(const std::string& path, OpenOptions options) override;
  Status MkDir(const std::string& path) override;
  Status RmDir(const std::string& path) override;
  Status Unlink(const std::string& path) override;
  // Replaces an existing file target, or an empty directory target (as rename(2)).
  Status Rename(const std::string& from, const std::string& to) override;
  Status Link(const std::string& from, const std::string& to) override;
  Result<std::vector<DirEntry>> List(const std::string& dir) override;
  Result<FsStats> StatFs(const std::string& path) override;
  bool Exists(const std::string& path) override;

  // Power cut: every directory's entries := its durable entries and every file's
  // bytes := its durable bytes; what is no longer reachable is gone. Also clears every
  // planned fault (FailOp, FailFolder, ShortWriteOp, FlipBitOnWriteOp, CrashAtOp), so
  // the test can "restart" on the same env. The capacity, vanished folders and the op
  // counter are kept.
  void Crash();

  // kill -9 of the process, not a power cut: every byte written stays (the kernel has
  // it), Files opened before fail with EIO, and the fault plan is cleared as by Crash().
  // Pair with CrashAtOp(op_count()) so that nothing the dying process does reaches
  // the "disk".
  void Restart();

  // Fault plan. Op numbers are absolute (compare with op_count()).
  uint64_t op_count() const;
  // Operation n fails with -err (or Status err) and has no effect.
  void FailOp(uint64_t n, int err);
  // Every operation on `prefix` or on a path under `prefix + "/"` fails with err,
  // including calls on Files opened earlier, until HealFolder(prefix).
  void FailFolder(const std::string& prefix, int err);
  void HealFolder(const std::string& prefix);
  // If op n is a WriteV, it stores only the first half of its bytes (rounded down)
  // and returns that short count.
  void ShortWriteOp(uint64_t n);
  // If op n is a WriteV, it succeeds but one bit in the middle of the stored bytes
  // is flipped: silent corruption.
  void FlipBitOnWriteOp(uint64_t n);
  // The process "dies" at op n: it and every later call fail with EIO and change
  // nothing, until Crash().
  void CrashAtOp(uint64_t n);
  // Total bytes of file data; a write or truncate that would grow the total beyond it
  // fails with ENOSPC and stores nothing. StatFs reports it.
  void SetCapacity(uint64_t bytes);
  // The directory and everything below it disappear at once, durably (removed from
  // both entry tables of its parent); Files open below it then fail with ENOENT.
  void VanishFolder(const std::string& path);

  // Test helpers: not counted, blind to faults, on the current namespace.
  // Flips every bit of one byte, in the current and (where it reaches) durable bytes.
  Status CorruptByte(const std::string& path, uint64_t offset);
  // Sets the length of both current and durable bytes (zero-filling when growing).
  Status TruncateRaw(const std::string& path, uint64_t length);
  Result<std::vector<uint8_t>> ReadRaw(const std::string& path);
  bool ExistsRaw(const std::string& path);

 private:
  friend class FaultFile;
  struct Inode;
  struct Located;

  // Numbers the next operation and applies the fault plan to it. Returns 0 if the
  // operation may run, else the errno it must fail with. tree_mu_ must be held.
  int StartOpLocked(uint64_t* number, const std::string& path, const std::string* path2 = nullptr);
  // The errno a call on `path` gets from the folder faults, or 0.
  int FolderFaultLocked(const std::string& path) const;
  // The errno an uncounted call gets (dead process, folder fault), or 0.
  int QuietFaultLocked(const std::string& path) const;
  Result<Located> LocateLocked(const std::string& path) const;
  // Numbers a rename or link and locates both paths; ENOENT when `from` does not exist.
  Result<std::pair<Located, Located>> StartTwoPathOpLocked(const std::string& what,
                                                           const std::string& from,
                                                           const std::string& to);
  // Detaches a file from one name; its bytes stop counting when no name is left.
  void UnlinkInodeLocked(Inode& node);
  // A new process: Files opened before fail, the fault plan is cleared.
  void RevivePlanLocked();
  // Resizes a file's current bytes, keeping used_bytes_ right; ENOSPC if over capacity.
  int ResizeLocked(Inode& file, uint64_t size);
  void RestoreDurableLocked(Inode& dir, std::set<const Inode*>& seen_dirs);

  // Guards the inode tree, the byte accounting and the fault plan (op numbering must
  // be atomic with the op it numbers).
  mutable std::mutex tree_mu_;
  std::shared_ptr<Inode> root_;
  uint64_t capacity_ = kDefaultCapacity;
  uint64_t used_bytes_ = 0;  // current bytes of files that have a name
  uint64_t generation_ = 0;  // bumped by Crash(); Files from before are stale

  uint64_t next_op_ = 0;
  uint64_t crash_at_op_ = UINT64_MAX;
  bool dead_ = false;  // an op at or after crash_at_op_ ran
  std::map<uint64_t, int> fail_ops_;
  std::map<std::string, int> failed_folders_;
  std::set<uint64_t> short_write_ops_;
  std::set<uint64_t> flip_bit_ops_;
};

}  // namespace sopfs
