// Formatting a file system onto a new volume: the engine's trees and the empty root
// directory (see fuse/fs/file_system.h for the layout).
#pragma once

#include "engine/status.h"
#include "fuse/volume/volume_config.h"

namespace sopfs {

// Creates the volume's folders (registry, data, log) when missing, opens a new engine on
// them and commits the empty file system (root directory owned by `uid`:`gid`, mode
// 0755). EEXIST when the folders already hold an engine's data.
Status FormatFileSystem(const VolumeConfig& volume, uint32_t uid, uint32_t gid);

}  // namespace sopfs
