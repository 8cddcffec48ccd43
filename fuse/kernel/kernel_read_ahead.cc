#include "fuse/kernel/kernel_read_ahead.h"

#include <cerrno>
#include <fstream>
#include <sstream>
#include <vector>

namespace sopfs {

// mountinfo writes space, tab, newline and backslash in paths as \ooo octal.
std::string UnescapeMountinfo(std::string_view field) {
  std::string out;
  for (size_t i = 0; i < field.size(); ++i) {
    if (field[i] == '\\' && i + 3 < field.size()) {
      const std::string_view digits = field.substr(i + 1, 3);
      if (digits.find_first_not_of("01234567") == std::string_view::npos) {
        out.push_back(
            static_cast<char>((digits[0] - '0') * 64 + (digits[1] - '0') * 8 + (digits[2] - '0')));
        i += 3;
        continue;
      }
    }
    out.push_back(field[i]);
  }
  return out;
}

namespace {

std::vector<std::string_view> Fields(std::string_view line) {
  std::vector<std::string_view> fields;
  size_t at = 0;
  while (at < line.size()) {
    const size_t end = std::min(line.find(' ', at), line.size());
    if (end > at) fields.push_back(line.substr(at, end - at));
    at = end + 1;
  }
  return fields;
}

}  // namespace

std::optional<std::string> MountDevice(std::string_view mountinfo, std::string_view mountpoint) {
  std::optional<std::string> device;
  size_t at = 0;
  while (at < mountinfo.size()) {
    const size_t end = std::min(mountinfo.find('\n', at), mountinfo.size());
    const std::vector<std::string_view> f = Fields(mountinfo.substr(at, end - at));
    at = end + 1;
    // ID PARENT MAJOR:MINOR ROOT MOUNTPOINT ...; later lines are newer mounts.
    if (f.size() >= 5 && UnescapeMountinfo(f[4]) == mountpoint) device = std::string(f[2]);
  }
  return device;
}

Status SetKernelReadAhead(const std::string& mountpoint, uint32_t kib) {
  std::ifstream info("/proc/self/mountinfo");
  std::stringstream text;
  text << info.rdbuf();
  const std::optional<std::string> device = MountDevice(text.str(), mountpoint);
  if (!device) return Status::Error(ENOENT, mountpoint + " is not in /proc/self/mountinfo");
  const std::string knob = "/sys/class/bdi/" + *device + "/read_ahead_kb";
  std::ofstream out(knob);
  out << kib << '\n';
  out.close();
  if (!out) return Status::Error(EACCES, "cannot write " + knob);
  return Status::Ok();
}

}  // namespace sopfs
