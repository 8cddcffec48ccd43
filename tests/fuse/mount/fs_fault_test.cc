// Faults through a real mount (SPEC §7): a full disk gives ENOSPC, the file keeps its
// last committed content, nothing else changes and the space comes back; damaged
// shards beyond the erasure code's reach give EIO for that file's chunk alone, with a
// line in the daemon's log, while every other byte still reads right.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "tests/fuse/mount/mount_fixture.h"

namespace sopfs::fusetest {
namespace {

// Shard files of blobs at least `min_bytes` big, grouped by blob (file name without
// the ".N" shard suffix), found under the volume's data folders.
std::map<std::string, std::vector<std::string>> BigShards(const std::string& volume,
                                                          off_t min_bytes) {
  std::map<std::string, std::vector<std::string>> blobs;
  std::vector<std::string> dirs;
  for (int i = 0; i < 6; ++i) dirs.push_back(volume + "/data-" + std::to_string(i));
  while (!dirs.empty()) {
    const std::string dir = dirs.back();
    dirs.pop_back();
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) continue;
    while (dirent* e = ::readdir(d)) {
      const std::string name = e->d_name;
      if (name == "." || name == "..") continue;
      const std::string path = dir + "/" + name;
      struct stat st {};
      if (::lstat(path.c_str(), &st) != 0) continue;
      if (S_ISDIR(st.st_mode)) {
        dirs.push_back(path);
      } else if (S_ISREG(st.st_mode) && st.st_size >= min_bytes && name.find('.') == 32) {
        // (a shard: 32 hex digits of blob ID, '.', its index; not metadata-reserve)
        blobs[name.substr(0, name.rfind('.'))].push_back(path);
      }
    }
    ::closedir(d);
  }
  return blobs;
}

void Scribble(const std::string& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0) << path << ": " << ErrnoText();
  const std::string junk(4096, '\x5a');
  ASSERT_EQ(::pwrite(fd, junk.data(), junk.size(), 64 * 1024), static_cast<ssize_t>(junk.size()));
  ::close(fd);
}

class FsCorruptionTest : public FuseFsTest {
 protected:
  void SetUp() override {
    if (NativeMode()) GTEST_SKIP() << "needs the daemon's volume (native mode)";
    FuseFsTest::SetUp();
  }
};

TEST_F(FsCorruptionTest, ThreeBadShardsOfAChunkGiveEioForThatChunkAloneTwoAreRepairedOnRead) {
  const uint64_t size = 3 * kMiB;
  ASSERT_NO_FATAL_FAILURE(WritePatternFile(P("video"), 7, size, kMiB));
  ASSERT_NO_FATAL_FAILURE(WriteFile(P("notes"), "a small file elsewhere"));
  ASSERT_NO_FATAL_FAILURE(vol_.Unmount());

  // The file's three chunks are the only blobs with big shards.
  auto blobs = BigShards(vol_.volume(), 200 * 1024);
  ASSERT_EQ(blobs.size(), 3u) << "expected one blob per 1 MiB chunk";
  auto it = blobs.begin();
  ASSERT_EQ(it->second.size(), 6u);
  for (int i = 0; i < 3; ++i) ASSERT_NO_FATAL_FAILURE(Scribble(it->second[i]));  // > m
  ++it;
  for (int i = 0; i < 2; ++i) ASSERT_NO_FATAL_FAILURE(Scribble(it->second[i]));  // = m
  ASSERT_NO_FATAL_FAILURE(vol_.Mount());

  // Read in 64 KiB pieces: a piece from good shards reads right (parity repairs up to
  // m bad ones); a piece that needs a block beyond repair fails with EIO, or reads
  // short up to it. Every failure lies in one chunk: the damage stays where it hit.
  int fd = ::open(P("video").c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0) << ErrnoText();
  std::set<uint64_t> failed_chunks;
  int failed_pieces = 0, good_pieces = 0;
  for (uint64_t off = 0; off < size; off += 64 * 1024) {
    std::string buf(64 * 1024, '\0');
    const ssize_t n = ::pread(fd, buf.data(), buf.size(), static_cast<off_t>(off));
    if (n < 0) {
      EXPECT_EQ(errno, EIO) << "at " << off << ": " << ErrnoText();
      failed_chunks.insert(off / kMiB);
      ++failed_pieces;
      continue;
    }
    buf.resize(static_cast<size_t>(n));
    EXPECT_EQ(FirstDifference(buf, Pattern(7, off, buf.size())), -1) << "wrong bytes at " << off;
    if (n == 64 * 1024) {
      ++good_pieces;
      continue;
    }
    // Shards are checksummed in blocks: the good blocks before the damaged ones read
    // (a short read), and a read at the first damaged one fails.
    char byte;
    const uint64_t bad = off + static_cast<uint64_t>(n);
    EXPECT_EQ(::pread(fd, &byte, 1, static_cast<off_t>(bad)), -1) << "short read at " << off;
    EXPECT_EQ(errno, EIO) << "at " << bad << ": " << ErrnoText();
    failed_chunks.insert(bad / kMiB);
    ++failed_pieces;
  }
  ::close(fd);
  EXPECT_GT(failed_pieces, 0) << "three bad shards of one chunk went unnoticed";
  EXPECT_EQ(failed_chunks.size(), 1u) << "failures spread beyond the damaged chunk";
  EXPECT_GE(good_pieces, 32) << "the two undamaged chunks must read in full";
  EXPECT_EQ(ReadFile(P("notes")), "a small file elsewhere");
  EXPECT_NE(vol_.DaemonLog().find("EIO"), std::string::npos) << "no log line names the error:\n"
                                                             << vol_.DaemonLog();
}

