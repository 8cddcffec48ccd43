// A FileSystem over an engine on an in-memory FaultEnv: the file model with no kernel
// and no disk, so its behaviour is proven in milliseconds. Reopen() is an unmount and
// mount (Sync, close, open again on the same env); Crash() drops everything not durable,
// as kill -9 and a power loss would, then opens again.
#pragma once

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "engine/io/fault_env.h"
#include "engine/txn/engine.h"
#include "fuse/fs/file_system.h"
#include "fuse/fs/fs_txn.h"
#include "fuse/fs/volume_layout.h"

namespace sopfs::testing {

class FileSystemTest : public ::testing::Test {
 protected:
  static constexpr uint32_t kChunkSize = 64u << 10;
  static constexpr uint64_t kRoot = FileSystem::kRootIno;

  void SetUp() override {
    auto engine = Engine::Open(&env_, Options());
    ASSERT_TRUE(engine.ok()) << engine.status().ToString();
    ASSERT_TRUE(CreateVolumeLayout(**engine, kChunkSize, 0, 0).ok());
    engine->reset();
    Open();
  }

  void TearDown() override {
    if (fs_) {
      EXPECT_TRUE(fs_->Sync().ok());
    }
    fs_.reset();
    engine_.reset();
  }

  EngineOptions Options() const {
    EngineOptions options;
    for (int i = 0; i < 6; ++i) options.data_folders.push_back("/vol/data-" + std::to_string(i));
    options.registry_a = "/vol/registry-a";
    options.registry_b = "/vol/registry-b";
    options.log_folder = "/vol/log";
    options.layout = {.k = 4, .m = 2};
    if (adjust_engine_) adjust_engine_(options);
    return options;
  }

  void Open() {
    auto engine = Engine::Open(&env_, Options());
    ASSERT_TRUE(engine.ok()) << engine.status().ToString();
    engine_ = std::move(*engine);
    FileSystemOptions options;
    options.data_folders = Options().data_folders;
    options.commit_interval = std::chrono::hours(1);  // commits happen when the test says
    options.env = &env_;
    options.journal_dirs = {"/vol/log/close-journal", "/vol/registry-b/close-journal"};
    options.after_taking_pending = [this] {
      if (after_taking_pending_) std::exchange(after_taking_pending_, nullptr)();
    };
    if (adjust_options_) adjust_options_(options);
    auto fs = FileSystem::Open(engine_.get(), options);
    ASSERT_TRUE(fs.ok()) << fs.status().ToString();
    fs_ = std::move(*fs);
  }

  // Unmount and mount again: what was committed is all that is read back.
  void Reopen() {
    ASSERT_TRUE(fs_->Sync().ok());
    fs_.reset();
    engine_.reset();
    Open();
  }

  // kill -9 / power loss: nothing runs at close, unflushed writes are gone.
  void Crash() {
    env_.CrashAtOp(env_.op_count());  // nothing of the shutdown reaches the "disk"
    fs_.reset();
    engine_.reset();
    env_.Crash();
    Open();
  }

  // Runs once inside the next namespace commit, after it took the pending changes.
  std::function<void()> after_taking_pending_;
  // Changes the file system's options at every Open (set it, then Reopen()).
  std::function<void(FileSystemOptions&)> adjust_options_;
  // The same for the engine's options.
  std::function<void(EngineOptions&)> adjust_engine_;

  // kill -9 of the daemon: nothing runs at close, but every write made (journal
  // records included) is in the kernel and stays.
  void KillNine() {
    env_.CrashAtOp(env_.op_count());
    fs_.reset();
    engine_.reset();
    env_.Restart();
    Open();
  }

