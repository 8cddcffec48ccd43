// mount.sopfs: the mount(8) helper, so that `mount -t sopfs`, `mount -t fuse.sopfs` and
// /etc/fstab entries of type fuse.sopfs work. mount(8) looks for /sbin/mount.TYPE: for
// type fuse.sopfs that is /sbin/mount.fuse.sopfs, so install this program under both
// names (it does not care which one it was called by).
//
// mount(8) calls `mount.sopfs VOLUME MOUNTPOINT [-sfnvrw] [-N NS] [-o OPTIONS] [-t TYPE]`.
// This program turns that into `sopfs mount VOLUME MOUNTPOINT [-o OPTIONS]` and execs it,
// after dropping the options that only mean something to fstab (noauto, nofail, _netdev,
// ...). `sopfs` is looked for next to this program, then in ../bin (sbin/ and bin/ of one
// installation), then in PATH. `sopfs mount` returns once the mount is ready, which is
// what mount(8) waits for. Standalone on purpose: it links nothing but the C++ runtime.
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace {

constexpr const char* kUsage =
    "usage: mount.sopfs VOLUME MOUNTPOINT [-sfnvrw] [-o OPTION[,OPTION]...]\n"
    "\n"
    "The mount(8) helper for sopfs (type sopfs or fuse.sopfs in /etc/fstab). Runs\n"
    "'sopfs mount VOLUME MOUNTPOINT -o OPTIONS' without the fstab-only options\n"
    "(defaults, auto, noauto, nofail, _netdev, user, users, x-*, comment=).\n"
    "\n"
    "flags from mount(8):\n"
    "  -f  fake: check the arguments, mount nothing\n"
    "  -v  print the command that is run\n"
    "  -r  read-only (-o ro); -w read-write (-o rw)\n"
    "  -s, -n  accepted and ignored (sloppy options, no mtab)\n"
    "\n"
    "Run 'sopfs mount --help' for the mount options.\n";

int BadArgument(const std::string& message) {
  std::fprintf(stderr, "mount.sopfs: %s (try --help)\n", message.c_str());
  return 2;
}

// Options that only fstab, mount(8) or systemd read; `sopfs mount` would ignore them too
// (tools/cmd_mount.cc), dropping them here keeps the command line short.
bool IsFstabOnly(const std::string& option) {
  const std::string name = option.substr(0, option.find('='));
  static const char* const kNames[] = {"defaults", "auto",   "noauto", "nofail", "_netdev", "user",
                                       "users",    "nouser", "owner",  "group",  "comment"};
  if (name.rfind("x-", 0) == 0) return true;
  for (const char* n : kNames) {
    if (name == n) return true;
  }
  return false;
}

void AddOptions(const std::string& list, std::vector<std::string>& kept) {
  size_t start = 0;
  while (start <= list.size()) {
    size_t comma = list.find(',', start);
    if (comma == std::string::npos) comma = list.size();
    const std::string option = list.substr(start, comma - start);
    start = comma + 1;
    if (!option.empty() && !IsFstabOnly(option)) kept.push_back(option);
  }
}

// The sopfs binary of this installation, else plain "sopfs" (execvp searches PATH).
std::string FindSopfs() {
  char self[4096];
  const ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n > 0) {
    std::string dir(self, static_cast<size_t>(n));
    dir.erase(dir.rfind('/') + 1);
    for (const char* rel : {"sopfs", "../bin/sopfs"}) {
      const std::string candidate = dir + rel;
      if (access(candidate.c_str(), X_OK) == 0) return candidate;
    }
  }
  return "sopfs";
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> paths;
  std::vector<std::string> options;
  bool fake = false;
  bool verbose = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (arg.size() < 2 || arg[0] != '-') {
      paths.push_back(arg);
      continue;
    }
    // Flags may be grouped ("-fv", "-fo rw"); -o, -t and -N take a value, glued on
    // ("-orw") or as the next argument.
    for (size_t j = 1; j < arg.size(); ++j) {
      const char flag = arg[j];
      if (flag == 'o' || flag == 't' || flag == 'N') {
        std::string value = arg.substr(j + 1);
        if (value.empty()) {
          if (++i == argc) return BadArgument(std::string("-") + flag + " needs a value");
          value = argv[i];
        }
        if (flag == 'o') AddOptions(value, options);
        if (flag == 'N') return BadArgument("-N (mount namespaces) is not supported");
        break;  // -t: the type is ours by definition
      }
      switch (flag) {
        case 'f':
          fake = true;
          break;
        case 'v':
          verbose = true;
          break;
        case 'r':
          options.push_back("ro");
          break;
        case 'w':
          options.push_back("rw");
          break;
        case 's':
        case 'n':
          break;
        default:
          return BadArgument("unknown flag '" + arg + "'");
      }
    }
  }
  if (paths.size() != 2) {
    return BadArgument(paths.size() < 2 ? "needs VOLUME and MOUNTPOINT"
                                        : "unexpected argument '" + paths[2] + "'");
  }

  const std::string sopfs = FindSopfs();
  std::vector<std::string> args = {sopfs, "mount", paths[0], paths[1]};
  if (!options.empty()) {
    std::string joined;
    for (const std::string& o : options) joined += (joined.empty() ? "" : ",") + o;
    args.push_back("-o");
    args.push_back(joined);
  }
  if (verbose || fake) {
    std::string line;
    for (const std::string& a : args) line += (line.empty() ? "" : " ") + a;
    std::fprintf(stderr, "mount.sopfs: %s%s\n", fake ? "would run " : "", line.c_str());
  }
  if (fake) return 0;
  std::vector<char*> cargs;
  for (std::string& a : args) cargs.push_back(a.data());
  cargs.push_back(nullptr);
  execvp(cargs[0], cargs.data());
  std::fprintf(stderr, "mount.sopfs: cannot run %s: %s\n", sopfs.c_str(), std::strerror(errno));
  return 1;
}
