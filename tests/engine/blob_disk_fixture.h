// BlobStoreDiskTest: a BlobStore on the real disk (PosixEnv, io_uring) over kFolders
// data folders in a fresh temporary folder, for the tests that damage real shard files.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "engine/blob/blob_store.h"
#include "engine/blob/shard_placement.h"
#include "engine/io/posix_env.h"
#include "tests/engine/temp_dir.h"

namespace sopfs::testing {

class BlobStoreDiskTest : public ::testing::Test {
 protected:
  static constexpr int kFolders = 14;  // enough for 10+4

  void SetUp() override {
    for (int i = 0; i < kFolders; ++i) {
      folders_.push_back(dir_.path() + "/data" + std::to_string(i));
      ASSERT_TRUE(env_.MkDirs(folders_.back()).ok());
    }
    auto store = BlobStore::Open(&env_, folders_);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(*store);
  }

  std::string ShardPath(const BlobId& id, int shard) {
    return ShardPlacement(folders_).PathOf(id, shard);
  }

  TempDir dir_;
  PosixEnv env_;
  std::vector<std::string> folders_;
  std::unique_ptr<BlobStore> store_;
};

}  // namespace sopfs::testing
