// UringBatch: runs a batch of IoOps (see env.h) through io_uring, with the same
// per-op results and chain semantics as RunBatchSequentially.
//
// A ring is not thread-safe, so UringBatch keeps a pool of rings: each Run takes one
// (creating it when the pool is empty) and gives it back afterwards. Run may therefore
// be called by many threads at once; Create and the destructor may not overlap a Run.
//
// How a batch runs:
//  - ops are grouped into chains (a chain ends at the first op with link_next=false,
//    or at the end of the batch); the ops of a chain are linked with IOSQE_IO_LINK;
//  - whole chains are queued while they fit in the ring, never split across two
//    submissions (the kernel would not keep their order); a chain longer than the
//    ring runs synchronously with RunBatchSequentially;
//  - io_uring may end a read or write short and then cancel the rest of its chain;
//    once every completion is in, such chains are repaired synchronously (the
//    remainder is transferred, the cancelled ops rerun in order). A read that meets
//    end of file stays short and still breaks its chain, as in RunBatchSequentially.
//  - a failed fsync keeps its error; it is never retried.
#pragma once

#include <cstdint>
#include <limits>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

#include "engine/io/env.h"
#include "engine/status.h"

namespace sopfs {

class UringBatch {
 public:
  // Use Create, which also proves that io_uring works here.
  explicit UringBatch(unsigned ring_entries);
  ~UringBatch();
  UringBatch(const UringBatch&) = delete;
  UringBatch& operator=(const UringBatch&) = delete;

  // Builds the pool with one ring of `ring_entries` submission slots (at least 1; the
  // kernel may round up). Fails with the errno of io_uring_queue_init where io_uring
  // is unavailable (old kernel, seccomp, io_uring_disabled sysctl, memlock limit).
  static Result<std::unique_ptr<UringBatch>> Create(unsigned ring_entries);

  // Runs every op; results land in IoOp::result. fds[i] is the open descriptor of
  // ops[i].file. If no ring can be had (the pool is empty and a new ring cannot be
  // created), or fds does not match ops, the batch runs with RunBatchSequentially
  // instead: same results.
  void Run(std::span<IoOp> ops, std::span<const int> fds);

  // Makes one chain whose ops carry io_uring's results what RunBatchSequentially
  // would have produced: a short read or write is finished synchronously (a read
  // at end of file stays short) and the ops the kernel cancelled because of it are
  // run in order; ops that never ran (result kNotRun, or -ECANCELED after complete
  // predecessors) are run; errors, including failed flushes, are kept and the rest of
  // the chain is -ECANCELED. Public so that tests can feed it simulated results.
  static void RepairChain(std::span<IoOp> chain);

  // IoOp::result of an op queued but not (yet) completed by the kernel.
  static constexpr int64_t kNotRun = std::numeric_limits<int64_t>::min();

 private:
  class Ring;

  std::unique_ptr<Ring> TakeRing();
  void ReturnRing(std::unique_ptr<Ring> ring);

  const unsigned ring_entries_;
  std::mutex free_rings_mu_;
  std::vector<std::unique_ptr<Ring>> free_rings_;  // guarded by free_rings_mu_
};

}  // namespace sopfs
