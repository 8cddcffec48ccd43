// UringBatch: the io_uring path of PosixEnv::Submit (see uring_batch.h).
#include "engine/io/uring_batch.h"

#include <liburing.h>
#include <sched.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <utility>

namespace sopfs {

// One io_uring instance, torn down with the object.
class UringBatch::Ring {
 public:
  Ring() = default;
  ~Ring() {
    if (initialized_) io_uring_queue_exit(&ring_);
  }
  Ring(const Ring&) = delete;
  Ring& operator=(const Ring&) = delete;

  static Result<std::unique_ptr<Ring>> Create(unsigned entries) {
    auto ring = std::make_unique<Ring>();
    // CLAMP: an oversized request gets the kernel's maximum instead of EINVAL.
    int r = io_uring_queue_init(std::max(entries, 1u), &ring->ring_, IORING_SETUP_CLAMP);
    if (r < 0) return Status::Error(-r, "io_uring_queue_init");
    ring->initialized_ = true;
    return ring;
  }

  io_uring* get() { return &ring_; }
  // Submission slots. The completion queue is twice as large, so keeping at most
  // this many ops in flight can never overflow it.
  unsigned capacity() const { return ring_.sq.ring_entries; }

 private:
  io_uring ring_{};
  bool initialized_ = false;
};

namespace {

// Idle rings kept for reuse; more than this are closed when given back.
constexpr size_t kMaxIdleRings = 32;
// Times a submit refused with EAGAIN/EBUSY is retried while nothing is in flight
// (so no completion will free kernel resources) before the ring is given up.
constexpr int kMaxIdleRetries = 1000;

bool IsFlush(IoKind kind) { return kind == IoKind::kFsync || kind == IoKind::kFdatasync; }

// Ops [begin, end) of a batch that must run in order.
struct Chain {
  size_t begin = 0;
  size_t end = 0;
  size_t size() const { return end - begin; }
};

std::vector<Chain> SplitChains(std::span<const IoOp> ops) {
  std::vector<Chain> chains;
  size_t begin = 0;
  for (size_t i = 0; i < ops.size(); ++i) {
    if (!ops[i].link_next || i + 1 == ops.size()) {
      chains.push_back({begin, i + 1});
      begin = i + 1;
    }
  }
  return chains;
}

void PrepareSqe(io_uring_sqe* sqe, const IoOp& op, int fd, uint64_t index, bool link) {
  switch (op.kind) {
    case IoKind::kRead:
      io_uring_prep_readv(sqe, fd, op.iov, static_cast<unsigned>(op.iovcnt), op.offset);
      break;
    case IoKind::kWrite:
      io_uring_prep_writev(sqe, fd, op.iov, static_cast<unsigned>(op.iovcnt), op.offset);
      break;
    case IoKind::kFsync:
      io_uring_prep_fsync(sqe, fd, 0);
      break;
    case IoKind::kFdatasync:
      io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC);
      break;
  }
  io_uring_sqe_set_data64(sqe, index);
  // Only inside a chain: a link flag on a chain's last op would tie the next chain
  // queued in the same submission to this one.
  if (link) io_uring_sqe_set_flags(sqe, IOSQE_IO_LINK);
}

// Moves every available completion into its op; returns how many were reaped.
unsigned ReapCompletions(io_uring* ring, std::span<IoOp> ops) {
  unsigned reaped = 0;
  io_uring_cqe* cqe = nullptr;
  while (io_uring_peek_cqe(ring, &cqe) == 0) {
    ops[cqe->user_data].result = cqe->res;
    io_uring_cqe_seen(ring, cqe);
    ++reaped;
  }
  return reaped;
}

// Blocks until one completion is available. The kernel still owns the buffers of
// every op in flight, so returning early is never an option: a failure here other
// than an interruption is a broken kernel contract.
void WaitForCompletion(io_uring* ring) {
  for (;;) {
    io_uring_cqe* cqe = nullptr;
    int r = io_uring_wait_cqe(ring, &cqe);
    if (r == 0) return;
    if (r != -EINTR && r != -EAGAIN && r != -ETIME) {
      std::fprintf(stderr, "sopfs: io_uring_wait_cqe failed with %d with I/O in flight\n", -r);
      std::abort();
    }
  }
}

// Waits until the kernel has completed every op it took, so that none of their
// buffers is in use any more.
void Drain(io_uring* ring, std::span<IoOp> ops, unsigned inflight) {
  while (inflight > 0) {
    inflight -= ReapCompletions(ring, ops);
    if (inflight > 0) WaitForCompletion(ring);
  }
}

// Runs `chains` (each no longer than the ring) on `ring`, keeping at most `capacity`
// ops queued or in flight. Returns false if the ring failed in a way that leaves it
// unusable; the ops it did not run then still hold UringBatch::kNotRun.
bool RunChainsOnRing(io_uring* ring, unsigned capacity, std::span<IoOp> ops,
                     std::span<const int> fds, std::span<const Chain> chains) {
  size_t next = 0;          // first chain not yet queued
  size_t first_unsent = 0;  // first chain the kernel has not taken in full
  unsigned queued = 0;      // in the submission queue, not yet taken by the kernel
  unsigned inflight = 0;    // taken by the kernel, completion not yet reaped
  int idle_retries = 0;
  for (;;) {
    while (next < chains.size()) {
      const Chain& chain = chains[next];
      if (queued + inflight + chain.size() > capacity ||
          io_uring_sq_space_left(ring) < chain.size()) {
        break;
      }
      for (size_t i = chain.begin; i < chain.end; ++i) {
        io_uring_sqe* sqe = io_uring_get_sqe(ring);  // cannot fail: space checked above
        PrepareSqe(sqe, ops[i], fds[i], i, i + 1 < chain.end);
      }
      queued += static_cast<unsigned>(chain.size());
      ++next;
    }
    if (queued + inflight == 0) return true;

    int r = io_uring_submit_and_wait(ring, 1);
    if (r > 0 || (r == 0 && queued == 0)) {
      queued -= static_cast<unsigned>(r);
      inflight += static_cast<unsigned>(r);
      idle_retries = 0;
      // The kernel takes entries in order. Should it stop inside a chain (it may when
      // it runs out of memory), the rest of that chain would be submitted later as a
      // chain of its own, free to overtake the first part: give the ring up instead,
      // and RepairChain runs that rest once the first part is done.
      auto taken = static_cast<size_t>(r);
      while (taken > 0 && first_unsent < next && taken >= chains[first_unsent].size()) {
        taken -= chains[first_unsent++].size();
      }
      if (taken != 0) {
        Drain(ring, ops, inflight);
        return false;
      }
    } else if (r == -EINTR) {
      // Interrupted while waiting; nothing was lost, the loop submits and waits again.
    } else if ((r == 0 || r == -EAGAIN || r == -EBUSY) && inflight > 0) {
      // The kernel is short of resources or has completions to hand over first:
      // wait for one, which frees both, then submit the rest.
      WaitForCompletion(ring);
    } else if ((r == 0 || r == -EAGAIN || r == -EBUSY) && ++idle_retries < kMaxIdleRetries) {
      sched_yield();
    } else {
      // Give up on this ring; the queued rest stays kNotRun and RepairChain runs it.
      Drain(ring, ops, inflight);
      return false;
    }
    inflight -= ReapCompletions(ring, ops);
  }
}

// Transfers what is left of a read or write that stopped after op.result bytes, with
// RunBatchSequentially's retry loop; a read that meets end of file stays short.
void FinishTransfer(IoOp& op) {
  auto done = static_cast<size_t>(std::max<int64_t>(op.result, 0));
  std::vector<iovec> rest;
  size_t skip = done;
  for (int k = 0; k < op.iovcnt; ++k) {
    iovec v = op.iov[k];
    if (skip >= v.iov_len) {
      skip -= v.iov_len;
      continue;
    }
    v.iov_base = static_cast<char*>(v.iov_base) + skip;
    v.iov_len -= skip;
    skip = 0;
    rest.push_back(v);
  }
  IoOp tail{.kind = op.kind,
            .file = op.file,
            .offset = op.offset + done,
            .iov = rest.data(),
            .iovcnt = static_cast<int>(rest.size())};
  RunBatchSequentially({&tail, 1});
  op.result = tail.result < 0 ? tail.result : static_cast<int64_t>(done) + tail.result;
}

}  // namespace

