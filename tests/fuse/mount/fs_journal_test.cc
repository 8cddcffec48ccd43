// The close journal through a real mount: small files closed just before kill -9 of
// the daemon come back from the journal with the namespace operations around them, in
// order; a small file that later grows big, or is truncated, keeps its newest content;
// a byte flipped in any record of one of the journal's two copies loses no closed file.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <string>

#include "tests/fuse/mount/mount_fixture.h"

namespace sopfs::fusetest {
namespace {

class FsJournalTest : public FuseFsTest {
 protected:
  void SetUp() override {
    if (NativeMode()) GTEST_SKIP() << "needs the daemon (native mode)";
    FuseFsTest::SetUp();
  }
  // Kill the daemon at once (well inside the 1 s commit interval) and mount again.
  void Crash() {
    ASSERT_NO_FATAL_FAILURE(vol_.KillDaemon());
    ASSERT_NO_FATAL_FAILURE(vol_.Mount());
  }
};

TEST_F(FsJournalTest, SmallFilesClosedRightBeforeKillNineComeBackWithRenamesAndUnlinks) {
  ASSERT_EQ(::mkdir(P("d").c_str(), 0755), 0);
  std::map<std::string, std::string> model;  // name in d -> content
  std::mt19937 rng(5);
  for (int i = 0; i < 400; ++i) {
    const std::string name = "f" + std::to_string(i);
    const std::string data = Pattern(i, 0, 1 + rng() % (48 * 1024));
    ASSERT_NO_FATAL_FAILURE(WriteFile(P("d/" + name), data));
    model[name] = data;
    const std::string from = "f" + std::to_string(i - 2);
    if (i % 7 == 3 && model.count(from)) {  // rename an earlier one
      ASSERT_EQ(::rename(P("d/" + from).c_str(), P("d/r" + from).c_str()), 0) << ErrnoText();
      model["r" + from] = model[from];
      model.erase(from);
    }
    const std::string gone = "f" + std::to_string(i - 1);
    if (i % 11 == 5 && model.count(gone)) {  // unlink one
      ASSERT_EQ(::unlink(P("d/" + gone).c_str()), 0) << ErrnoText();
      model.erase(gone);
    }
    if (i % 13 == 0 && i > 0) {  // rewrite one: its second close wins
      const std::string name2 = "f" + std::to_string(i / 2);
      if (model.count(name2)) {
        const std::string again = Pattern(1000 + i, 0, 100);
        ASSERT_NO_FATAL_FAILURE(WriteFile(P("d/" + name2), again));
        model[name2] = again;
      }
    }
  }
  ASSERT_NO_FATAL_FAILURE(Crash());
  std::vector<std::string> names = ListDir(P("d"));
  ASSERT_EQ(names.size(), model.size());
  for (const auto& [name, data] : model) {
    EXPECT_EQ(FirstDifference(ReadFile(P("d/" + name)), data), -1) << name;
  }
}

TEST_F(FsJournalTest, ASmallFileThatGrowsBigOrIsTruncatedKeepsItsNewestContentAcrossKillNine) {
  const std::string small = Pattern(1, 0, 5000);
  ASSERT_NO_FATAL_FAILURE(WriteFile(P("grows"), small));
  ASSERT_NO_FATAL_FAILURE(WriteFile(P("cut"), Pattern(2, 0, 30000)));
  // Reopen the journaled file and append past the small-file limit (a content
  // transaction that starts from the journaled bytes), then close.
  int fd = ::open(P("grows").c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  ASSERT_GE(fd, 0) << ErrnoText();
  const std::string more = Pattern(3, 0, 3 * kMiB);
  ASSERT_NO_FATAL_FAILURE(PwriteAll(fd, more, small.size()));
  ASSERT_EQ(::close(fd), 0) << ErrnoText();
  ASSERT_EQ(::truncate(P("cut").c_str(), 1000), 0) << ErrnoText();
  ASSERT_NO_FATAL_FAILURE(Crash());
  EXPECT_EQ(FirstDifference(ReadFile(P("grows")), small + more), -1);
  EXPECT_EQ(FirstDifference(ReadFile(P("cut")), Pattern(2, 0, 1000)), -1);
  // And once more after everything was committed in the engine.
  ASSERT_NO_FATAL_FAILURE(vol_.Remount());
  EXPECT_EQ(FirstDifference(ReadFile(P("grows")), small + more), -1);
  EXPECT_EQ(FirstDifference(ReadFile(P("cut")), Pattern(2, 0, 1000)), -1);
}

// Reads a whole local file.
std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// The newest journal file of a copy that holds records, and where each record starts.
std::pair<std::string, std::vector<uint64_t>> NewestJournal(const std::string& dir) {
  std::string newest;
  uint64_t newest_gen = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (!name.starts_with("journal-") || std::filesystem::file_size(e.path()) == 0) continue;
    const uint64_t gen = std::stoull(name.substr(8));
    if (newest.empty() || gen > newest_gen) newest = name, newest_gen = gen;
  }
  std::vector<uint64_t> starts;
  if (newest.empty()) return {newest, starts};
  const std::string bytes = Slurp(dir + "/" + newest);
  for (uint64_t at = 0; at + 12 <= bytes.size();) {
    uint32_t length;
    std::memcpy(&length, bytes.data() + at, 4);
    starts.push_back(at);
    at += 12 + length;
  }
  return {newest, starts};
}

TEST_F(FsJournalTest, AByteFlippedInAnyRecordOfOneCopyLosesNoClosedFile) {
  std::map<std::string, std::string> files;
  for (int i = 0; i < 6; ++i) {
    files["j" + std::to_string(i)] = "closed file " + std::to_string(i) + std::string(100 * i, 'x');
  }
  for (const auto& [name, content] : files) ASSERT_NO_FATAL_FAILURE(WriteFile(P(name), content));
  ASSERT_NO_FATAL_FAILURE(vol_.KillDaemon());  // the records are not folded yet
  const std::string copies[] = {vol_.volume() + "/log/close-journal",
                                vol_.volume() + "/registry-b/close-journal"};
  const auto [journal, starts] = NewestJournal(copies[0]);
  ASSERT_FALSE(starts.empty()) << "no close-journal record to damage";
  ASSERT_EQ(Slurp(copies[0] + "/" + journal), Slurp(copies[1] + "/" + journal))
      << "the two copies differ";
  const std::string snapshot = vol_.scratch() + "/volume-at-the-crash";
  std::filesystem::copy(vol_.volume(), snapshot, std::filesystem::copy_options::recursive);
  for (size_t r = 0; r < starts.size(); ++r) {
    for (size_t copy = 0; copy < 2; ++copy) {
      SCOPED_TRACE("record " + std::to_string(r) + " of copy " + copies[copy]);
      std::filesystem::remove_all(vol_.volume());
      std::filesystem::copy(snapshot, vol_.volume(), std::filesystem::copy_options::recursive);
      // A byte in the record's payload (r even) or in its header (r odd).
      const uint64_t at = starts[r] + (r % 2 == 0 ? 12 + 3 : 1);
      const std::string path = copies[copy] + "/" + journal;
      std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
      f.seekg(static_cast<std::streamoff>(at));
      char c = 0;
      f.read(&c, 1);
      c = static_cast<char>(c ^ 0x20);
      f.seekp(static_cast<std::streamoff>(at));
      f.write(&c, 1);
      f.close();
      const size_t log_before = vol_.DaemonLog().size();
      ASSERT_NO_FATAL_FAILURE(vol_.Mount());
      for (const auto& [name, content] : files) EXPECT_EQ(ReadFile(P(name)), content) << name;
      const std::string log = vol_.DaemonLog().substr(log_before);
      EXPECT_NE(log.find(path + ": the record at byte " + std::to_string(starts[r]) +
                         " is damaged; read from another copy"),
                std::string::npos)
          << log;
      ASSERT_NO_FATAL_FAILURE(vol_.KillDaemon());
    }
  }
  std::printf("journal: %zu records, each damaged in each copy: every closed file kept\n",
              starts.size());
  ASSERT_NO_FATAL_FAILURE(vol_.Mount());
}

}  // namespace
}  // namespace sopfs::fusetest
