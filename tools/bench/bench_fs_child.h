// Child processes of `sopfs bench fs`: `sopfs format`, the `sopfs mount -f` daemon and
// fusermount3. Each child gets /dev/null as stdin and a log file as stdout and stderr
// (so nothing it prints can end up after the benchmark's JSON line), runs in a process
// group of its own (a Ctrl-C reaches the benchmark only, which then cleans up in order),
// and gets SIGTERM if the benchmark dies.
#pragma once

#include <sys/resource.h>
#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "engine/status.h"

namespace sopfs::tools {

// Starts argv[0] (a path, or a name looked up in PATH) with the rest as arguments.
Result<pid_t> SpawnChild(const std::vector<std::string>& argv, const std::string& log_path);

// Waits at most `seconds` for `pid` to end and reaps it. Returns its wait status, or
// nullopt when it is still running. `usage`, when given, gets the child's resource use
// (ru_maxrss: its peak RSS in KiB).
std::optional<int> WaitForChild(pid_t pid, double seconds, struct rusage* usage = nullptr);

// SIGKILL, then reap.
void KillChild(pid_t pid);

// Spawns, waits at most `seconds` (killing the child on time-out). Ok when it exited
// with 0; otherwise an error naming the command, its status and the tail of its log.
Status RunChild(const std::vector<std::string>& argv, const std::string& log_path, double seconds);

// This program's own path (/proc/self/exe): benchmarks run `sopfs` subcommands as
// children.
std::string SelfPath();

// "exit code 3", "killed by signal 9".
std::string DescribeWaitStatus(int status);

// The last `max_bytes` of a file ("" when there is none).
std::string FileTail(const std::string& path, size_t max_bytes);

}  // namespace sopfs::tools
