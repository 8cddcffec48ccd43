#include "fuse/kernel/uring_transport.h"

#include <liburing.h>
#include <linux/fuse.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>

#include "fuse/kernel/uring_abi.h"

namespace sopfs {
namespace {

namespace abi = uring_abi;

constexpr size_t kPayloadBytes = 1u << 20;  // max_write and max_pages (fuse_ops.cc Init)
constexpr size_t kPrefixBytes = 4096;       // room for the in header and op_in before it
constexpr int kRingsPerCpu = 4;             // requests of one CPU handled at once
constexpr uint64_t kStopTag = ~0ULL;
constexpr int kAutogroupNice = -20;

// One session per process: the device I/O hooks get libfuse's userdata, not ours.
UringTransport* g_transport = nullptr;

struct AlignedFree {
  void operator()(void* p) const { std::free(p); }
};

// The kernel has a queue per possible CPU and uses the rings only once every queue has
// an entry: /sys/devices/system/cpu/possible ("0-7"), else what glibc counts.
int PossibleCpus() {
  std::ifstream possible("/sys/devices/system/cpu/possible");
  std::string text;
  if (std::getline(possible, text)) {
    const size_t dash = text.find_last_of("-,");
    const int last = std::atoi(text.c_str() + (dash == std::string::npos ? 0 : dash + 1));
    if (last >= 0 && last < 4096) return last + 1;
  }
  return get_nprocs_conf();
}

uint8_t* AllocAligned(size_t bytes) {
  return static_cast<uint8_t*>(std::aligned_alloc(4096, (bytes + 4095) / 4096 * 4096));
}

}  // namespace

// One io_uring with one ring entry of CPU queue `qid`, served by its own thread.
class UringTransport::Ring {
 public:
  Ring(UringTransport* owner, uint16_t qid, int fuse_fd) : owner_(owner), qid_(qid), fd_(fuse_fd) {}
  ~Ring() {
    if (thread_.joinable()) thread_.join();
    if (ring_ready_) io_uring_queue_exit(&ring_);
    if (stop_fd_ >= 0) close(stop_fd_);
  }

  // Sets up the ring and its entry's buffers; starts the thread. Empty on success.
  std::string Start() {
    header_.reset(reinterpret_cast<abi::ReqHeader*>(AllocAligned(sizeof(abi::ReqHeader))));
    block_.reset(AllocAligned(kPrefixBytes + kPayloadBytes));
    if (!header_ || !block_) return "out of memory";
    std::memset(header_.get(), 0, sizeof(abi::ReqHeader));
    stop_fd_ = eventfd(0, EFD_CLOEXEC);
    if (stop_fd_ < 0) return std::string("eventfd: ") + std::strerror(errno);
    io_uring_params params{};
    params.flags = IORING_SETUP_SQE128;
    if (int rc = io_uring_queue_init_params(4, &ring_, &params); rc < 0) {
      return std::string("io_uring_queue_init: ") + std::strerror(-rc);
    }
    ring_ready_ = true;
    iov_[0] = {header_.get(), sizeof(abi::ReqHeader)};
    iov_[1] = {block_.get() + kPrefixBytes, kPayloadBytes};
    thread_ = std::thread([this] { Run(); });
    return {};
  }

  void RequestStop() {
    const uint64_t one = 1;
    if (stop_fd_ >= 0) (void)!write(stop_fd_, &one, sizeof one);
  }

  // The reply of the request this ring's thread is handling, if `unique` is it.
  bool TakeReply(uint64_t unique, const iovec* iov, int count) {
    if (unique != unique_ || replied_) return false;
    auto* out = reinterpret_cast<fuse_out_header*>(header_->in_out);
    std::memcpy(out, iov[0].iov_base, sizeof(fuse_out_header));
    size_t n = 0;
    uint8_t* payload = block_.get() + kPrefixBytes;
    for (int i = 1; i < count; ++i) {
      if (n + iov[i].iov_len > kPayloadBytes) {
        out->error = -EIO;
        n = 0;
        break;
      }
      std::memcpy(payload + n, iov[i].iov_base, iov[i].iov_len);
      n += iov[i].iov_len;
    }
    header_->ring_ent_in_out.payload_sz = static_cast<uint32_t>(n);
    replied_ = true;
    return true;
  }

