// sopfs.conf (fuse/volume/volume_config.h): written durably and read back to the same config,
// relative paths resolved against the volume, one-line errors naming key and value, the
// [mount] section accepted, the default volume's place.
#include "fuse/volume/volume_config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace sopfs {
namespace {

namespace fs = std::filesystem;

class CliVolumeConfig : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/sopfs-volume-config.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }

  void WriteConf(const std::string& text) { std::ofstream(dir_ + "/sopfs.conf") << text; }
  std::string ReadConf() {
    std::ifstream in(dir_ + "/sopfs.conf");
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
  // The error of reading the current sopfs.conf; fails the test if it reads fine.
  Status ReadError() {
    auto config = ReadVolumeConfig(dir_);
    EXPECT_FALSE(config.ok());
    return config.status();
  }

  static constexpr const char* kGood =
      "data = d0\ndata = d1\ndata = d2\nregistry = ra\nregistry = rb\nec = 2+1\n";
  std::string dir_;
};

TEST_F(CliVolumeConfig, DefaultLayoutRoundTripsWithRelativePaths) {
  VolumeConfig config = DefaultVolumeConfig(dir_);
  ASSERT_EQ(config.data_folders.size(), 6u);
  EXPECT_EQ(config.data_folders[5], dir_ + "/data-5");
  EXPECT_EQ(config.registry_b, dir_ + "/registry-b");
  EXPECT_EQ(config.log_folder, dir_ + "/log");
  ASSERT_TRUE(WriteVolumeConfig(config).ok());
  // Inside the volume the file names folders relatively, so the volume can move.
  EXPECT_NE(ReadConf().find("data = data-0\n"), std::string::npos) << ReadConf();
  EXPECT_EQ(ReadConf().find(dir_), std::string::npos) << ReadConf();
  EXPECT_FALSE(fs::exists(dir_ + "/sopfs.conf.tmp"));

  auto read = ReadVolumeConfig(dir_ + "/");
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ(read->dir, dir_);
  EXPECT_EQ(read->data_folders, config.data_folders);
  EXPECT_EQ(read->registry_a, config.registry_a);
  EXPECT_EQ(read->registry_b, config.registry_b);
  EXPECT_EQ(read->log_folder, config.log_folder);
  EXPECT_EQ(read->layout, (ErasureLayout{.k = 4, .m = 2}));
  EXPECT_EQ(read->chunk_size, 1u << 20);

  EngineOptions options = EngineOptionsFor(*read);
  EXPECT_EQ(options.data_folders, config.data_folders);
  EXPECT_EQ(options.registry_a, config.registry_a);
  EXPECT_EQ(options.log_folder, config.log_folder);
  EXPECT_EQ(options.layout, config.layout);
}

TEST_F(CliVolumeConfig, FoldersOutsideTheVolumeStayAbsolute) {
  VolumeConfig config = DefaultVolumeConfig(dir_ + "/vol", {.k = 2, .m = 1});
  config.data_folders = {dir_ + "/a", dir_ + "/b", dir_ + "/c"};
  config.registry_a = dir_ + "/ra";
  config.chunk_size = 256u << 10;
  fs::create_directory(dir_ + "/vol");
  ASSERT_TRUE(WriteVolumeConfig(config).ok());
  auto read = ReadVolumeConfig(dir_ + "/vol");
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ(read->data_folders, config.data_folders);
  EXPECT_EQ(read->registry_a, dir_ + "/ra");
  EXPECT_EQ(read->registry_b, dir_ + "/vol/registry-b");
  EXPECT_EQ(read->layout, (ErasureLayout{.k = 2, .m = 1}));
  EXPECT_EQ(read->chunk_size, 256u << 10);
}

TEST_F(CliVolumeConfig, SecondWriteIsRefusedAndChangesNothing) {
  ASSERT_TRUE(WriteVolumeConfig(DefaultVolumeConfig(dir_)).ok());
  const std::string before = ReadConf();
  Status again = WriteVolumeConfig(DefaultVolumeConfig(dir_, {.k = 1, .m = 0}));
  EXPECT_EQ(again.code(), EEXIST);
  EXPECT_EQ(ReadConf(), before);
}

TEST_F(CliVolumeConfig, MissingVolumeSaysHowToMakeOne) {
  Status st = ReadError();
  EXPECT_EQ(st.code(), ENOENT);
  EXPECT_NE(st.message().find("no sopfs volume at " + dir_), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("sopfs format"), std::string::npos) << st.message();
}

TEST_F(CliVolumeConfig, RelativePathsResolveAgainstTheVolumeNotTheWorkingDirectory) {
  WriteConf(std::string(kGood) + "log = ../elsewhere/log\n");
  auto read = ReadVolumeConfig(dir_);
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ(read->data_folders[0], dir_ + "/d0");
  EXPECT_EQ(read->registry_b, dir_ + "/rb");
  EXPECT_EQ(read->log_folder, fs::path(dir_).parent_path().string() + "/elsewhere/log");
}

TEST_F(CliVolumeConfig, ChunkSizeSpellings) {
  for (const char* ok : {"1048576", "1M", "4MiB", "64K", "64M"}) {
    WriteConf(std::string(kGood) + "chunk-size = " + ok + "\n");
    EXPECT_TRUE(ReadVolumeConfig(dir_).ok()) << ok;
  }
  for (const char* bad : {"0", "32K", "100K", "128M", "1T", "big", "-1M"}) {
    WriteConf(std::string(kGood) + "chunk-size = " + bad + "\n");
    Status st = ReadError();
    EXPECT_EQ(st.code(), EINVAL) << bad;
    EXPECT_NE(st.message().find(std::string("chunk-size = '") + bad + "'"), std::string::npos)
        << st.message();
  }
}

