#include "tools/bench/bench_fs_proc.h"

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

namespace sopfs::tools {
namespace {

std::string ProcPath(pid_t pid, const char* file) {
  return (pid == 0 ? std::string("/proc/self/") : "/proc/" + std::to_string(pid) + "/") + file;
}

}  // namespace

Result<ProcIo> ReadProcIo(pid_t pid) {
  const std::string path = ProcPath(pid, "io");
  std::ifstream in(path);
  if (!in) return Status::Error(ENOENT, "cannot read " + path);
  ProcIo io;
  bool seen = false;
  std::string key;
  uint64_t value = 0;
  while (in >> key >> value) {
    if (key == "read_bytes:") io.read_bytes = value;
    if (key == "write_bytes:") io.write_bytes = value, seen = true;
    if (key == "cancelled_write_bytes:") io.cancelled_write_bytes = value;
  }
  if (!seen) return Status::Error(EIO, "no write_bytes in " + path);
  return io;
}

Result<ProcMemory> ReadProcMemory(pid_t pid) {
  const std::string path = ProcPath(pid, "status");
  std::ifstream in(path);
  if (!in) return Status::Error(ENOENT, "cannot read " + path);
  ProcMemory mem;
  bool seen = false;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream words(line);
    std::string key;
    uint64_t kib = 0;
    if (!(words >> key >> kib)) continue;
    if (key == "VmHWM:") mem.peak_bytes = kib * 1024, seen = true;
    if (key == "VmRSS:") mem.rss_bytes = kib * 1024;
  }
  if (!seen) return Status::Error(EIO, "no VmHWM in " + path);
  return mem;
}

Status ResetPeakMemory(pid_t pid) {
  const std::string path = "/proc/" + std::to_string(pid) + "/clear_refs";
  std::ofstream out(path);
  out << "5\n";
  out.flush();
  if (!out) return Status::Error(EIO, "cannot write " + path);
  return Status::Ok();
}

bool WaitForQuietWrites(pid_t pid, double stable_seconds, double max_seconds) {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  const auto stable = std::chrono::duration<double>(stable_seconds);
  auto last = ReadProcIo(pid);
  auto since = Clock::now();
  while (std::chrono::duration<double>(Clock::now() - start).count() < max_seconds) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    auto now = ReadProcIo(pid);
    if (!now.ok() || !last.ok()) return false;
    if (now->write_bytes != last->write_bytes) {
      last = now;
      since = Clock::now();
    } else if (Clock::now() - since >= stable) {
      return true;
    }
  }
  return false;
}

}  // namespace sopfs::tools
