// A registry on two sides of a FaultEnv with a model of what it must hold: the fixture
// the registry tests and the registry check tests share.
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/io/fault_env.h"
#include "engine/registry/registry.h"

namespace sopfs::testing {

inline constexpr const char* kSideA = "/vol/registry-a";
inline constexpr const char* kSideB = "/vol/registry-b";

inline RegistryEntry EntryFor(LogicalId id, uint64_t version) {
  return {
      .blob = BlobId{id * 7919 + 1, version}, .version = version, .flags = RegistryEntry::kInUse};
}

class RegistryFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* side : {kSideA, kSideB}) {
      ASSERT_TRUE(env_.MkDirs(side).ok());
      ASSERT_TRUE(env_.SyncDir(side).ok());
    }
    ASSERT_TRUE(env_.SyncDir("/vol").ok());
    ASSERT_TRUE(env_.SyncDir("/").ok());
    Reopen();
  }

  void Reopen() {
    registry_.reset();
    auto r = Registry::Open(&env_, kSideA, kSideB);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    registry_ = std::move(*r);
  }

  // Applies `ids` at `version` and records them in the model.
  Status Set(const std::vector<LogicalId>& ids, uint64_t version) {
    std::vector<std::pair<LogicalId, RegistryEntry>> updates;
    for (LogicalId id : ids) updates.emplace_back(id, EntryFor(id, version));
    Status st = registry_->Apply(updates);
    if (st.ok()) {
      for (LogicalId id : ids) model_[id] = version;
    }
    return st;
  }

  // Every ID of the model reads back as recorded.
  void ExpectModel(const std::string& where) {
    for (const auto& [id, version] : model_) {
      auto e = registry_->Get(id);
      ASSERT_TRUE(e.ok()) << where << ": id " << id << " " << e.status().ToString();
      EXPECT_EQ(*e, EntryFor(id, version)) << where << ": id " << id;
    }
  }

  FaultEnv env_;
  std::unique_ptr<Registry> registry_;
  std::map<LogicalId, uint64_t> model_;
};

}  // namespace sopfs::testing
