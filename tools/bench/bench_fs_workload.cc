#include "tools/bench/bench_fs_workload.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <mutex>
#include <random>
#include <thread>

#include "tools/bench/bench_fs_pattern.h"
#include "tools/bench/bench_fs_watchdog.h"

namespace sopfs::tools {
namespace {

using Clock = std::chrono::steady_clock;
constexpr size_t kIoSize = 1 << 20;

double Since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

Status Errno(const std::string& what) { return Status::Error(errno, what); }

Status Stopped() { return Status::Error(EINTR, "interrupted"); }

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  // close() reports a failed commit on sopfs, so it is checked and timed.
  Status Close(const std::string& path) {
    const int fd = fd_;
    fd_ = -1;
    return close(fd) == 0 ? Status::Ok() : Errno("close " + path);
  }

 private:
  int fd_;
};

Result<std::unique_ptr<Fd>> Open(const std::string& path, int flags) {
  const int fd = open(path.c_str(), flags | O_CLOEXEC, 0644);
  if (fd < 0) return Errno("open " + path);
  return std::make_unique<Fd>(fd);
}

Status WriteAll(int fd, const uint8_t* data, size_t n, const std::string& path) {
  while (n > 0) {
    const ssize_t got = write(fd, data, n);
    if (got < 0 && errno == EINTR && !Interrupted()) continue;
    if (got < 0) return Errno("write " + path);
    if (got == 0) return Status::Error(EIO, "write of " + path + " wrote nothing");
    data += got;
    n -= static_cast<size_t>(got);
  }
  return Status::Ok();
}

// Reads up to n bytes at the current position; fewer only at end of file.
Result<size_t> ReadFull(int fd, uint8_t* data, size_t n, const std::string& path) {
  size_t done = 0;
  while (done < n) {
    const ssize_t got = read(fd, data + done, n - done);
    if (got < 0 && errno == EINTR && !Interrupted()) continue;
    if (got < 0) return Errno("read " + path);
    if (got == 0) break;
    done += static_cast<size_t>(got);
  }
  return done;
}

Status Fsync(int fd, const std::string& path) {
  return fsync(fd) == 0 ? Status::Ok() : Errno("fsync " + path);
}

// "label: 512 of 4096 MiB" on stderr, at most four times a second.
class ProgressLine {
 public:
  ProgressLine(std::string label, uint64_t total, const char* unit)
      : label_(std::move(label)), total_(total), unit_(unit) {}
  void Update(uint64_t done) {
    if (Clock::now() - last_ < std::chrono::milliseconds(250)) return;
    last_ = Clock::now();
    Print(done);
  }
  void Finish(uint64_t done) {
    Print(done);
    std::fprintf(stderr, " in %.1f s\n", Since(start_));
  }

 private:
  void Print(uint64_t done) {
    if (total_ == 0) {  // not known ahead
      std::fprintf(stderr, "\r%s: %llu %s", label_.c_str(), static_cast<unsigned long long>(done),
                   unit_);
      return;
    }
    std::fprintf(stderr, "\r%s: %llu of %llu %s", label_.c_str(),
                 static_cast<unsigned long long>(done), static_cast<unsigned long long>(total_),
                 unit_);
  }
  std::string label_;
  uint64_t total_;
  const char* unit_;
  Clock::time_point start_ = Clock::now();
  Clock::time_point last_{};
};

}  // namespace

Result<Timing> WriteFileSequential(const std::string& path, uint64_t size,
                                   const std::string& label) {
  FilePattern pattern;
  ProgressLine progress(label, size >> 20, "MiB");
  const auto start = Clock::now();
  auto fd = Open(path, O_CREAT | O_TRUNC | O_WRONLY);
  if (!fd.ok()) return fd.status();
  for (uint64_t at = 0; at < size; at += kIoSize) {
    if (Interrupted()) return Stopped();
    const size_t n = static_cast<size_t>(std::min<uint64_t>(kIoSize, size - at));
    SOPFS_RETURN_IF_ERROR(WriteAll((*fd)->get(), pattern.Bytes(at, n).data(), n, path));
    Heartbeat();
    progress.Update(at >> 20);
  }
  SOPFS_RETURN_IF_ERROR(Fsync((*fd)->get(), path));
  SOPFS_RETURN_IF_ERROR((*fd)->Close(path));
  Timing t{.seconds = Since(start), .bytes = size, .ops = (size + kIoSize - 1) / kIoSize};
  progress.Finish(size >> 20);
  return t;
}

