// A fixture for the streaming tests: an engine on an in-memory FaultEnv (which the
// tests may fail or crash) holding one empty chunk tree; Reopen closes and reopens the
// engine (recovery included).
#pragma once

#include <gtest/gtest.h>

#include <memory>

#include "engine/io/fault_env.h"
#include "streaming/chunk_file.h"
#include "tests/engine/engine_test_util.h"

namespace sopfs {

class ChunkTreeTest : public ::testing::Test {
 protected:
  static constexpr uint32_t kChunk = 4096;

  void SetUp() override {
    options_ = testing::EngineOptionsUnder("/vol");
    Reopen();
    auto txn = engine_->Begin();
    tree_ = *txn->CreateTree(ChunkFile::TreeOptions());
    ASSERT_TRUE(txn->Commit().ok());
  }
  void Reopen() {
    engine_.reset();
    auto engine = Engine::Open(&env_, options_);
    ASSERT_TRUE(engine.ok()) << engine.status().ToString();
    engine_ = std::move(*engine);
  }
  // Small blobs are written to the data folders at once (EngineOptions::carry_bytes 0).
  void ReopenWithoutCarrying() {
    options_.carry_bytes = 0;
    Reopen();
  }
  TxnTree* Chunks(Transaction& txn) { return *txn.Tree(tree_, ChunkFile::TreeOptions()); }

  FaultEnv env_;
  EngineOptions options_;
  std::unique_ptr<Engine> engine_;
  LogicalId tree_ = 0;
};

}  // namespace sopfs