  static thread_local Ring* current;

 private:
  void Run() {
    cpu_set_t cpus;
    CPU_ZERO(&cpus);
    CPU_SET(qid_, &cpus);
    (void)sched_setaffinity(0, sizeof cpus, &cpus);
    pthread_setname_np(pthread_self(), ("sopfs-ring-" + std::to_string(qid_)).c_str());
    io_uring_sqe* poll = io_uring_get_sqe(&ring_);
    if (poll == nullptr) return;
    io_uring_prep_poll_add(poll, stop_fd_, POLLIN);
    io_uring_sqe_set_data64(poll, kStopTag);
    Command(abi::kCmdRegister);
    for (;;) {
      io_uring_cqe* cqe = nullptr;
      int rc = io_uring_submit_and_wait(&ring_, 1);
      if (rc < 0 && rc != -EINTR) break;
      rc = io_uring_peek_cqe(&ring_, &cqe);
      if (rc != 0 || cqe == nullptr) continue;
      const uint64_t tag = cqe->user_data;
      const int res = cqe->res;
      io_uring_cqe_seen(&ring_, cqe);
      if (tag == kStopTag) return;
      if (res == -EINTR || res == -EAGAIN) {
        Command(last_cmd_);
        continue;
      }
      if (res < 0) {
        // ENOTCONN and ECANCELED: the connection ended. Anything else is a bug worth a line.
        if (res != -ENOTCONN && res != -ECANCELED && res != -ENODEV) {
          std::fprintf(stderr, "sopfs: ring %u: %s; its requests go through /dev/fuse\n", qid_,
                       std::strerror(-res));
        }
        return;
      }
      Handle();
      Command(abi::kCmdCommitAndFetch);
    }
  }

  // Queues a REGISTER (iov: the entry's buffers) or COMMIT_AND_FETCH (the reply).
  void Command(uint32_t op) {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    if (sqe == nullptr) return;  // cannot be: one entry, one command in flight
    std::memset(static_cast<void*>(sqe), 0, 2 * sizeof(io_uring_sqe));  // SQE128: 128 bytes
    sqe->opcode = IORING_OP_URING_CMD;
    sqe->fd = fd_;
    sqe->cmd_op = op;
    if (op == abi::kCmdRegister) {
      sqe->addr = reinterpret_cast<uint64_t>(iov_);
      sqe->len = 2;
    }
    auto* cmd = reinterpret_cast<abi::CmdReq*>(sqe->cmd);
    cmd->qid = qid_;
    cmd->commit_id = op == abi::kCmdRegister ? 0 : commit_id_;
    io_uring_sqe_set_data64(sqe, op);
    last_cmd_ = op;
  }

  // Lays the request out as /dev/fuse delivers it (header, first argument, the rest)
  // and has libfuse dispatch it; its reply lands in TakeReply.
  void Handle() {
    const auto* in = reinterpret_cast<const fuse_in_header*>(header_->in_out);
    const abi::EntInOut& ent = header_->ring_ent_in_out;
    commit_id_ = ent.commit_id;
    unique_ = in->unique;
    replied_ = false;
    const uint64_t rest = ent.payload_sz;
    const uint64_t op_len = in->len >= sizeof(fuse_in_header) + rest
                                ? in->len - sizeof(fuse_in_header) - rest
                                : UINT64_MAX;
    if (op_len > sizeof header_->op_in || rest > kPayloadBytes) {
      std::fprintf(stderr, "sopfs: ring %u: malformed request (opcode %u, %u bytes)\n", qid_,
                   in->opcode, in->len);
      ReplyEio();
      return;
    }
    uint8_t* start = block_.get() + kPrefixBytes - sizeof(fuse_in_header) - op_len;
    std::memcpy(start, in, sizeof(fuse_in_header));
    std::memcpy(start + sizeof(fuse_in_header), header_->op_in, op_len);
    fuse_buf buf{};
    buf.size = in->len;
    buf.mem = start;
    owner_->ring_requests_.fetch_add(1, std::memory_order_relaxed);
    current = this;
    fuse_session_process_buf(owner_->se_, &buf);
    current = nullptr;
    if (!replied_) {
      ReplyEio();  // every sopfs handler replies before it returns; the entry lives on
    }
  }