Result<Timing> ReadFileSequential(const std::string& path, uint64_t size,
                                  const std::string& label) {
  FilePattern pattern;
  std::vector<uint8_t> buffer(kIoSize);
  ProgressLine progress(label, size >> 20, "MiB");
  const auto start = Clock::now();
  auto fd = Open(path, O_RDONLY);
  if (!fd.ok()) return fd.status();
  uint64_t at = 0;
  for (;;) {
    if (Interrupted()) return Stopped();
    auto got = ReadFull((*fd)->get(), buffer.data(), buffer.size(), path);
    if (!got.ok()) return got.status();
    if (*got == 0) break;
    if (!pattern.Check({buffer.data(), *got}, at)) {
      return Status::Error(
          EIO, path + " read back wrong bytes in the MiB at offset " + std::to_string(at));
    }
    at += *got;
    Heartbeat();
    progress.Update(at >> 20);
  }
  SOPFS_RETURN_IF_ERROR((*fd)->Close(path));
  Timing t{.seconds = Since(start), .bytes = at, .ops = (at + kIoSize - 1) / kIoSize};
  progress.Finish(at >> 20);
  if (at != size) {
    return Status::Error(
        EIO, path + " has " + std::to_string(at) + " bytes, expected " + std::to_string(size));
  }
  return t;
}

std::vector<uint64_t> RandomOffsets(uint64_t file_size, size_t count, uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::uniform_int_distribution<uint64_t> block(0, file_size / FilePattern::kBlock - 1);
  std::vector<uint64_t> offsets(count);
  for (auto& o : offsets) o = block(gen) * FilePattern::kBlock;
  return offsets;
}

Result<Timing> ReadRandom(const std::string& path, const std::vector<uint64_t>& offsets,
                          int threads, double max_seconds, const std::string& label) {
  const FilePattern pattern;
  auto fd = Open(path, O_RDONLY);
  if (!fd.ok()) return fd.status();
  (void)posix_fadvise((*fd)->get(), 0, 0, POSIX_FADV_RANDOM);
  std::atomic<size_t> next{0}, done{0};
  std::atomic<int> running{threads};
  std::atomic<bool> stop{false};
  std::mutex mu;
  Status failure;
  const auto start = Clock::now();
  const auto deadline = start + std::chrono::duration<double>(max_seconds);
  Clock::time_point finished = start;
  auto worker = [&] {
    std::vector<uint8_t> buffer(FilePattern::kBlock);
    while (!stop) {
      const size_t i = next.fetch_add(1);
      if (i >= offsets.size() || Clock::now() >= deadline) break;
      Status st;
      const ssize_t got =
          pread((*fd)->get(), buffer.data(), buffer.size(), static_cast<off_t>(offsets[i]));
      if (Interrupted()) {
        st = Stopped();
      } else if (got < 0) {
        st = Errno("pread " + path);
      } else if (static_cast<size_t>(got) != buffer.size() || !pattern.Check(buffer, offsets[i])) {
        st = Status::Error(EIO,
                           path + " read back wrong bytes at offset " + std::to_string(offsets[i]));
      }
      if (!st.ok()) {
        std::lock_guard<std::mutex> lock(mu);
        if (failure.ok()) failure = st;
        stop = true;
        break;
      }
      done.fetch_add(1);
      Heartbeat();
    }
    std::lock_guard<std::mutex> lock(mu);
    finished = std::max(finished, Clock::now());
    running.fetch_sub(1);
  };
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) pool.emplace_back(worker);
  ProgressLine progress(label, offsets.size(), "reads");
  while (running > 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    progress.Update(done);
  }
  for (auto& t : pool) t.join();
  progress.Finish(done);
  Timing t{.seconds = std::chrono::duration<double>(finished - start).count(),
           .bytes = done * FilePattern::kBlock,
           .ops = done};
  if (!failure.ok()) return failure;
  SOPFS_RETURN_IF_ERROR((*fd)->Close(path));
  return t;
}

