// CommitLog: an append-only log of checksummed records with group commit; the durable
// commit point of transactions. A record is committed once Append returns ok; Open
// hands back every committed record not yet dropped by Reset, for recovery to replay.
//
// File "<folder>/commit.log": a 32-byte header (magic, version, sequence of the first
// record, checksum) then records [u32 payload length][u32 index in its flush batch]
// [u64 sequence][u64 XXH3 of the first 16 bytes and the payload][payload]. A batch is
// written only after the previous one is durable, so a crash can only tear the last
// batch: Open drops a torn tail (and truncates it durably). A bad record followed by a
// good record of a later batch is corruption, reported as EIO, never skipped. (Damage
// inside the last batch cannot be told from a torn write and is dropped as one.)
//
// Group commit: concurrent Append calls queue their records; one of them (the leader)
// writes everything queued in one write linked to one fdatasync, and wakes the others.
//
// Threads: Append may be called from many threads at once; Reset and the accessors
// too (one mutex guards the queue and file state).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "engine/io/env.h"

namespace sopfs {

struct CommitLogOptions {
  // Reads the records and changes nothing (no torn tail cut, no new log made); then
  // the log must not be appended to.
  bool read_only = false;
  // Test hook: runs in the leader right before each flush, outside the lock.
  std::function<void()> before_flush;
};

struct CommitRecord {
  uint64_t sequence = 0;
  std::string payload;
};

class CommitLog {
 public:
  static constexpr uint32_t kMaxRecordBytes = 64u << 20;   // Append refuses more (EINVAL)
  static constexpr const char* kFileName = "/commit.log";  // in the log folder

  static Result<std::unique_ptr<CommitLog>> Open(Env* env, const std::string& folder,
                                                 CommitLogOptions options = {});

  // The committed records found at Open, in order (the ones recovery must replay).
  // Read it before any Append or Reset.
  const std::vector<CommitRecord>& recovered() const { return recovered_; }

  // Appends a record durably; returns its sequence number (strictly increasing).
  // ENOSPC/EDQUOT when the disk has no room for it: the record is not in the log and
  // the log goes on (it allocates room ahead, so a full disk fails that allocation, or
  // a write, before any flush). Any other failure breaks the log (broken()).
  Result<uint64_t> Append(std::string payload);
  // A flush failed: the log takes no more records until it is reopened and recovered.
  bool broken() const;

  // Drops every record (after their effects are durable elsewhere, e.g. a registry
  // checkpoint) and starts the new log with `first_records` (state that must survive the
  // reset, e.g. blobs of transactions still in flight); sequence numbers keep
  // increasing. Atomic: the new log is written aside, flushed and renamed into place.
  Status Reset(const std::vector<std::string>& first_records = {});

  // The sequence number the next record will get.
  uint64_t next_sequence() const;
  uint64_t flushes() const;  // how many flushes Append has issued (group commit at work)
  uint64_t appended() const;
  size_t queued() const;  // records waiting for the current flush to finish

 private:
  struct Request {
    std::string payload;
    uint64_t sequence = 0;
    Status status;
    bool done = false;
  };

  CommitLog(Env* env, std::string folder, CommitLogOptions options);
  Status Load();
  // Writes `batch` at the end of the file with one flush. Called by the leader only.
  // `intact`: on failure, whether nothing of it can have been flushed (no room).
  Status WriteBatch(std::vector<Request*>& batch, uint64_t offset, uint64_t* bytes, bool* intact);
  static constexpr uint64_t kAllocateAhead = 256u << 10;

  Env* env_;
  std::string folder_;
  CommitLogOptions options_;
  std::vector<CommitRecord> recovered_;

  mutable std::mutex mu_;  // guards everything below
  std::condition_variable done_cv_;
  std::unique_ptr<File> file_;
  uint64_t end_ = 0;            // file offset where the next record goes
  uint64_t allocated_ = 0;      // the file's bytes with disk space taken (end_ or more)
  uint64_t next_sequence_ = 1;  // of the next record
  std::deque<Request*> queue_;
  bool leader_active_ = false;
  Status broken_;  // a failed flush: the log refuses appends until reopened
  uint64_t flushes_ = 0;
  uint64_t appended_ = 0;
};

}  // namespace sopfs
