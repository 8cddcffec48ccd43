// Helpers for engine tests: an engine on a FaultEnv (or a real directory), reading a
// whole tree back, and counting the blobs on disk.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>

#include "engine/blob/blob_id.h"
#include "engine/io/env.h"
#include "engine/txn/engine.h"
#include "engine/txn/transaction.h"

namespace sopfs::testing {

inline EngineOptions EngineOptionsUnder(const std::string& root, int data_folders = 6) {
  EngineOptions options;
  for (int i = 0; i < data_folders; ++i) {
    options.data_folders.push_back(root + "/data" + std::to_string(i));
  }
  options.registry_a = root + "/registry-a";
  options.registry_b = root + "/registry-b";
  options.log_folder = root + "/log";
  options.layout = {.k = 4, .m = 2};
  return options;
}

// Every item of a tree as `txn` sees it, in order, read with a cursor.
inline std::map<std::string, std::string> ReadAll(Transaction& txn, LogicalId root,
                                                  const BtreeOptions& options = {}) {
  std::map<std::string, std::string> out;
  Result<TxnTree*> tree = txn.Tree(root, options);
  EXPECT_TRUE(tree.ok()) << tree.status().ToString();
  if (!tree.ok()) return out;
  auto cursor = (*tree)->NewCursor();
  Status st = cursor->First();
  EXPECT_TRUE(st.ok()) << st.ToString();
  while (st.ok() && cursor->Valid()) {
    Result<std::string> value = cursor->value();
    EXPECT_TRUE(value.ok()) << value.status().ToString();
    out.emplace(std::string(cursor->key()), value.ok() ? *value : "<error>");
    st = cursor->Next();
    EXPECT_TRUE(st.ok()) << st.ToString();
  }
  return out;
}

// Waits (up to 30 s) until the engine holds no blob in memory: the spiller has written
// what commit records carried (held_blobs.h). False on timeout.
inline bool WaitUntilWritten(Engine& engine) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (engine.Stats().held_bytes != 0) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

// The IDs of every blob with at least one shard file under the data folders.
inline std::set<BlobId> BlobsOnDisk(Env* env, const EngineOptions& options) {
  std::set<BlobId> out;
  for (const std::string& folder : options.data_folders) {
    auto level1 = env->List(folder);
    if (!level1.ok()) continue;
    for (const DirEntry& a : *level1) {
      auto level2 = env->List(folder + "/" + a.name);
      if (!level2.ok()) continue;
      for (const DirEntry& b : *level2) {
        auto files = env->List(folder + "/" + a.name + "/" + b.name);
        if (!files.ok()) continue;
        for (const DirEntry& f : *files) {
          const size_t dot = f.name.find('.');
          if (dot == std::string::npos) continue;
          auto id = BlobId::FromHex(f.name.substr(0, dot));
          if (id) out.insert(*id);
        }
      }
    }
  }
  return out;
}

}  // namespace sopfs::testing
