// RequestTransport: how requests reach the daemon, as `.sopfs/stats` shows it.
// fuse/kernel/uring_transport.h implements it (FUSE over io_uring or /dev/fuse).
//
// Threads: every method may be called from any thread.
#pragma once

#include <cstdint>
#include <string>

namespace sopfs {

class RequestTransport {
 public:
  virtual ~RequestTransport() = default;
  virtual std::string Describe() const = 0;    // "io_uring, N rings", or why /dev/fuse
  virtual uint64_t ring_requests() const = 0;  // requests that came through rings
  virtual bool killpriv_v2() const = 0;        // FUSE_HANDLE_KILLPRIV_V2 granted
};

}  // namespace sopfs