  void ReplyEio() {
    fuse_out_header err{static_cast<uint32_t>(sizeof(fuse_out_header)), -EIO, unique_};
    iovec iov{&err, sizeof err};
    TakeReply(unique_, &iov, 1);
  }

  UringTransport* owner_;
  const uint16_t qid_;
  const int fd_;
  io_uring ring_{};
  bool ring_ready_ = false;
  int stop_fd_ = -1;
  std::unique_ptr<abi::ReqHeader, AlignedFree> header_;
  std::unique_ptr<uint8_t, AlignedFree> block_;  // kPrefixBytes, then the payload
  iovec iov_[2]{};
  uint32_t last_cmd_ = 0;
  uint64_t commit_id_ = 0;
  uint64_t unique_ = 0;
  bool replied_ = true;
  std::thread thread_;
};

thread_local UringTransport::Ring* UringTransport::Ring::current = nullptr;

UringTransport::UringTransport(fuse_session* se, bool want_ring) : se_(se), want_ring_(want_ring) {
  why_not_ = want_ring ? "the kernel has not answered INIT yet" : "not asked for (-o io_uring)";
}

std::unique_ptr<UringTransport> UringTransport::Install(fuse_session* se, bool want_ring) {
  std::unique_ptr<UringTransport> t(new UringTransport(se, want_ring));
  const fuse_custom_io io{
      .writev = Writev, .read = Read, .splice_receive = nullptr, .splice_send = nullptr};
  g_transport = t.get();
  if (fuse_session_custom_io(se, &io, fuse_session_fd(se)) != 0) {
    g_transport = nullptr;
    return nullptr;
  }
  return t;
}

UringTransport::~UringTransport() {
  Stop();
  if (g_transport == this) g_transport = nullptr;
}

void UringTransport::Stop() {
  std::vector<std::unique_ptr<Ring>> rings;
  {
    std::lock_guard lock(mu_);
    rings.swap(rings_);
  }
  for (auto& r : rings) r->RequestStop();
  rings.clear();  // joins
}

std::string UringTransport::Describe() const {
  std::lock_guard lock(mu_);
  if (!rings_.empty()) return "io_uring, " + std::to_string(rings_.size()) + " rings";
  return "/dev/fuse (" + why_not_ + ")";
}

ssize_t UringTransport::Read(int fd, void* buf, size_t len, void*) {
  const ssize_t n = read(fd, buf, len);
  if (n >= static_cast<ssize_t>(sizeof(fuse_in_header)) && g_transport != nullptr &&
      static_cast<const fuse_in_header*>(buf)->opcode == abi::kInitOpcode) {
    g_transport->NoteInit(buf, static_cast<size_t>(n));
  }
  return n;
}

void UringTransport::NoteInit(const void* request, size_t len) {
  const auto* in = static_cast<const fuse_in_header*>(request);
  if (len < sizeof(fuse_in_header) + sizeof(fuse_init_in)) return;
  fuse_init_in init;
  std::memcpy(&init, static_cast<const uint8_t*>(request) + sizeof(fuse_in_header), sizeof init);
  const bool offered =
      (init.flags & abi::kInitExt) != 0 && (init.flags2 & (abi::kOverIoUring >> 32)) != 0;
  kernel_offers_ring_ = offered;
  kernel_offers_killpriv_v2_ = (init.flags & abi::kHandleKillprivV2) != 0;
  init_unique_ = in->unique;
}

ssize_t UringTransport::Writev(int fd, struct iovec* iov, int count, void*) {
  if (count >= 1 && iov[0].iov_len >= sizeof(fuse_out_header) && g_transport != nullptr) {
    const auto* out = static_cast<const fuse_out_header*>(iov[0].iov_base);
    if (Ring::current != nullptr && Ring::current->TakeReply(out->unique, iov, count)) {
      ssize_t total = 0;
      for (int i = 0; i < count; ++i) total += static_cast<ssize_t>(iov[i].iov_len);
      return total;
    }
    if (out->unique != 0 && out->unique == g_transport->init_unique_) {
      return g_transport->WriteInitReply(fd, iov, count);
    }
  }
  return writev(fd, iov, count);
}

ssize_t UringTransport::WriteInitReply(int fd, struct iovec* iov, int count) {
  init_unique_ = 0;
  const auto* out = static_cast<const fuse_out_header*>(iov[0].iov_base);
  const bool can_patch = count == 2 && out->error == 0 &&
                         iov[1].iov_len >= offsetof(fuse_init_out, flags2) + sizeof(uint32_t);
  const bool ring = can_patch && want_ring_ && kernel_offers_ring_;
  const bool killpriv_v2 = can_patch && kernel_offers_killpriv_v2_;
  if (want_ring_ && !ring) {
    std::lock_guard lock(mu_);
    why_not_ =
        "the kernel does not offer it: needs Linux 6.14+ and "
        "/sys/module/fuse/parameters/enable_uring set to Y";
  }
  if (!ring && !killpriv_v2) return writev(fd, iov, count);
  fuse_init_out init{};
  std::memcpy(&init, iov[1].iov_base, std::min(sizeof init, iov[1].iov_len));
  if (killpriv_v2) init.flags |= abi::kHandleKillprivV2;
  if (ring) {
    init.flags |= abi::kInitExt;
    init.flags2 |= static_cast<uint32_t>(abi::kOverIoUring >> 32);
  }
  iovec patched[2] = {iov[0], {&init, iov[1].iov_len}};
  const ssize_t n = writev(fd, patched, 2);
  if (n >= 0) killpriv_v2_ = killpriv_v2;
  if (n >= 0 && ring) StartRings();
  return n;
}

void UringTransport::StartRings() {
  const int cpus = PossibleCpus();
  std::vector<std::unique_ptr<Ring>> rings;
  std::string failure;
  for (int q = 0; q < cpus && failure.empty(); ++q) {
    for (int i = 0; i < kRingsPerCpu && failure.empty(); ++i) {
      auto ring = std::make_unique<Ring>(this, static_cast<uint16_t>(q), fuse_session_fd(se_));
      failure = ring->Start();
      rings.push_back(std::move(ring));
    }
  }
  std::lock_guard lock(mu_);
  if (!failure.empty()) {
    why_not_ = "io_uring setup failed: " + failure;
    std::fprintf(stderr, "sopfs: %s\n", why_not_.c_str());
    for (auto& r : rings) r->RequestStop();
    return;  // joined as they go; requests keep coming through /dev/fuse
  }
  rings_ = std::move(rings);
  std::fprintf(stderr, "sopfs: requests go through io_uring (%zu rings on %d CPUs)\n",
               rings_.size(), cpus);
  RaiseSchedulingWeight();
}

void UringTransport::RaiseSchedulingWeight() {
  // A ring thread is woken on the caller's CPU as the caller goes to sleep. The daemon
  // runs in a scheduling group of its own (its session's autogroup), and at equal weight
  // the wake-up often waits for the caller's group to use up its share first: creates
  // ran at half the speed of /dev/fuse. At the highest weight the thread runs at once,
  // as kernel file system code would; it only ever runs for requests it is given.
  std::ofstream group("/proc/self/autogroup");
  group << kAutogroupNice << '\n';
  group.close();
  if (!group) {
    std::fprintf(stderr,
                 "sopfs: could not raise the daemon's scheduling weight (/proc/self/autogroup; "
                 "needs CAP_SYS_NICE): requests through io_uring may be slower\n");
  }
}

}  // namespace sopfs
