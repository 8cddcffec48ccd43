// The volume's mode marker (fuse/volume/volume_mode.h): absent means standalone, a
// clustered volume reads back its id, removal returns it to standalone, and anything
// else at the marker's place is an error naming the file, never taken for standalone.
#include "fuse/volume/volume_mode.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>

namespace sopfs {
namespace {

namespace fs = std::filesystem;

constexpr char kId[] = "0123456789abcdef0123456789abcdef";

class ClusterVolumeModeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/sopfs-volume-mode.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    log_ = tmpl;
  }
  void TearDown() override { fs::remove_all(log_); }

  void WriteMarker(const std::string& text) {
    fs::create_directories(log_ + "/cluster");
    std::ofstream(VolumeModePath(log_), std::ios::binary) << text;
  }
  Status ReadError() {
    Result<VolumeMode> mode = ReadVolumeMode(log_);
    EXPECT_FALSE(mode.ok());
    return mode.ok() ? Status::Ok() : mode.status();
  }

  std::string log_;
};

TEST_F(ClusterVolumeModeTest, NoMarkerMeansStandalone) {
  Result<VolumeMode> mode = ReadVolumeMode(log_);
  ASSERT_TRUE(mode.ok()) << mode.status().ToString();
  EXPECT_FALSE(mode->clustered);
  EXPECT_TRUE(mode->cluster_id.empty());
  EXPECT_TRUE(RequireStandalone("/v", log_).ok());
}

TEST_F(ClusterVolumeModeTest, MarkedVolumeReadsBackItsIdAndUnmarkingMakesItStandalone) {
  ASSERT_TRUE(MakeClustered(log_, kId).ok());
  Result<VolumeMode> mode = ReadVolumeMode(log_);
  ASSERT_TRUE(mode.ok()) << mode.status().ToString();
  EXPECT_TRUE(mode->clustered);
  EXPECT_EQ(mode->cluster_id, kId);
  EXPECT_FALSE(fs::exists(VolumeModePath(log_) + ".new")) << "the aside file was left behind";
  EXPECT_EQ(fs::status(log_ + "/cluster").permissions() & fs::perms::all, fs::perms::owner_all);

  Status refused = RequireStandalone("/vol", log_);
  EXPECT_EQ(refused.code(), EMEDIUMTYPE);
  EXPECT_NE(refused.message().find("volume /vol is clustered (cluster " + std::string(kId)),
            std::string::npos)
      << refused.message();
  EXPECT_NE(refused.message().find(VolumeModePath(log_)), std::string::npos) << refused.message();

  ASSERT_TRUE(MakeStandalone(log_).ok());
  mode = ReadVolumeMode(log_);
  ASSERT_TRUE(mode.ok());
  EXPECT_FALSE(mode->clustered);
  EXPECT_TRUE(MakeStandalone(log_).ok()) << "removing an absent marker is not an error";
}

TEST_F(ClusterVolumeModeTest, MarkingAgainReplacesTheId) {
  ASSERT_TRUE(MakeClustered(log_, kId).ok());
  const std::string other = NewClusterId();
  ASSERT_TRUE(MakeClustered(log_, other).ok());
  Result<VolumeMode> mode = ReadVolumeMode(log_);
  ASSERT_TRUE(mode.ok());
  EXPECT_EQ(mode->cluster_id, other);
}

TEST_F(ClusterVolumeModeTest, ALeftoverAsideFileFromACrashIsIgnored) {
  fs::create_directories(log_ + "/cluster");
  std::ofstream(VolumeModePath(log_) + ".new") << "sopfs-clus";  // cut by a crash
  Result<VolumeMode> mode = ReadVolumeMode(log_);
  ASSERT_TRUE(mode.ok());
  EXPECT_FALSE(mode->clustered);
  ASSERT_TRUE(MakeClustered(log_, kId).ok());
  mode = ReadVolumeMode(log_);
  ASSERT_TRUE(mode.ok());
  EXPECT_EQ(mode->cluster_id, kId);
}

TEST_F(ClusterVolumeModeTest, AnythingButAMarkerIsAnErrorNamingTheFileNeverStandalone) {
  for (const std::string& text :
       {std::string(), std::string("\n"), std::string("sopfs-cluster"),
        std::string("sopfs-cluster 1"), std::string("sopfs-cluster 1 ") + kId + " extra",
        std::string("sopfs-cluster 1 0123"),
        std::string("sopfs-cluster 1 ") + "0123456789ABCDEF" + "0123456789ABCDEF",
        std::string("sopfs-cluster x ") + kId, std::string("standalone"),
        std::string("sopfs-cluster 1 ") + kId + "\n\n", std::string(300, 'a'),
        std::string("\x01\xff\x00garbage", 10)}) {
    WriteMarker(text);
    Status st = ReadError();
    EXPECT_EQ(st.code(), EIO) << "marker \"" << text << "\": " << st.ToString();
    EXPECT_NE(st.message().find(VolumeModePath(log_)), std::string::npos) << st.message();
    EXPECT_NE(st.message().find("not a cluster mode marker"), std::string::npos) << st.message();
    EXPECT_FALSE(RequireStandalone("/v", log_).ok()) << "marker \"" << text << "\"";
  }
}

TEST_F(ClusterVolumeModeTest, ANewerFormatIsRefusedAsSuch) {
  WriteMarker(std::string("sopfs-cluster 2 ") + kId + "\n");
  Status st = ReadError();
  EXPECT_EQ(st.code(), ENOTSUP);
  EXPECT_NE(st.message().find("format 2, which a newer sopfs wrote"), std::string::npos)
      << st.message();
}

TEST_F(ClusterVolumeModeTest, AMarkerThatCannotBeReadIsAnError) {
  fs::create_directories(VolumeModePath(log_));  // a folder where the file should be
  Status st = ReadError();
  EXPECT_EQ(st.code(), EISDIR) << st.ToString();
  EXPECT_NE(st.message().find("cannot read the volume's mode marker"), std::string::npos);
}

TEST_F(ClusterVolumeModeTest, BadIdsAreRefusedAndNewIdsAreValidAndDistinct) {
  EXPECT_EQ(MakeClustered(log_, "").code(), EINVAL);
  EXPECT_EQ(MakeClustered(log_, "xyz").code(), EINVAL);
  EXPECT_EQ(MakeClustered(log_, std::string(kId) + "0").code(), EINVAL);
  EXPECT_FALSE(fs::exists(VolumeModePath(log_)));
  std::set<std::string> ids;
  for (int i = 0; i < 100; ++i) {
    const std::string id = NewClusterId();
    ASSERT_TRUE(MakeClustered(log_, id).ok()) << id;
    ids.insert(id);
  }
  EXPECT_EQ(ids.size(), 100u);
}

TEST_F(ClusterVolumeModeTest, AMissingLogFolderIsAClearError) {
  Status st = MakeClustered(log_ + "/gone", kId);
  EXPECT_EQ(st.code(), ENOENT);
  EXPECT_NE(st.message().find(log_ + "/gone/cluster"), std::string::npos) << st.message();
}

}  // namespace
}  // namespace sopfs
