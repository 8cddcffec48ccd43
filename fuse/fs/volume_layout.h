// VolumeLayout: where a volume's file system lives in its engine.
//
// The engine's first tree (logical ID 1, made by format before anything else) is the
// volume tree: it names the inode, namespace and chunk trees and records the chunk
// size, so a mount finds everything from the engine alone.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "engine/txn/engine.h"
#include "fuse/fs/fs_store.h"

namespace sopfs {

// Volume tree key: the last close-journal record the committed state includes.
inline constexpr const char* kJournalAppliedKey = "journal-applied";
// The highest intent-log record number handed out (file_system_intent.cc), big endian.
inline constexpr const char* kIntentSeqKey = "intent-seq";

struct VolumeLayout {
  static constexpr LogicalId kVolumeTree = 1;
  LogicalId inode_tree = 0;
  LogicalId names_tree = 0;
  LogicalId chunk_tree = 0;
  uint32_t chunk_size = 0;
  std::vector<FsStore> stores;  // beyond the root store (fs_store.h), by ID
};

// EIO naming what is missing when the engine holds no file system (or a damaged one).
Result<VolumeLayout> ReadVolumeLayout(Engine& engine);
// Every tree of the file system with its options (the volume tree first): what a
// check walks.
std::vector<std::pair<LogicalId, BtreeOptions>> VolumeTrees(const VolumeLayout& layout);
// Makes the trees and the root directory (inode 1, mode 0755, owned by uid:gid) in a
// new engine; EEXIST when the engine already holds trees.
Status CreateVolumeLayout(Engine& engine, uint32_t chunk_size, uint32_t uid, uint32_t gid);

}  // namespace sopfs
