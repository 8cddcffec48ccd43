// A volume is private to the user who formatted it (SPEC §7): its folders 0700 and its
// files 0600, whatever the umask, so that the mount and its permission checks are the
// only way to the data. Format makes it so; mount refuses a volume that others can
// read, write or enter, naming the path, as PostgreSQL refuses an open data directory.
//
// What mount checks: the volume directory and what it holds directly (sopfs.conf,
// sopfs.lock, sopfs.log, the default folders), the registry and log folders to the
// bottom, and each data folder with its first level of fan-out folders. Shard files
// deeper down are reachable only through those folders, so they need no look each:
// the check stays as cheap for a 10 TB volume as for an empty one.
#pragma once

#include <string>

#include "engine/status.h"
#include "fuse/volume/volume_config.h"

namespace sopfs {

inline constexpr unsigned kPrivateFolderMode = 0700;
inline constexpr unsigned kPrivateFileMode = 0600;

// EPERM naming the first path of the volume that group or others may access, its mode,
// and the chmod that fixes it; the error of a folder that cannot be read.
Status CheckVolumePrivate(const VolumeConfig& config);

// For format: makes an existing folder 0700 when group or others may access it. Returns
// the mode it had when it changed it (for a message), 0 when it was private already.
Result<unsigned> MakeFolderPrivate(const std::string& folder);

}  // namespace sopfs
