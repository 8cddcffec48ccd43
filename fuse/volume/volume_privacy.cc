#include "fuse/volume/volume_privacy.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <set>

namespace sopfs {
namespace {

namespace fs = std::filesystem;

std::string Octal(unsigned mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", mode & 07777);
  return buf;
}

// Ok when group and others have no access to `path`. A configured folder given as a
// symlink is followed (its target is the folder); a link met inside is not (a link's
// own mode means nothing). `top` is the folder a chmod -R would fix.
Status CheckOne(const std::string& path, const std::string& top, bool follow) {
  struct stat st;
  if ((follow ? ::stat(path.c_str(), &st) : ::lstat(path.c_str(), &st)) != 0) {
    const int err = errno;
    if (err == ENOENT) return Status::Ok();  // a lost folder is the blob store's business
    return Status::Error(err, "cannot check " + path + ": " + std::strerror(err));
  }
  if (S_ISLNK(st.st_mode) || (st.st_mode & 077) == 0) return Status::Ok();
  return Status::Error(EPERM, path + " is open to other users (mode " + Octal(st.st_mode) +
                                  "): a volume's folders must be " + Octal(kPrivateFolderMode) +
                                  " and its files " + Octal(kPrivateFileMode) +
                                  "; fix it with: chmod -R go-rwx " + top);
}

// `path` and what lies under it down to `depth` levels (0: the path alone).
Status CheckTree(const std::string& path, int depth, const std::string& top,
                 const std::set<std::string>& skip, bool follow = true) {
  SOPFS_RETURN_IF_ERROR(CheckOne(path, top, follow));
  if (depth == 0) return Status::Ok();
  std::error_code ec;
  const fs::file_status status = follow ? fs::status(path, ec) : fs::symlink_status(path, ec);
  if (!fs::is_directory(status)) return Status::Ok();
  fs::directory_iterator it(path, ec), end;
  if (ec) {
    if (ec == std::errc::no_such_file_or_directory) return Status::Ok();
    return Status::Error(ec.value(), "cannot read " + path + ": " + ec.message());
  }
  for (; it != end; it.increment(ec)) {
    const std::string child = it->path().string();
    if (skip.count(child)) continue;  // checked on its own
    SOPFS_RETURN_IF_ERROR(CheckTree(child, depth - 1, top, skip, /*follow=*/false));
  }
  if (ec) return Status::Error(ec.value(), "cannot read " + path + ": " + ec.message());
  return Status::Ok();
}

}  // namespace

Status CheckVolumePrivate(const VolumeConfig& config) {
  constexpr int kAll = 64;  // deeper than any registry or log folder goes
  std::set<std::string> folders(config.data_folders.begin(), config.data_folders.end());
  folders.insert({config.registry_a, config.registry_b, config.log_folder});
  SOPFS_RETURN_IF_ERROR(CheckTree(config.dir, 1, config.dir, folders));
  for (const std::string& side : {config.registry_a, config.registry_b}) {
    SOPFS_RETURN_IF_ERROR(CheckTree(side, kAll, side, {}));
  }
  SOPFS_RETURN_IF_ERROR(CheckTree(config.log_folder, kAll, config.log_folder, {}));
  for (const std::string& data : config.data_folders) {
    SOPFS_RETURN_IF_ERROR(CheckTree(data, 1, data, {}));
  }
  return Status::Ok();
}

Result<unsigned> MakeFolderPrivate(const std::string& folder) {
  struct stat st;  // a folder given as a symlink: its target (chmod follows it too)
  if (::stat(folder.c_str(), &st) != 0) {
    const int err = errno;
    return Status::Error(err, "cannot check " + folder + ": " + std::strerror(err));
  }
  if (!S_ISDIR(st.st_mode)) return Status::Error(ENOTDIR, folder + " is not a folder");
  if ((st.st_mode & 077) == 0) return 0u;
  if (::chmod(folder.c_str(), kPrivateFolderMode) != 0) {
    const int err = errno;
    return Status::Error(err,
                         "cannot make " + folder + " private (chmod 0700): " + std::strerror(err));
  }
  return static_cast<unsigned>(st.st_mode & 07777);
}

}  // namespace sopfs
