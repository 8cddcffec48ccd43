// Formatting a file system onto a new volume: the engine's trees and the empty root
// directory (see fuse/fs/file_system.h for the layout).
#pragma once

#include <span>
#include <string>

#include "engine/status.h"
#include "fuse/fs/fs_store.h"
#include "fuse/volume/volume_config.h"

namespace sopfs {

// A store made at format (--store NAME=K+M[:SIZE]): a directory NAME under the root.
struct NamedStore {
  std::string name;
  StoreSpec spec;
};

// Creates the volume's folders (registry, data, log) when missing, opens a new engine on
// them and commits the empty file system (root directory owned by `uid`:`gid`, mode
// 0755) with a directory (mode 0755) for each store. EEXIST when the folders already
// hold an engine's data.
Status FormatFileSystem(const VolumeConfig& volume, uint32_t uid, uint32_t gid,
                        std::span<const NamedStore> stores = {});

}  // namespace sopfs
