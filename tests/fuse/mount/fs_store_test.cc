// Stores: directories whose files use an erasure layout and chunk size of their own
// (fuse/fs/fs_store.h). Made at format (--store NAME=K+M[:SIZE]) or by setfattr of
// user.sopfs.store on an empty directory; their chunks are blobs of their own layout
// on disk, and losing more folders than one store's parity costs only the files of the
// stores that cannot survive it.
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "tests/fuse/mount/mount_fixture.h"

namespace sopfs::fusetest {
namespace {

namespace fs = std::filesystem;

std::string Xattr(const std::string& path, const char* name) {
  char buf[256];
  const ssize_t n = ::getxattr(path.c_str(), name, buf, sizeof buf);
  return n < 0 ? "(" + ErrnoText() + ")" : std::string(buf, static_cast<size_t>(n));
}

// Shard files per blob over every data folder: blob ID (the file name before the
// shard index) -> shards found.
std::map<std::string, int> ShardsPerBlob(const std::string& volume, int folders) {
  std::map<std::string, int> shards;
  for (int f = 0; f < folders; ++f) {
    for (const auto& e : fs::recursive_directory_iterator(volume + "/data-" + std::to_string(f))) {
      const std::string name = e.path().filename().string();
      const size_t dot = name.rfind('.');
      if (!e.is_regular_file() || dot == std::string::npos || name.size() < 32) continue;
      ++shards[name.substr(0, dot)];
    }
  }
  return shards;
}

// The whole file, or the errno that stopped its read.
struct ReadResult {
  std::string bytes;
  int err = 0;
};
ReadResult ReadAll(const std::string& path) {
  ReadResult r;
  FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return {"", errno};
  char buf[65536];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) r.bytes.append(buf, n);
  if (std::ferror(f)) r.err = errno != 0 ? errno : EIO;
  std::fclose(f);
  return r;
}

constexpr int kFolders = 11;  // the widest store, 8+3
constexpr int kFiles = 6;

class FsStoreTest : public FuseFsTest {
 protected:
  void SetUp() override {
    if (NativeMode()) GTEST_SKIP() << "needs the daemon's volume (native mode)";
    FuseFsTest::SetUp();
  }
  MountedVolume::Options VolumeOptions() const override {
    MountedVolume::Options o;
    o.format_args = {"--store", "media=8+3", "--store", "scratch=1+0:256K"};
    o.mount_options = {"scrub=0"};
    return o;
  }
  static uint64_t SizeOf(int i) { return 1 * kMiB + 300 * kKiB * static_cast<uint64_t>(i); }
};

TEST_F(FsStoreTest, StoreFilesAreWrittenInTheirLayoutAndOnlyStoresWithoutEnoughParityLoseFiles) {
  EXPECT_EQ(Xattr(P("media"), "user.sopfs.store"), "8+3:1M");
  EXPECT_EQ(Xattr(P("scratch"), "user.sopfs.store"), "1+0:256K");
  EXPECT_EQ(Xattr(P(""), "user.sopfs.store"), "4+2:1M");
  const std::string health = ReadFile(P(".sopfs/health"));
  EXPECT_NE(health.find("\"name\":\"media\",\"erasure\":\"8+3\""), std::string::npos) << health;
  const std::map<std::string, int> before = ShardsPerBlob(vol_.volume(), kFolders);

  uint64_t media_chunks = 0, scratch_chunks = 0;
  for (const std::string dir : {"", "media/", "scratch/"}) {
    for (int i = 0; i < kFiles; ++i) {
      const std::string path = P(dir + "f" + std::to_string(i));
      ASSERT_NO_FATAL_FAILURE(WritePatternFile(path, 100 + i, SizeOf(i), 128 * kKiB));
    }
  }
  for (int i = 0; i < kFiles; ++i) {
    const std::string f = "f" + std::to_string(i);
    EXPECT_EQ(Xattr(P(f), "user.sopfs.erasure"), "4+2");
    EXPECT_EQ(Xattr(P("media/" + f), "user.sopfs.erasure"), "8+3");
    EXPECT_EQ(Xattr(P("scratch/" + f), "user.sopfs.erasure"), "1+0");
    EXPECT_EQ(Xattr(P("scratch/" + f), "user.sopfs.chunk_size"), "262144");
    media_chunks += std::stoull(Xattr(P("media/" + f), "user.sopfs.chunk_count"));
    scratch_chunks += std::stoull(Xattr(P("scratch/" + f), "user.sopfs.chunk_count"));
  }
  ASSERT_NO_FATAL_FAILURE(vol_.Unmount());

  // Each new blob has the shards of its layout: 11 (a media chunk), 1 (a scratch chunk),
  // 6 (a root file's chunk) or 8 (metadata, 4+4 over 11 folders).
  std::map<int, uint64_t> blobs_by_shards;
  for (const auto& [blob, shards] : ShardsPerBlob(vol_.volume(), kFolders)) {
    if (before.count(blob)) continue;
    ++blobs_by_shards[shards];
    EXPECT_TRUE(shards == 11 || shards == 1 || shards == 6 || shards == 8)
        << blob << " has " << shards << " shards";
  }
  EXPECT_EQ(blobs_by_shards[11], media_chunks);
  EXPECT_EQ(blobs_by_shards[1], scratch_chunks);
  EXPECT_GE(blobs_by_shards[6], static_cast<uint64_t>(kFiles));

  // Three folders lost: one more than the root's parity. media (3 parity) keeps every
  // file; no read of any store returns wrong bytes.
  for (int f : {0, 1, 2}) fs::remove_all(vol_.volume() + "/data-" + std::to_string(f));
  ASSERT_NO_FATAL_FAILURE(vol_.Mount());
  int scratch_lost = 0;
  for (int i = 0; i < kFiles; ++i) {
    const std::string f = "f" + std::to_string(i);
    ExpectPatternFile(P("media/" + f), 100 + i, SizeOf(i));
    for (const std::string dir : {"", "scratch/"}) {
      const ReadResult r = ReadAll(P(dir + f));
      if (r.err != 0) {
        EXPECT_EQ(r.err, EIO) << dir << f;
        scratch_lost += dir == "scratch/";
        continue;
      }
      const std::string want = Pattern(100 + i, 0, SizeOf(i));
      EXPECT_EQ(FirstDifference(r.bytes, want), -1)
          << dir << f << ": " << r.bytes.size() << " bytes read of " << want.size();
    }
  }
  // Each scratch file has 4 to 9 single-shard chunks spread over 11 folders: losing 3
  // folders takes some of them.
  EXPECT_GT(scratch_lost, 0);
}

TEST_F(FsStoreTest, StoreBySetfattrOnAnEmptyDirectoryAndMovesAcrossStoresCopy) {
  ASSERT_EQ(::mkdir(P("fast").c_str(), 0755), 0) << ErrnoText();
  ASSERT_NO_FATAL_FAILURE(WriteFile(P("fast/x"), "not empty"));
  EXPECT_EQ(::setxattr(P("fast").c_str(), "user.sopfs.store", "2+1", 3, 0), -1);
  EXPECT_EQ(errno, ENOTEMPTY);
  ASSERT_EQ(::unlink(P("fast/x").c_str()), 0) << ErrnoText();
  EXPECT_EQ(::setxattr(P("fast").c_str(), "user.sopfs.store", "9+3", 3, 0), -1);
  EXPECT_EQ(errno, EINVAL);  // 12 shards, 11 folders
  EXPECT_NE(vol_.DaemonLog().find("9+3 needs 12 data folders, the volume has 11"),
            std::string::npos)
      << vol_.DaemonLog();
  EXPECT_EQ(::setxattr(P("fast").c_str(), "user.sopfs.store", "2+1:128K", 8, 0), 0) << ErrnoText();
  EXPECT_EQ(Xattr(P("fast"), "user.sopfs.store"), "2+1:128K");
  ASSERT_NO_FATAL_FAILURE(WritePatternFile(P("fast/a"), 7, 3 * kMiB + 5, 100000));
  ASSERT_EQ(::mkdir(P("fast/sub").c_str(), 0755), 0) << ErrnoText();
  ASSERT_NO_FATAL_FAILURE(WritePatternFile(P("fast/sub/b"), 8, 200000, 100000));
  EXPECT_EQ(Xattr(P("fast/sub/b"), "user.sopfs.erasure"), "2+1");
  ASSERT_NO_FATAL_FAILURE(WritePatternFile(P("root"), 9, 2 * kMiB, kMiB));

  // Across stores: rename and link are EXDEV, as across file systems; mv copies.
  EXPECT_EQ(::rename(P("fast/a").c_str(), P("media/a").c_str()), -1);
  EXPECT_EQ(errno, EXDEV);
  EXPECT_EQ(::link(P("root").c_str(), P("media/root").c_str()), -1);
  EXPECT_EQ(errno, EXDEV);
  EXPECT_EQ(::rename(P("fast/sub").c_str(), P("sub").c_str()), -1);
  EXPECT_EQ(errno, EXDEV);
  CommandResult mv = RunCommand({"mv", P("fast/a"), P("media/a")}, std::chrono::seconds(60));
  EXPECT_EQ(mv.exit_code, 0) << mv.output;
  EXPECT_EQ(Xattr(P("media/a"), "user.sopfs.erasure"), "8+3");
  // Within a store, and a store's directory itself within its parent's: plain renames.
  ASSERT_EQ(::rename(P("fast/sub/b").c_str(), P("fast/b").c_str()), 0) << ErrnoText();
  ASSERT_EQ(::rename(P("fast").c_str(), P("quick").c_str()), 0) << ErrnoText();

  ASSERT_NO_FATAL_FAILURE(vol_.Remount());
  EXPECT_EQ(Xattr(P("quick"), "user.sopfs.store"), "2+1:128K");
  EXPECT_EQ(Xattr(P("quick/b"), "user.sopfs.chunk_size"), "131072");
  ExpectPatternFile(P("media/a"), 7, 3 * kMiB + 5);
  ExpectPatternFile(P("quick/b"), 8, 200000);
  ExpectPatternFile(P("root"), 9, 2 * kMiB);
  EXPECT_FALSE(fs::exists(P("quick/a")));

  // Every store's tree is the file system's: a check finds nothing wrong.
  ASSERT_NO_FATAL_FAILURE(vol_.Unmount());
  CommandResult fsck = RunCommand({SopfsBin(), "fsck", vol_.volume()}, std::chrono::seconds(300));
  EXPECT_EQ(fsck.exit_code, 0) << fsck.output;
  ASSERT_NO_FATAL_FAILURE(vol_.Mount());
}

// A store on folders of its own (@FIRST-LAST): every shard of its files stays there, so
// losing other folders does not touch it.
TEST_F(FsStoreTest, StoreOnChosenDataFoldersKeepsEveryShardThere) {
  EXPECT_EQ(::mkdir(P("pinned").c_str(), 0755), 0) << ErrnoText();
  EXPECT_EQ(::setxattr(P("pinned").c_str(), "user.sopfs.store", "2+1@8-11", 8, 0), -1);
  EXPECT_EQ(errno, EINVAL);  // folder 11 does not exist
  EXPECT_EQ(::setxattr(P("pinned").c_str(), "user.sopfs.store", "2+1@8-9", 7, 0), -1);
  EXPECT_EQ(errno, EINVAL);  // two folders for three shards
  ASSERT_EQ(::setxattr(P("pinned").c_str(), "user.sopfs.store", "2+1@8-10", 8, 0), 0)
      << ErrnoText();
  EXPECT_EQ(Xattr(P("pinned"), "user.sopfs.store"), "2+1:1M@8-10");
  const std::map<std::string, int> before = ShardsPerBlob(vol_.volume(), kFolders);
  for (int i = 0; i < kFiles; ++i) {
    ASSERT_NO_FATAL_FAILURE(
        WritePatternFile(P("pinned/f" + std::to_string(i)), 200 + i, SizeOf(i), kMiB));
  }
  ASSERT_NO_FATAL_FAILURE(vol_.Unmount());
  // The 3-shard blobs (2+1: no other layout has 3 shards here) are all in folders 8-10.
  std::map<std::string, int> outside;
  for (int f = 0; f < 8; ++f) {
    for (const auto& e :
         fs::recursive_directory_iterator(vol_.volume() + "/data-" + std::to_string(f))) {
      const std::string name = e.path().filename().string();
      if (e.is_regular_file() && name.size() >= 32) ++outside[name.substr(0, name.rfind('.'))];
    }
  }
  int pinned_blobs = 0;
  for (const auto& [blob, shards] : ShardsPerBlob(vol_.volume(), kFolders)) {
    if (before.count(blob) || shards != 3) continue;
    ++pinned_blobs;
    EXPECT_EQ(outside.count(blob), 0u) << blob << " has shards outside folders 8-10";
  }
  EXPECT_GE(pinned_blobs, kFiles);
  // Folders 0-3 lost (the metadata's 4+4 outlives that): every pinned file reads.
  for (int f : {0, 1, 2, 3}) fs::remove_all(vol_.volume() + "/data-" + std::to_string(f));
  ASSERT_NO_FATAL_FAILURE(vol_.Mount());
  for (int i = 0; i < kFiles; ++i) {
    ExpectPatternFile(P("pinned/f" + std::to_string(i)), 200 + i, SizeOf(i));
  }
}

}  // namespace
}  // namespace sopfs::fusetest