  // The inode of `name` in `parent`, or the errno of the lookup.
  Result<uint64_t> Ino(uint64_t parent, std::string_view name, const Caller& c = {}) {
    auto st = fs_->Lookup(parent, name, c);
    if (!st.ok()) return st.status();
    return static_cast<uint64_t>(st->st_ino);
  }
  struct stat Stat(uint64_t ino, const Caller& c = {}) {
    auto st = fs_->GetAttr(ino, c);
    EXPECT_TRUE(st.ok()) << st.status().ToString();
    return st.ok() ? *st : (struct stat){};
  }
  uint64_t Mkdir(uint64_t parent, std::string_view name, const Caller& c = {}) {
    auto st = fs_->MakeNode(parent, name, S_IFDIR | 0755, 0, c);
    EXPECT_TRUE(st.ok()) << st.status().ToString();
    return st.ok() ? st->st_ino : 0;
  }
  // create + write + close, as `echo text > name` does.
  uint64_t WriteFile(uint64_t parent, std::string_view name, std::string_view text,
                     const Caller& c = {}) {
    auto found = fs_->Lookup(parent, name, c);
    uint64_t ino = 0;
    if (found.ok()) {
      ino = found->st_ino;
    } else {
      auto st = fs_->MakeNode(parent, name, S_IFREG | 0644, 0, c);
      EXPECT_TRUE(st.ok()) << st.status().ToString();
      if (!st.ok()) return 0;
      ino = st->st_ino;
    }
    EXPECT_TRUE(fs_->Open(ino, true, c).ok());
    AttrChange truncate;
    truncate.size = 0;
    truncate.via_handle = true;
    EXPECT_TRUE(fs_->SetAttr(ino, truncate, c).ok());
    auto bytes = std::span(reinterpret_cast<const uint8_t*>(text.data()), text.size());
    auto wrote = fs_->Write(ino, 0, bytes, c);
    EXPECT_TRUE(wrote.ok() && *wrote == text.size()) << wrote.status().ToString();
    EXPECT_TRUE(fs_->Flush(ino, true, c).ok());
    EXPECT_TRUE(fs_->Release(ino, true, c).ok());
    return ino;
  }
  // Bytes in use on the in-memory disk (FaultEnv's capacity counts against them).
  uint64_t Used() {
    auto st = env_.StatFs("/vol");
    EXPECT_TRUE(st.ok());
    return st.ok() ? st->total_bytes - st->free_bytes : 0;
  }
  // open + write at `offset` + close (the content commits at close): the first error.
  Status WriteAt(uint64_t ino, uint64_t offset, const std::string& bytes) {
    SOPFS_RETURN_IF_ERROR(fs_->Open(ino, true, {}));
    auto span = std::span(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
    Result<size_t> wrote = fs_->Write(ino, offset, span, {});
    Status flushed = fs_->Flush(ino, true, {});  // close: the content commits here
    Status released = fs_->Release(ino, true, {});
    if (!wrote.ok()) return wrote.status();
    return flushed.ok() ? released : flushed;
  }
  // The whole content of the file, read through an open handle.
  std::string ReadFile(uint64_t ino, const Caller& c = {}) {
    EXPECT_TRUE(fs_->Open(ino, false, c).ok());
    std::string out;
    uint8_t buf[4096];
    for (uint64_t off = 0;;) {
      auto n = fs_->Read(ino, off, buf, c);
      EXPECT_TRUE(n.ok()) << n.status().ToString();
      if (!n.ok() || *n == 0) break;
      out.append(reinterpret_cast<char*>(buf), *n);
      off += *n;
    }
    EXPECT_TRUE(fs_->Release(ino, false, c).ok());
    return out;
  }
  std::vector<std::string> List(uint64_t dir, const Caller& c = {}) {
    auto list = fs_->ListDir(dir, c);
    EXPECT_TRUE(list.ok()) << list.status().ToString();
    std::vector<std::string> out;
    if (!list.ok()) return out;
    for (const ListedEntry& e : *list) {
      if (e.name != "." && e.name != "..") out.push_back(e.name);
    }
    return out;
  }
  static int Errno(const Status& st) { return st.ok() ? 0 : st.code(); }
  template <typename T>
  static int Errno(const Result<T>& r) {
    return r.ok() ? 0 : r.status().code();
  }

  FaultEnv env_;
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<FileSystem> fs_;
};

}  // namespace sopfs::testing
