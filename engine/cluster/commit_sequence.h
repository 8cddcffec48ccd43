// CommitSequence: the commit order that every daemon of a clustered volume shares
// (docs/CLUSTER.md 5.1). It is a folder of files, one per batch of commit records,
// numbered 1, 2, 3, ... without gaps:
//
//   SEQ/<N / per_folder>/<N>        the batch claimed as number N (per_folder: 65,536)
//   SEQ/<N / per_folder>/tmp-<session>-<k>   a claim in progress (or left by a crash)
//
// Claiming N writes the batch to a temporary file, flushes it, and links it to the name
// N: link(2) fails with EEXIST when N is taken, so of several daemons claiming N at once
// exactly one wins, on local file systems and on shared ones (NFS, CephFS), where an
// appended file would tear. The name appears only whole: its bytes were flushed before
// it existed. The folder is flushed before Claim returns, so a claimed batch survives a
// power cut; a claim that did not return may or may not have happened (Read tells).
// Nobody claims N before N-1 exists: the storage anchor that makes a daemon read every
// earlier record before it can commit after them (enforced here).
//
// A batch file: a 48-byte header (magic "SOPFSSEQ", format, number, the claimer's batch
// counter, session and payload lengths), the session, the payload (opaque here: the
// engine's TxnRecords), and an XXH3 checksum of all that. Read refuses a file that is
// cut, damaged, or names another number, with EIO naming the file.
//
// Waiting for a number (WaitFor): a daemon learns of other daemons' claims by looking,
// with a short backoff (1 ms, doubling to 100 ms), unless Notify() wakes it first (Redis
// pub/sub will call it; a claim through this object calls it itself). The folder stays
// the truth: a lost or late notice costs at most one poll interval.
//
// Threads: every method may be called from any thread; claims by one CommitSequence are
// serialized (one batch at a time per session; concurrent commits share a batch).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "engine/io/env.h"
#include "engine/status.h"

namespace sopfs {

struct SequenceBatch {
  uint64_t number = 0;
  std::string session;  // the claimer's session id
  uint64_t batch = 0;   // the claimer's own counter, to tell its claims apart
  std::vector<uint8_t> payload;
};

struct CommitSequenceOptions {
  // Batches per subfolder (a folder of 65,536 names stays quick to list everywhere).
  uint64_t per_folder = 65536;
  // WaitFor's polls: the first after `first_poll`, each next one twice as late, up to
  // `max_poll` apart (Notify() wakes a waiter before either).
  std::chrono::milliseconds first_poll{1};
  std::chrono::milliseconds max_poll{100};
};

class CommitSequence {
 public:
  static constexpr uint64_t kFirst = 1;

  // Opens (making it durably if missing) the sequence in `folder` for `session` (a
  // non-empty id of letters, digits, '-' and '_'), and removes the temporary files an
  // earlier run of the same session left.
  static Result<std::unique_ptr<CommitSequence>> Open(Env* env, std::string folder,
                                                      std::string session,
                                                      CommitSequenceOptions options = {});

  // Claims `number` for `payload`, durably. EEXIST when another claimer has it (read it,
  // apply it, and claim a later one); EINVAL when number-1 is not claimed (a gap); the
  // I/O error otherwise (the claim may then have happened or not: Read tells).
  Status Claim(uint64_t number, std::span<const uint8_t> payload);

  // The batch claimed as `number`: ENOENT if not claimed (yet, or removed), EIO naming
  // the file if it is damaged.
  Result<SequenceBatch> Read(uint64_t number);

  // The highest claimed number, found by listing (0 when none is): what a mount starts
  // from. Claims may follow it at any time.
  Result<uint64_t> Head();

  // Returns OK once `number` is claimed (at once if it is), ETIMEDOUT when it is not
  // after `timeout` (0: one look). A number RemoveBefore removed is not seen: wait only
  // for numbers past what was read.
  Status WaitFor(uint64_t number, std::chrono::milliseconds timeout);
  // Wakes every WaitFor to look again now (a claim was announced).
  void Notify();
  // How many times WaitFor has looked for a number (for tests and stats).
  uint64_t polls() const;

  // Removes every batch below `number`, and folders left empty (a checkpoint made them
  // useless). `number` itself stays, so the next claim still finds its predecessor.
  Status RemoveBefore(uint64_t number);

  const std::string& session() const { return session_; }
  // The file that holds (or would hold) batch `number`.
  std::string PathOf(uint64_t number) const;

 private:
  CommitSequence(Env* env, std::string folder, std::string session, CommitSequenceOptions options)
      : env_(env), folder_(std::move(folder)), session_(std::move(session)), options_(options) {}

  std::string FolderOf(uint64_t number) const;
  Status RemoveOwnTemporaries();
  // Writes and flushes the batch file for `number` at `path`.
  Status WriteTemporary(const std::string& path, uint64_t number, uint64_t batch,
                        std::span<const uint8_t> payload);
  // Sorted numeric names in `dir` (other names skipped).
  Result<std::vector<uint64_t>> Numbers(const std::string& dir);

  Env* const env_;
  const std::string folder_;
  const std::string session_;
  const CommitSequenceOptions options_;
  std::mutex claim_mu_;  // one claim at a time; guards next_batch_
  uint64_t next_batch_ = 1;
  mutable std::mutex wait_mu_;  // guards notices_ and polls_
  std::condition_variable woken_;
  uint64_t notices_ = 0;  // Notify() calls so far: a waiter sees one that came mid-look
  uint64_t polls_ = 0;
};

// The bytes of a batch file, and their parse (for the sequence and its tests).
std::vector<uint8_t> EncodeSequenceBatch(const SequenceBatch& batch);
// EIO saying what is wrong (cut, bad magic or checksum, lengths) when not a batch.
Result<SequenceBatch> DecodeSequenceBatch(std::span<const uint8_t> bytes);

}  // namespace sopfs