UringBatch::UringBatch(unsigned ring_entries) : ring_entries_(ring_entries) {}

UringBatch::~UringBatch() = default;

Result<std::unique_ptr<UringBatch>> UringBatch::Create(unsigned ring_entries) {
  auto batch = std::make_unique<UringBatch>(ring_entries);
  auto ring = Ring::Create(ring_entries);
  if (!ring.ok()) return ring.status();
  batch->free_rings_.push_back(std::move(ring).value());
  return batch;
}

std::unique_ptr<UringBatch::Ring> UringBatch::TakeRing() {
  {
    std::lock_guard<std::mutex> lock(free_rings_mu_);
    if (!free_rings_.empty()) {
      std::unique_ptr<Ring> ring = std::move(free_rings_.back());
      free_rings_.pop_back();
      return ring;
    }
  }
  auto ring = Ring::Create(ring_entries_);
  if (!ring.ok()) return nullptr;
  return std::move(ring).value();
}

void UringBatch::ReturnRing(std::unique_ptr<Ring> ring) {
  std::lock_guard<std::mutex> lock(free_rings_mu_);
  if (free_rings_.size() < kMaxIdleRings) free_rings_.push_back(std::move(ring));
}

void UringBatch::Run(std::span<IoOp> ops, std::span<const int> fds) {
  if (ops.empty()) return;
  std::unique_ptr<Ring> ring = fds.size() == ops.size() ? TakeRing() : nullptr;
  if (ring == nullptr) {
    RunBatchSequentially(ops);
    return;
  }

  // A chain must go to the kernel in one submission to stay ordered; one longer than
  // the whole ring cannot, so it runs synchronously instead.
  std::vector<Chain> fitting;
  std::vector<Chain> oversized;
  for (const Chain& chain : SplitChains(ops)) {
    (chain.size() <= ring->capacity() ? fitting : oversized).push_back(chain);
  }
  for (const Chain& chain : fitting) {
    for (size_t i = chain.begin; i < chain.end; ++i) ops[i].result = kNotRun;
  }

  bool healthy = RunChainsOnRing(ring->get(), ring->capacity(), ops, fds, fitting);
  for (const Chain& chain : fitting) RepairChain(ops.subspan(chain.begin, chain.size()));
  for (const Chain& chain : oversized) {
    RunBatchSequentially(ops.subspan(chain.begin, chain.size()));
  }
  // A failed ring may still hold queued entries; it is closed, not reused.
  if (healthy) ReturnRing(std::move(ring));
}

void UringBatch::RepairChain(std::span<IoOp> chain) {
  for (size_t i = 0; i < chain.size(); ++i) {
    IoOp& op = chain[i];
    if (op.Complete()) continue;
    if (op.result == kNotRun || op.result == -ECANCELED) {
      // Every op before this one completed, so nothing in the chain stopped it: it
      // never ran (a ring given up, a cancellation from outside). Run the rest now.
      RunBatchSequentially(chain.subspan(i));
      return;
    }
    bool transient = op.result == -EAGAIN || op.result == -EINTR;
    if (!IsFlush(op.kind) && (op.result >= 0 || transient)) {
      if (transient) op.result = 0;
      FinishTransfer(op);
      if (op.Complete()) {
        // The kernel cancelled the rest of the chain when this op came up short.
        RunBatchSequentially(chain.subspan(i + 1));
        return;
      }
    }
    // An error (a failed flush is never retried) or a read that stopped at end of
    // file: the chain ends here, as in RunBatchSequentially.
    for (IoOp& rest : chain.subspan(i + 1)) rest.result = -ECANCELED;
    return;
  }
}

}  // namespace sopfs
