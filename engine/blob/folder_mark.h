// The mark of a data folder: a small file, <folder>/sopfs-data-folder, saying which of
// the volume's data folders it is ("sopfs data folder 3 of 6"). Written when the folder
// is first used. It tells apart, at open:
// - a folder that came back empty (a replaced drive mounted at the same path): no mark,
//   while the other folders have theirs. Its shards are gone; a scrub refills it;
// - folders mounted in the wrong order (drives swapped): a mark naming another index.
//   Reads would find every shard there in the wrong place, so the open is refused;
// - a volume made before marks existed: no folder has one. All get theirs, none is
//   counted as emptied.
#pragma once

#include <optional>
#include <string>

#include "engine/io/env.h"

namespace sopfs {

inline constexpr const char* kFolderMarkName = "sopfs-data-folder";

// The index a folder's mark names; nullopt without a (readable) mark.
std::optional<int> ReadFolderMark(Env* env, const std::string& folder);
// Writes the mark of folder `index` of `count`, durably.
Status WriteFolderMark(Env* env, const std::string& folder, int index, int count);

}  // namespace sopfs