Result<OverwriteCost> OverwriteBlock(const std::string& path, uint64_t offset,
                                     const std::function<uint64_t()>& disk_written) {
  std::vector<uint8_t> block(FilePattern::kBlock, 0xee);
  auto fd = Open(path, O_WRONLY);
  if (!fd.ok()) return fd.status();
  OverwriteCost cost;
  const uint64_t before = disk_written();
  const auto start = Clock::now();
  const ssize_t got = pwrite((*fd)->get(), block.data(), block.size(), static_cast<off_t>(offset));
  if (got != static_cast<ssize_t>(block.size())) return Errno("pwrite " + path);
  SOPFS_RETURN_IF_ERROR(Fsync((*fd)->get(), path));
  cost.seconds = Since(start);
  const uint64_t after_fsync = disk_written();
  SOPFS_RETURN_IF_ERROR((*fd)->Close(path));
  cost.write_fsync_bytes = after_fsync - before;
  cost.close_bytes = disk_written() - after_fsync;
  Heartbeat();
  return cost;
}

Result<std::vector<double>> OverwriteSeries(const std::string& path,
                                            const std::vector<uint64_t>& offsets,
                                            double max_seconds, const std::string& label) {
  FilePattern pattern;
  auto fd = Open(path, O_WRONLY);
  if (!fd.ok()) return fd.status();
  ProgressLine progress(label, offsets.size(), "overwrites");
  std::vector<double> ms;
  const auto start = Clock::now();
  for (const uint64_t offset : offsets) {
    if (Interrupted()) return Stopped();
    if (Since(start) > max_seconds) break;
    const auto block = pattern.Bytes(offset, FilePattern::kBlock);
    const auto one = Clock::now();
    const ssize_t got =
        pwrite((*fd)->get(), block.data(), block.size(), static_cast<off_t>(offset));
    if (got != static_cast<ssize_t>(block.size())) return Errno("pwrite " + path);
    SOPFS_RETURN_IF_ERROR(Fsync((*fd)->get(), path));
    ms.push_back(Since(one) * 1000);
    Heartbeat();
    progress.Update(ms.size());
  }
  SOPFS_RETURN_IF_ERROR((*fd)->Close(path));
  progress.Finish(ms.size());
  return ms;
}

Result<Timing> ListTree(const std::string& dir, const std::string& label) {
  ProgressLine progress(label, 0, "entries");
  Timing t;
  const auto start = Clock::now();
  std::vector<std::string> todo{dir};
  while (!todo.empty()) {
    if (Interrupted()) return Stopped();
    const std::string at = std::move(todo.back());
    todo.pop_back();
    std::unique_ptr<DIR, int (*)(DIR*)> d(opendir(at.c_str()), closedir);
    if (!d) return Errno("opendir " + at);
    while (dirent* e = readdir(d.get())) {
      const std::string name = e->d_name;
      if (name == "." || name == "..") continue;
      const std::string path = at + "/" + name;
      struct stat st {};
      if (lstat(path.c_str(), &st) != 0) return Errno("lstat " + path);
      if (S_ISDIR(st.st_mode)) todo.push_back(path);
      ++t.ops;
      Heartbeat();
      progress.Update(t.ops);
    }
  }
  t.seconds = Since(start);
  progress.Finish(t.ops);
  return t;
}