// A volume on a small tmpfs, so the disk really fills.
class FsFullDiskTest : public FuseFsTest {
 protected:
  void SetUp() override {
    if (NativeMode()) GTEST_SKIP() << "needs the daemon (native mode)";
    ASSERT_NO_FATAL_FAILURE(tmpfs_.Mount("48m"));
    FuseFsTest::SetUp();
  }
  void TearDown() override {
    FuseFsTest::TearDown();
    tmpfs_.Unmount();
  }
  MountedVolume::Options VolumeOptions() const override {
    MountedVolume::Options o;
    o.volume_dir = tmpfs_.path() + "/vol";
    return o;
  }

  SmallTmpfs tmpfs_;
};

TEST_F(FsFullDiskTest, FullDiskFailsWithEnospcKeepsEverythingElseAndSpaceComesBack) {
  ASSERT_NO_FATAL_FAILURE(WriteFile(P("keep"), "committed before the disk filled"));
  ASSERT_NO_FATAL_FAILURE(WritePatternFile(P("old"), 3, 2 * kMiB, kMiB));

  // Rewrite "old" until the disk is full: the write or the close fails with ENOSPC.
  int fd = ::open(P("old").c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
  ASSERT_GE(fd, 0) << ErrnoText();
  int err = 0;
  const std::string block = Pattern(9, 0, kMiB);
  for (int i = 0; i < 100 && err == 0; ++i) {
    if (::write(fd, block.data(), block.size()) < 0) err = errno;
  }
  if (::close(fd) != 0 && err == 0) err = errno;
  ASSERT_EQ(err, ENOSPC) << "48 MiB of tmpfs never filled: " << ErrnoText(err);

  // The failed rewrite (its O_TRUNC included: part of the handle's changes) left the
  // file exactly as it was at its last commit; everything else is intact.
  ASSERT_NO_FATAL_FAILURE(ExpectPatternFile(P("old"), 3, 2 * kMiB));
  EXPECT_EQ(ReadFile(P("keep")), "committed before the disk filled");

  // Space comes back: a new file fits once the failed rewrite's blobs are gone.
  ::sleep(3);
  ASSERT_NO_FATAL_FAILURE(WritePatternFile(P("after"), 11, 8 * kMiB, kMiB));
  ASSERT_NO_FATAL_FAILURE(vol_.Remount());
  EXPECT_EQ(ReadFile(P("keep")), "committed before the disk filled");
  ASSERT_NO_FATAL_FAILURE(ExpectPatternFile(P("old"), 3, 2 * kMiB));
  ASSERT_NO_FATAL_FAILURE(ExpectPatternFile(P("after"), 11, 8 * kMiB));
}

}  // namespace
}  // namespace sopfs::fusetest
