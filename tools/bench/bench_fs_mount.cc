#include "tools/bench/bench_fs_mount.h"

#include <sys/vfs.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>

#include "fuse/volume/layout_arg.h"
#include "fuse/volume/size_arg.h"
#include "tools/bench/bench_fs_child.h"
#include "tools/cli_args.h"

namespace sopfs::tools {
namespace {

constexpr long kFuseSuperMagic = 0x65735546;

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string Unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size()) {
      out += static_cast<char>(std::stoi(s.substr(i + 1, 3), nullptr, 8));
      i += 3;
    } else {
      out += s[i];
    }
  }
  return out;
}

}  // namespace

std::vector<std::string> MountsUnder(const std::string& path) {
  std::vector<std::string> found;
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string id, parent, dev, root, point;
    if (!(fields >> id >> parent >> dev >> root >> point)) continue;
    point = Unescape(point);
    if (point == path || point.rfind(path + "/", 0) == 0) found.push_back(point);
  }
  return found;
}

bool IsFuseMount(const std::string& path) {
  struct statfs fs {};
  return statfs(path.c_str(), &fs) == 0 && fs.f_type == kFuseSuperMagic;
}

Result<std::unique_ptr<BenchMount>> BenchMount::Start(const MountSpec& spec) {
  if (spec.format) {
    std::vector<std::string> format = {spec.sopfs, "format", spec.volume};
    format.insert(format.end(), spec.format_args.begin(), spec.format_args.end());
    SOPFS_RETURN_IF_ERROR(RunChild(format, spec.log, 120));
  }
  std::vector<std::string> argv = {spec.sopfs, "mount", spec.volume, spec.mountpoint, "-f"};
  if (!spec.mount_options.empty()) argv.insert(argv.end(), {"-o", spec.mount_options});
  auto pid = SpawnChild(argv, spec.log);
  if (!pid.ok()) return pid.status();
  std::unique_ptr<BenchMount> mount(new BenchMount(spec, *pid));
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::duration<double>(spec.ready_seconds);
  while (!IsFuseMount(spec.mountpoint)) {
    if (auto status = WaitForChild(*pid, 0)) {
      mount->mounted_ = false;
      return Status::Error(EIO, "'sopfs mount' exited before the mount was ready (" +
                                    DescribeWaitStatus(*status) + "):\n" + mount->LogTail());
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      Status st =
          Status::Error(ETIMEDOUT, "the mount was not ready after " +
                                       std::to_string(static_cast<int>(spec.ready_seconds)) +
                                       " s:\n" + mount->LogTail());
      (void)mount->Unmount();
      return st;
    }
    std::this_thread::sleep_for(std::chrono::duration<double>(spec.poll_seconds));
  }
  return mount;
}

BenchMount::~BenchMount() {
  if (Status st = Unmount(); !st.ok()) {
    std::fprintf(stderr, "sopfs bench fs: %s\n", st.ToString().c_str());
  }
}

Status BenchMount::Unmount() {
  if (!mounted_) return Status::Ok();
  mounted_ = false;
  Status unmount = Status::Ok();
  for (int attempt = 0; attempt < 10 && !MountsUnder(spec_.mountpoint).empty(); ++attempt) {
    if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(200));
    unmount = RunChild({"fusermount3", "-u", spec_.mountpoint}, spec_.log, 30);
  }
  std::optional<int> status = WaitForChild(pid_, spec_.exit_seconds);
  if (!status) {
    KillChild(pid_);
    (void)RunChild({"fusermount3", "-u", "-z", spec_.mountpoint}, spec_.log, 30);
    return Status::Error(ETIMEDOUT, "the daemon did not exit within " +
                                        std::to_string(static_cast<int>(spec_.exit_seconds)) +
                                        " s of the unmount; killed it:\n" + LogTail());
  }
  if (!MountsUnder(spec_.mountpoint).empty()) {
    (void)RunChild({"fusermount3", "-u", "-z", spec_.mountpoint}, spec_.log, 30);
    return Status::Error(EBUSY,
                         "could not unmount " + spec_.mountpoint + ": " + unmount.ToString());
  }
  if (!WIFEXITED(*status) || WEXITSTATUS(*status) != 0) {
    return Status::Error(
        EIO, "the daemon ended with " + DescribeWaitStatus(*status) + ":\n" + LogTail());
  }
  return Status::Ok();
}

void BenchMount::ReadLayout(ErasureLayout& layout, uint64_t& chunk_size) const {
  std::ifstream in(spec_.volume + "/sopfs.conf");
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with("[")) break;  // a section: the volume's own keys come first
    const size_t eq = line.find('=');
    if (eq == std::string::npos) continue;
    auto trim = [](std::string s) {
      s.erase(0, s.find_first_not_of(" \t"));
      s.erase(s.find_last_not_of(" \t\r") + 1);
      return s;
    };
    const std::string key = trim(line.substr(0, eq));
    const std::string value = trim(line.substr(eq + 1));
    if (key == "ec") {
      if (auto l = ParseLayout(value)) layout = *l;
    } else if (key == "chunk-size") {
      if (auto c = ParseSize(value)) chunk_size = *c;
    }
  }
}

std::string BenchMount::LogTail(size_t max_bytes) const { return FileTail(spec_.log, max_bytes); }

}  // namespace sopfs::tools
