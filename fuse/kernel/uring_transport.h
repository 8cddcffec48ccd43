// UringTransport: the session's requests through io_uring (FUSE over io_uring, Linux
// 6.14+) instead of reads and writes of /dev/fuse.
//
// Why: a request through /dev/fuse wakes a daemon thread that may sit on another CPU,
// and the reply wakes the caller back; on a small VM these cross-CPU wake-ups are most
// of a request's cost (a create is seven requests). With io_uring the kernel queues a
// request on the caller's CPU, where this transport keeps threads pinned, so caller and
// daemon hand the CPU to each other.
//
// How, with Debian's libfuse 3.14 (which predates it): the transport becomes the
// session's device I/O (fuse_session_custom_io). It adds FUSE_OVER_IO_URING to the INIT
// reply when the kernel offers it (the fuse module's enable_uring parameter), then
// registers ring entries for every CPU. A request that arrives on a ring is laid out as
// /dev/fuse would have delivered it and handed to fuse_session_process_buf; libfuse's
// reply comes back through the device I/O's writev, which puts it in the entry and
// commits it. FORGET and INTERRUPT still come through /dev/fuse (the kernel's choice),
// so the usual session loop keeps running beside the rings.
//
// The same INIT hook asks for FUSE_HANDLE_KILLPRIV_V2 where the kernel offers it (3.14
// cannot name it either), with or without rings: the kernel then stops sending a
// GETXATTR of security.capability before every buffered write, and leaves dropping
// set-id bits on write, truncate and chown to the daemon, which fuse_ops does anyway.
//
// Threads: each ring has its own thread; replies are made on the thread that handles
// the request (sopfs replies to every request before its handler returns).
#pragma once

#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "fuse/control/request_transport.h"

namespace sopfs {

class UringTransport : public RequestTransport {
 public:
  // Takes over the device I/O of `se` (mounted, its loop not started). With
  // `want_ring`, the rings start once the kernel has agreed at INIT.
  static std::unique_ptr<UringTransport> Install(fuse_session* se, bool want_ring);
  ~UringTransport();
  UringTransport(const UringTransport&) = delete;
  UringTransport& operator=(const UringTransport&) = delete;

  // Ends the ring threads; call when the session loop has ended, before the session goes.
  void Stop();

  // "io_uring, N rings" or why requests go through /dev/fuse.
  std::string Describe() const override;
  uint64_t ring_requests() const override { return ring_requests_.load(); }
  // Whether the kernel agreed at INIT to leave set-id bits to the daemon.
  bool killpriv_v2() const override { return killpriv_v2_.load(); }

 private:
  class Ring;
  explicit UringTransport(fuse_session* se, bool want_ring);

  static ssize_t Read(int fd, void* buf, size_t len, void* userdata);
  static ssize_t Writev(int fd, struct iovec* iov, int count, void* userdata);
  void NoteInit(const void* request, size_t len);
  ssize_t WriteInitReply(int fd, struct iovec* iov, int count);
  void StartRings();
  void RaiseSchedulingWeight();

  fuse_session* se_;
  const bool want_ring_;
  std::atomic<uint64_t> init_unique_{0};
  std::atomic<bool> kernel_offers_ring_{false};
  std::atomic<bool> kernel_offers_killpriv_v2_{false};
  std::atomic<bool> killpriv_v2_{false};
  std::atomic<uint64_t> ring_requests_{0};
  mutable std::mutex mu_;  // guards the two below
  std::vector<std::unique_ptr<Ring>> rings_;
  std::string why_not_;
};

}  // namespace sopfs