TEST_F(CliVolumeConfig, BadValuesGetOneLineNamingKeyAndValue) {
  const std::pair<std::string, std::string> cases[] = {
      {std::string(kGood) + "colour = blue\n", "unknown key 'colour'"},
      {std::string(kGood) + "[mount]\ncolour = blue\n", "unknown key 'colour' in section [mount]"},
      {"data = d0\nregistry = ra\nregistry = rb\nec = 4-2\n", "ec = '4-2'"},
      {"data = d0\nregistry = ra\nregistry = rb\nec = 0+1\n", "ec = 0+1"},
      {"data = d0\nregistry = ra\nregistry = rb\n", "ec = 4+2 needs at least 6 data folders"},
      {std::string(kGood) + "ec = 1+1\n", "key 'ec' is given more than once"},
      {"registry = ra\nregistry = rb\n", "no 'data' key"},
      {"data = d0\nec = 1+0\n", "no 'registry' key"},
      {"data = d0\nec = 1+0\nregistry = a\nregistry = b\nregistry = c\n", "exactly two"},
      {"data = d0\nec = 1+0\nregistry = d0\nregistry = b\n", "d0 is named twice"},
      {std::string(kGood) + "log = rb\n", "rb is named twice"},
      {"data =\nregistry = a\nregistry = b\nec = 1+0\n", "data = ''"},
      {"\x01\x02\xff junk\n", "invalid line"},
  };
  for (const auto& [text, expected] : cases) {
    WriteConf(text);
    Status st = ReadError();
    EXPECT_EQ(st.code(), EINVAL) << text;
    EXPECT_NE(st.message().find(expected), std::string::npos) << "for:\n"
                                                              << text << "got: " << st.message();
    EXPECT_EQ(st.message().find('\n'), std::string::npos) << st.message();
    EXPECT_EQ(st.message().rfind(dir_ + "/sopfs.conf: ", 0), 0u) << st.message();
  }
}

TEST_F(CliVolumeConfig, MountSectionIsIgnoredByTheVolumeAndReadForMount) {
  WriteConf(std::string(kGood) +
            "[mount]\noptions = allow_other,noatime\ncommit-interval = 2s\nattr-timeout = 5\n");
  ASSERT_TRUE(ReadVolumeConfig(dir_).ok());
  auto defaults = ReadMountDefaults(dir_);
  ASSERT_TRUE(defaults.ok()) << defaults.status().ToString();
  EXPECT_EQ(defaults->options, "allow_other,noatime");
  EXPECT_EQ(defaults->commit_interval, "2s");
  EXPECT_EQ(defaults->attr_timeout, "5");

  WriteConf(kGood);
  defaults = ReadMountDefaults(dir_);
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults->options, "");
}

TEST_F(CliVolumeConfig, DefaultVolumeDirFollowsXdgThenHome) {
  const char* old_xdg = std::getenv("XDG_DATA_HOME");
  const char* old_home = std::getenv("HOME");
  const std::string saved_xdg = old_xdg ? old_xdg : "";
  const std::string saved_home = old_home ? old_home : "";

  setenv("XDG_DATA_HOME", "/xdg/data/", 1);
  setenv("HOME", "/home/someone", 1);
  EXPECT_EQ(DefaultVolumeDir(), "/xdg/data/sopfs/default");
  setenv("XDG_DATA_HOME", "relative/is/ignored", 1);
  EXPECT_EQ(DefaultVolumeDir(), "/home/someone/.local/share/sopfs/default");
  unsetenv("XDG_DATA_HOME");
  EXPECT_EQ(DefaultVolumeDir(), "/home/someone/.local/share/sopfs/default");

  old_xdg ? setenv("XDG_DATA_HOME", saved_xdg.c_str(), 1) : unsetenv("XDG_DATA_HOME");
  old_home ? setenv("HOME", saved_home.c_str(), 1) : unsetenv("HOME");
}

TEST_F(CliVolumeConfig, ValidationRefusesWhatCannotBeAVolume) {
  VolumeConfig config = DefaultVolumeConfig(dir_);
  EXPECT_TRUE(ValidateVolumeConfig(config).ok());
  config.chunk_size = 3u << 20;
  EXPECT_EQ(ValidateVolumeConfig(config).code(), EINVAL);
  config = DefaultVolumeConfig(dir_);
  config.layout = {.k = 5, .m = 2};  // 7 shards, 6 folders
  EXPECT_EQ(ValidateVolumeConfig(config).code(), EINVAL);
  config.layout = {.k = 3, .m = 2};  // more folders than shards: they spread
  EXPECT_TRUE(ValidateVolumeConfig(config).ok());
  config = DefaultVolumeConfig(dir_);
  config.registry_b = config.registry_a;
  EXPECT_EQ(ValidateVolumeConfig(config).code(), EINVAL);
  config = DefaultVolumeConfig(dir_);
  config.data_folders[0] = "relative";
  EXPECT_EQ(ValidateVolumeConfig(config).code(), EINVAL);
  // Nothing invalid is ever written.
  EXPECT_EQ(WriteVolumeConfig(config).code(), EINVAL);
  EXPECT_FALSE(fs::exists(dir_ + "/sopfs.conf"));
}

}  // namespace
}  // namespace sopfs
