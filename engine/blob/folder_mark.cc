#include "engine/blob/folder_mark.h"

#include <cstdio>
#include <vector>

namespace sopfs {

std::optional<int> ReadFolderMark(Env* env, const std::string& folder) {
  Result<std::vector<uint8_t>> bytes = env->ReadFile(folder + "/" + kFolderMarkName);
  if (!bytes.ok()) return std::nullopt;
  const std::string text(bytes->begin(), bytes->end());
  int index = -1, count = 0;
  if (std::sscanf(text.c_str(), "sopfs data folder %d of %d", &index, &count) != 2 || index < 0) {
    return std::nullopt;
  }
  return index;
}

Status WriteFolderMark(Env* env, const std::string& folder, int index, int count) {
  const std::string text =
      "sopfs data folder " + std::to_string(index) + " of " + std::to_string(count) + "\n";
  return env->WriteFileDurably(folder + "/" + kFolderMarkName,
                               {reinterpret_cast<const uint8_t*>(text.data()), text.size()});
}

}  // namespace sopfs
