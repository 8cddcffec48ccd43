// The close journal through a real mount: small files closed just before kill -9 of
// the daemon come back from the journal with the namespace operations around them, in
// order; a small file that later grows big, or is truncated, keeps its newest content.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

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

}  // namespace
}  // namespace sopfs::fusetest