Result<Timing> CreateFiles(const std::string& dir, size_t count, size_t file_size,
                           const std::string& label) {
  std::vector<uint8_t> data(file_size, 0x5a);
  ProgressLine progress(label, count, "files");
  const auto start = Clock::now();
  for (size_t i = 0; i < count; ++i) {
    if (Interrupted()) return Stopped();
    const std::string path = dir + "/f" + std::to_string(i);
    auto fd = Open(path, O_CREAT | O_EXCL | O_WRONLY);
    if (!fd.ok()) return fd.status();
    SOPFS_RETURN_IF_ERROR(WriteAll((*fd)->get(), data.data(), data.size(), path));
    SOPFS_RETURN_IF_ERROR((*fd)->Close(path));
    Heartbeat();
    progress.Update(i + 1);
  }
  Timing t{.seconds = Since(start), .bytes = count * file_size, .ops = count};
  progress.Finish(count);
  return t;
}

Result<Timing> FloodFiles(const std::string& dir, size_t count, size_t file_size, int threads,
                          const std::string& label) {
  std::vector<uint8_t> data(file_size, 0x6b);
  ProgressLine progress(label, count, "files");
  std::atomic<size_t> done{0};
  std::mutex mu;
  Status first;
  const auto start = Clock::now();
  std::vector<std::thread> writers;
  for (int w = 0; w < threads; ++w) {
    writers.emplace_back([&, w] {
      for (size_t i = static_cast<size_t>(w); i < count; i += static_cast<size_t>(threads)) {
        Status st = Interrupted() ? Stopped() : Status::Ok();
        const std::string path = dir + "/f" + std::to_string(i);
        if (st.ok()) {
          auto fd = Open(path, O_CREAT | O_EXCL | O_WRONLY);
          st = fd.ok() ? WriteAll((*fd)->get(), data.data(), data.size(), path) : fd.status();
          if (st.ok()) st = (*fd)->Close(path);
        }
        if (!st.ok()) {
          std::lock_guard lock(mu);
          if (first.ok()) first = st;
          return;
        }
        ++done;
        Heartbeat();
        if (w == 0) progress.Update(done.load());
      }
    });
  }
  for (std::thread& t : writers) t.join();
  if (!first.ok()) return first;
  Timing t{.seconds = Since(start), .bytes = count * file_size, .ops = count};
  progress.Finish(count);
  return t;
}

Result<Timing> CopyFile(const std::string& from, const std::string& to, const std::string& label) {
  std::vector<uint8_t> buffer(kIoSize);
  struct stat st {};
  if (stat(from.c_str(), &st) != 0) return Errno("stat " + from);
  ProgressLine progress(label, static_cast<uint64_t>(st.st_size) >> 20, "MiB");
  const auto start = Clock::now();
  auto in = Open(from, O_RDONLY);
  if (!in.ok()) return in.status();
  (void)posix_fadvise((*in)->get(), 0, 0, POSIX_FADV_SEQUENTIAL);
  auto out = Open(to, O_CREAT | O_EXCL | O_WRONLY);
  if (!out.ok()) return out.status();
  uint64_t copied = 0;
  for (;;) {
    if (Interrupted()) return Stopped();
    auto got = ReadFull((*in)->get(), buffer.data(), buffer.size(), from);
    if (!got.ok()) return got.status();
    if (*got == 0) break;
    SOPFS_RETURN_IF_ERROR(WriteAll((*out)->get(), buffer.data(), *got, to));
    copied += *got;
    Heartbeat();
    progress.Update(copied >> 20);
  }
  SOPFS_RETURN_IF_ERROR(Fsync((*out)->get(), to));
  SOPFS_RETURN_IF_ERROR((*out)->Close(to));
  SOPFS_RETURN_IF_ERROR((*in)->Close(from));
  Timing t{.seconds = Since(start), .bytes = copied, .ops = (copied + kIoSize - 1) / kIoSize};
  progress.Finish(copied >> 20);
  return t;
}

}  // namespace sopfs::tools
