// The control files (SPEC §3): a virtual directory `.sopfs/` at the root of every
// mount, never stored. `.sopfs/txn` takes begin / begin readonly / commit / rollback and
// shows the caller's transaction; `.sopfs/stats` and `.sopfs/health` show counters and
// the state of the volume's folders, as JSON.
//
// `.sopfs` is reachable by name but not listed in the root directory, so `ls -a`,
// `rm -r` and `cp -a` of the mount's contents never meet it; nothing can be created,
// removed or renamed in it or over it (EPERM). Its inode numbers sit at the top of the
// 64-bit range, which the file system never hands out.
#pragma once

#include <sys/stat.h>

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/txn/engine.h"
#include "engine/txn/scrubber.h"
#include "fuse/control/request_transport.h"
#include "fuse/control/session_table.h"
#include "fuse/fs/file_system.h"

namespace sopfs::control {

inline constexpr uint64_t kDirIno = 0xffffffffffffff00ULL;
inline constexpr uint64_t kTxnIno = kDirIno + 1;
inline constexpr uint64_t kStatsIno = kDirIno + 2;
inline constexpr uint64_t kHealthIno = kDirIno + 3;
inline constexpr std::string_view kDirName = ".sopfs";

inline bool IsControl(uint64_t ino) { return ino >= kDirIno && ino <= kHealthIno; }
// True for the name `.sopfs` in the root: reserved.
inline bool IsReserved(uint64_t parent, std::string_view name) {
  return parent == FileSystem::kRootIno && name == kDirName;
}

// The attributes of a control inode (owned by `uid`/`gid`, the daemon's user).
struct stat Stat(uint64_t ino, uint32_t uid, uint32_t gid, int64_t mounted_ns);
// The control file named `name` in `.sopfs/`.
std::optional<uint64_t> Child(std::string_view name);
// The name of a control file in `.sopfs/` ("txn", "stats", "health").
std::string_view NameOf(uint64_t ino);
std::vector<ListedEntry> List();

// What each request does, for .sopfs/stats.
struct RequestCounters {
  std::atomic<uint64_t> ops{0};
  std::atomic<uint64_t> reads{0};
  std::atomic<uint64_t> writes{0};
  std::atomic<uint64_t> bytes_read{0};
  std::atomic<uint64_t> bytes_written{0};
  std::atomic<uint64_t> errors{0};           // replies with an errno other than ENOENT / ENODATA
  std::atomic<uint64_t> direct_io_opens{0};  // file handles that bypass the page cache
};

struct Sources {
  Engine* engine = nullptr;
  FileSystem* fs = nullptr;
  SessionTable* sessions = nullptr;
  const RequestCounters* requests = nullptr;
  const RequestTransport* transport = nullptr;  // how requests arrive
  std::vector<std::string> data_folders;
  const Scrubber* scrubber = nullptr;  // null: no scrub (read-only, or not mounted)
};

std::string StatsJson(const Sources& sources);
// Needs only `engine` and `data_folders` (sopfs status uses it without a mount).
std::string HealthJson(const Sources& sources);

}  // namespace sopfs::control
