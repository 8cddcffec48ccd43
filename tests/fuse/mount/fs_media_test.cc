// Media through a real mount: a video copied onto the mount decodes, after seeks, to the
// same frames as the local copy (ffmpeg reads with seeks and read-ahead, the way players
// do). ffmpeg is required: without it the test fails (CI installs it).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/fuse/mount/mount_fixture.h"

namespace sopfs::fusetest {
namespace {

class FsMediaTest : public FuseFsTest {};

constexpr int kWidth = 640;
constexpr int kHeight = 360;

void CopyFile(const std::string& from, const std::string& to) {
  const std::string data = ReadFile(from);
  ASSERT_FALSE(data.empty()) << from << " is empty";
  int fd = ::open(to.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0) << "open " << to << ": " << ErrnoText();
  for (size_t off = 0; off < data.size(); off += 256 * kKiB) {
    const size_t n = std::min<size_t>(256 * kKiB, data.size() - off);
    ssize_t w = ::write(fd, data.data() + off, n);
    ASSERT_EQ(w, static_cast<ssize_t>(n)) << "write " << to << " at " << off << ": " << ErrnoText();
  }
  ASSERT_EQ(::close(fd), 0) << "close " << to << ": " << ErrnoText();
}

// One decoded RGB frame at `seek_s` seconds of `video`.
std::string FrameAt(const std::string& video, const std::string& seek_s, const std::string& out) {
  CommandResult r =
      RunCommand({"ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-ss", seek_s,
                  "-i", video, "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", out},
                 std::chrono::seconds(120));
  EXPECT_FALSE(r.timed_out) << "ffmpeg decode of " << video << " timed out";
  EXPECT_EQ(r.exit_code, 0) << "ffmpeg -ss " << seek_s << " -i " << video << ": " << r.output;
  return ReadFile(out);
}

TEST_F(FsMediaTest, SeekingIntoAVideoOnTheMountDecodesTheSameFramesAsTheLocalCopy) {
  ASSERT_TRUE(HaveProgram("ffmpeg")) << "ffmpeg is not installed (needed by this test)";
  CommandResult encoders =
      RunCommand({"ffmpeg", "-hide_banner", "-encoders"}, std::chrono::seconds(60));
  const bool x264 = encoders.output.find("libx264") != std::string::npos;
  const std::string native = vol_.scratch() + "/clip.mp4";
  std::vector<std::string> args = {
      "ffmpeg",
      "-hide_banner",
      "-nostdin",
      "-loglevel",
      "error",
      "-y",
      "-f",
      "lavfi",
      "-i",
      "testsrc2=size=" + std::to_string(kWidth) + "x" + std::to_string(kHeight) + ":rate=25",
      "-f",
      "lavfi",
      "-i",
      "sine=frequency=440:sample_rate=44100",
      "-t",
      "20"};
  if (x264) {
    args.insert(args.end(), {"-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p"});
  } else {
    args.insert(args.end(), {"-c:v", "mpeg4", "-q:v", "4"});
  }
  args.insert(args.end(), {"-c:a", "aac", "-b:a", "96k", "-threads", "2", native});
  CommandResult gen = RunCommand(args, std::chrono::seconds(300));
  ASSERT_FALSE(gen.timed_out) << "generating the test video timed out";
  ASSERT_EQ(gen.exit_code, 0) << "generating the test video: " << gen.output;
  struct stat st {};
  ASSERT_EQ(::stat(native.c_str(), &st), 0) << ErrnoText();
  ASSERT_GT(st.st_size, 100 * 1024) << "the generated video is suspiciously small";

  ASSERT_EQ(::mkdir(P("media").c_str(), 0755), 0) << ErrnoText();
  const std::string mounted = P("media/clip.mp4");
  ASSERT_NO_FATAL_FAILURE(CopyFile(native, mounted));
  ASSERT_NO_FATAL_FAILURE(vol_.Remount());  // read from the volume, not the page cache
  EXPECT_EQ(FirstDifference(ReadFile(mounted), ReadFile(native)), -1)
      << "the copy on the mount differs from the local file";

  const size_t frame_size = static_cast<size_t>(kWidth) * kHeight * 3;
  for (const char* seek : {"12.3", "3.7", "19.5", "0"}) {
    SCOPED_TRACE(std::string("seek to ") + seek + " s");
    const std::string from_mount = FrameAt(mounted, seek, vol_.scratch() + "/mount.raw");
    const std::string from_native = FrameAt(native, seek, vol_.scratch() + "/native.raw");
    ASSERT_EQ(from_native.size(), frame_size) << "decoding the local copy";
    ASSERT_EQ(from_mount.size(), frame_size) << "decoding the copy on the mount";
    EXPECT_TRUE(from_mount == from_native)
        << "frames differ from byte " << FirstDifference(from_mount, from_native);
  }
  // Two different seek points give different frames (the comparison means something).
  EXPECT_TRUE(FrameAt(native, "12.3", vol_.scratch() + "/a.raw") !=
              FrameAt(native, "3.7", vol_.scratch() + "/b.raw"));
}

}  // namespace
}  // namespace sopfs::fusetest
