#include "fuse/volume/volume_mode.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>

namespace sopfs {
namespace {

constexpr char kMagic[] = "sopfs-cluster";
constexpr int kFormatVersion = 1;
constexpr size_t kIdDigits = 32;
// A marker is one short line; anything longer is not one.
constexpr size_t kMaxMarkerBytes = 256;

Status Errno(int err, const std::string& what) {
  return Status::Error(err, what + ": " + std::strerror(err));
}

bool IsClusterId(const std::string& id) {
  if (id.size() != kIdDigits) return false;
  for (char c : id) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::string ClusterFolder(const std::string& log_folder) { return log_folder + "/cluster"; }

Status SyncFolder(const std::string& folder) {
  const int fd = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Errno(errno, "cannot open " + folder);
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) return Errno(err, "cannot fsync " + folder);
  return Status::Ok();
}

Status WriteFileDurably(const std::string& path, const std::string& text) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Errno(errno, "cannot create " + path);
  const ssize_t wrote = ::write(fd, text.data(), text.size());
  int err = errno;
  bool ok = wrote == static_cast<ssize_t>(text.size());
  if (ok && ::fsync(fd) != 0) {
    err = errno;
    ok = false;
  }
  ::close(fd);
  if (!ok) return Errno(wrote >= 0 && err == 0 ? EIO : err, "cannot write " + path);
  return Status::Ok();
}

// What the marker's text says, or EIO/ENOTSUP naming `path`.
Result<VolumeMode> ParseMarker(const std::string& path, const std::string& text) {
  std::string line = text;
  if (!line.empty() && line.back() == '\n') line.pop_back();
  const auto not_marker = [&] {
    std::string shown = line.substr(0, 80);
    for (char& c : shown) {
      if (c < ' ' || c > '~') c = '?';
    }
    return Status::Error(EIO, path + " is not a cluster mode marker (it holds \"" + shown +
                                  "\"); a volume's mode is never guessed: restore the file " +
                                  "or remove it if no clustered daemon ever served the volume");
  };
  const size_t first = line.find(' ');
  if (first == std::string::npos || line.compare(0, first, kMagic) != 0) return not_marker();
  const size_t second = line.find(' ', first + 1);
  if (second == std::string::npos) return not_marker();
  const std::string version = line.substr(first + 1, second - first - 1);
  if (version.empty() || version.find_first_not_of("0123456789") != std::string::npos ||
      version.size() > 9) {
    return not_marker();
  }
  if (std::stoi(version) != kFormatVersion) {
    return Status::Error(ENOTSUP, path + " has cluster mode format " + version +
                                      ", which a newer sopfs wrote; this one reads format " +
                                      std::to_string(kFormatVersion));
  }
  VolumeMode mode{.clustered = true, .cluster_id = line.substr(second + 1)};
  if (!IsClusterId(mode.cluster_id)) return not_marker();
  return mode;
}

}  // namespace

std::string VolumeModePath(const std::string& log_folder) {
  return ClusterFolder(log_folder) + "/mode";
}

std::string NewClusterId() {
  std::random_device rd;
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id;
  while (id.size() < kIdDigits) {
    uint32_t r = rd();
    for (int i = 0; i < 8 && id.size() < kIdDigits; ++i, r >>= 4) id += kHex[r & 0xf];
  }
  return id;
}

Result<VolumeMode> ReadVolumeMode(const std::string& log_folder) {
  const std::string path = VolumeModePath(log_folder);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT) return VolumeMode{};
    return Errno(err, "cannot read the volume's mode marker " + path);
  }
  std::string text(kMaxMarkerBytes + 1, '\0');
  size_t got = 0;
  while (got < text.size()) {
    const ssize_t n = ::read(fd, text.data() + got, text.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      return Errno(err, "cannot read the volume's mode marker " + path);
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  text.resize(got);
  return ParseMarker(path, text);
}

Status MakeClustered(const std::string& log_folder, const std::string& cluster_id) {
  if (!IsClusterId(cluster_id)) {
    return Status::Error(EINVAL, "cluster id \"" + cluster_id + "\" is not 32 hex digits");
  }
  const std::string folder = ClusterFolder(log_folder);
  if (::mkdir(folder.c_str(), 0700) != 0 && errno != EEXIST) {
    return Errno(errno, "cannot create " + folder);
  }
  SOPFS_RETURN_IF_ERROR(SyncFolder(log_folder));
  const std::string path = VolumeModePath(log_folder);
  const std::string aside = path + ".new";
  SOPFS_RETURN_IF_ERROR(WriteFileDurably(
      aside, std::string(kMagic) + " " + std::to_string(kFormatVersion) + " " + cluster_id + "\n"));
  if (::rename(aside.c_str(), path.c_str()) != 0) {
    return Errno(errno, "cannot rename " + aside + " to " + path);
  }
  return SyncFolder(folder);
}

Status MakeStandalone(const std::string& log_folder) {
  const std::string path = VolumeModePath(log_folder);
  if (::unlink(path.c_str()) != 0) {
    if (errno == ENOENT) return Status::Ok();
    return Errno(errno, "cannot remove " + path);
  }
  return SyncFolder(ClusterFolder(log_folder));
}

Status RequireStandalone(const std::string& volume_dir, const std::string& log_folder) {
  Result<VolumeMode> mode = ReadVolumeMode(log_folder);
  if (!mode.ok()) return mode.status();
  if (!mode->clustered) return Status::Ok();
  return Status::Error(EMEDIUMTYPE,
                       "volume " + volume_dir + " is clustered (cluster " + mode->cluster_id +
                           ", marked by " + VolumeModePath(log_folder) +
                           "): only clustered daemons (sopfs mount --redis URL) open it, " +
                           "and this sopfs has no clustered mode yet");
}

}  // namespace sopfs
