// Helpers for the tests that run `sopfs fsck` on a mount test's volume: the JSON line's
// counts, the last line of an output, and the shard files of a data folder.
#pragma once

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace sopfs::fusetest {

// The numbers of one of the JSON line's objects ("found", "fixed"), by key.
inline std::map<std::string, uint64_t> JsonCounts(const std::string& line, const std::string& key) {
  std::map<std::string, uint64_t> out;
  const size_t at = line.find("\"" + key + "\":{");
  if (at == std::string::npos) return out;
  const size_t from = line.find('{', at) + 1, to = line.find('}', from);
  const std::string body = line.substr(from, to - from);
  size_t pos = 0;
  while ((pos = body.find('"', pos)) != std::string::npos) {
    const size_t end = body.find('"', pos + 1);
    const std::string name = body.substr(pos + 1, end - pos - 1);
    out[name] = std::stoull(body.substr(end + 2));
    pos = body.find_first_of(",", end);
    if (pos == std::string::npos) break;
  }
  return out;
}

inline std::string LastLine(const std::string& output) {
  std::string s = output;
  while (!s.empty() && s.back() == '\n') s.pop_back();
  const size_t nl = s.rfind('\n');
  return nl == std::string::npos ? s : s.substr(nl + 1);
}

// Every shard file ("<32 hex>.<shard>", not the folder's mark) of data folder `folder`
// of `volume`, sorted.
inline std::vector<std::string> ShardFilesOf(const std::string& volume, int folder) {
  namespace fs = std::filesystem;
  std::vector<std::string> out;
  for (const auto& e :
       fs::recursive_directory_iterator(volume + "/data-" + std::to_string(folder))) {
    const std::string name = e.path().filename().string();
    if (e.is_regular_file() && name.size() > 33 && name[32] == '.') {
      out.push_back(e.path().string());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace sopfs::fusetest
