// The mount suites' file helpers (declared in mount_fixture.h): deterministic byte
// patterns, whole-file and positioned reads and writes that fail the test on a short or
// failed call, directory listings checked for '.', '..' and duplicates, .sopfs/stats.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "tests/fuse/mount/mount_fixture.h"

namespace sopfs::fusetest {
namespace {

uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace

void FillPattern(uint64_t seed, uint64_t offset, char* out, size_t n) {
  const uint64_t key = (seed + 1) * 0xD1B54A32D192ED03ULL;
  size_t i = 0;
  while (i < n) {
    const uint64_t pos = offset + i;
    const uint64_t v = Mix((pos / 8) ^ key);
    const unsigned b = pos % 8;
    if (b == 0 && n - i >= 8) {
      std::memcpy(out + i, &v, 8);
      i += 8;
    } else {
      out[i++] = static_cast<char>(v >> (8 * b));
    }
  }
}

std::string Pattern(uint64_t seed, uint64_t offset, size_t n) {
  std::string s(n, '\0');
  FillPattern(seed, offset, s.data(), n);
  return s;
}

void PwriteAll(int fd, std::string_view data, uint64_t offset) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::pwrite(fd, data.data() + done, data.size() - done, offset + done);
    if (n < 0 && errno == EINTR) continue;
    ASSERT_GT(n, 0) << "pwrite of " << data.size() - done << " bytes at " << offset + done << ": "
                    << ErrnoText();
    done += n;
  }
}

std::string PreadUpTo(int fd, uint64_t offset, size_t n) {
  std::string out(n, '\0');
  size_t done = 0;
  while (done < n) {
    ssize_t r = ::pread(fd, out.data() + done, n - done, offset + done);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      ADD_FAILURE() << "pread of " << n - done << " bytes at " << offset + done << ": "
                    << ErrnoText();
      break;
    }
    if (r == 0) break;
    done += r;
  }
  out.resize(done);
  return out;
}

void WriteFile(const std::string& path, std::string_view data, mode_t mode) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  ASSERT_GE(fd, 0) << "open " << path << ": " << ErrnoText();
  PwriteAll(fd, data, 0);
  int rc = ::close(fd);
  ASSERT_EQ(rc, 0) << "close " << path << ": " << ErrnoText();
}

std::string ReadFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    ADD_FAILURE() << "open " << path << ": " << ErrnoText();
    return "<open failed>";
  }
  std::string out;
  char buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ADD_FAILURE() << "read " << path << ": " << ErrnoText();
      break;
    }
    if (n == 0) break;
    out.append(buf, n);
  }
  ::close(fd);
  return out;
}

void WritePatternFile(const std::string& path, uint64_t seed, uint64_t size, size_t block) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0) << "open " << path << ": " << ErrnoText();
  std::string buf(block, '\0');
  for (uint64_t off = 0; off < size; off += block) {
    const size_t n = std::min<uint64_t>(block, size - off);
    FillPattern(seed, off, buf.data(), n);
    size_t done = 0;
    while (done < n) {
      ssize_t w = ::write(fd, buf.data() + done, n - done);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) {
        int err = errno;
        ::close(fd);
        FAIL() << "write " << path << " at " << off + done << ": " << ErrnoText(err);
      }
      done += w;
    }
  }
  int rc = ::close(fd);
  ASSERT_EQ(rc, 0) << "close " << path << " (commit) after writing " << size
                   << " bytes: " << ErrnoText();
}

void ExpectPatternFile(const std::string& path, uint64_t seed, uint64_t size) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0) << "open " << path << ": " << ErrnoText();
  struct stat st {};
  ASSERT_EQ(::fstat(fd, &st), 0) << ErrnoText();
  EXPECT_EQ(static_cast<uint64_t>(st.st_size), size) << path << " size";
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  const size_t kBlock = kMiB;
  std::string got(kBlock, '\0'), want(kBlock, '\0');
  uint64_t off = 0;
  for (;;) {
    size_t filled = 0;
    while (filled < kBlock) {
      ssize_t n = ::read(fd, got.data() + filled, kBlock - filled);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        int err = errno;
        ::close(fd);
        FAIL() << "read " << path << " at " << off + filled << ": " << ErrnoText(err);
      }
      if (n == 0) break;
      filled += n;
    }
    if (filled == 0) break;
    if (off + filled > size) {
      ::close(fd);
      FAIL() << path << ": read past the expected size " << size << " (got bytes up to "
             << off + filled << ")";
    }
    FillPattern(seed, off, want.data(), filled);
    if (std::memcmp(got.data(), want.data(), filled) != 0) {
      int64_t at = FirstDifference(std::string_view(got.data(), filled),
                                   std::string_view(want.data(), filled));
      ::close(fd);
      FAIL() << path << ": wrong byte at offset " << off + at << " (of " << size << ")";
    }
    off += filled;
    if (filled < kBlock) break;
  }
  ::close(fd);
  EXPECT_EQ(off, size) << path << ": read ended early";
}

int64_t FirstDifference(std::string_view a, std::string_view b) {
  const size_t n = std::min(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    if (a[i] != b[i]) return static_cast<int64_t>(i);
  }
  return a.size() == b.size() ? -1 : static_cast<int64_t>(n);
}

std::vector<std::string> ListDir(const std::string& path) {
  std::vector<std::string> names;
  DIR* dir = ::opendir(path.c_str());
  if (dir == nullptr) {
    ADD_FAILURE() << "opendir " << path << ": " << ErrnoText();
    return names;
  }
  int dots = 0, dotdots = 0;
  for (;;) {
    errno = 0;
    struct dirent* e = ::readdir(dir);
    if (e == nullptr) {
      if (errno != 0) ADD_FAILURE() << "readdir " << path << ": " << ErrnoText();
      break;
    }
    std::string name = e->d_name;
    if (name == ".") {
      ++dots;
    } else if (name == "..") {
      ++dotdots;
    } else {
      names.push_back(std::move(name));
    }
  }
  ::closedir(dir);
  EXPECT_EQ(dots, 1) << "readdir " << path << " lists '.' " << dots << " times";
  EXPECT_EQ(dotdots, 1) << "readdir " << path << " lists '..' " << dotdots << " times";
  std::sort(names.begin(), names.end());
  auto dup = std::adjacent_find(names.begin(), names.end());
  EXPECT_TRUE(dup == names.end()) << "readdir " << path << " lists '" << *dup << "' twice";
  return names;
}

std::string StatsField(const MountedVolume& vol, const std::string& key) {
  const std::string stats = ReadFile(vol.Path(".sopfs/stats"));
  const std::string tag = "\"" + key + "\":";
  const size_t at = stats.find(tag);
  if (at == std::string::npos) return "";
  const size_t from = at + tag.size();
  if (stats[from] == '"') return stats.substr(from + 1, stats.find('"', from + 1) - from - 1);
  return stats.substr(from, stats.find_first_of(",}", from) - from);
}

}  // namespace sopfs::fusetest
