// The kernel's read-ahead for a FUSE mount.
//
// The kernel reads a FUSE file ahead by at most its backing device's read_ahead_kb,
// 128 KiB by default whatever the daemon offers at INIT, so a sequential reader of a
// 1 MiB-chunk file costs eight READ round trips per chunk. The daemon raises it for its
// own mount (/sys/class/bdi/MAJOR:MINOR/read_ahead_kb), which needs root; elsewhere the
// default stays and reads are only slower.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "engine/status.h"

namespace sopfs {

// What the daemon offers at INIT and sets for its mount: one READ request's worth.
constexpr uint32_t kReadAheadBytes = 1u << 20;

// A mountinfo field with its \ooo escapes (space, tab, newline, backslash) undone.
std::string UnescapeMountinfo(std::string_view field);

// The "MAJOR:MINOR" of the newest mount at `mountpoint` in /proc/PID/mountinfo text.
std::optional<std::string> MountDevice(std::string_view mountinfo, std::string_view mountpoint);

// Sets the read-ahead of the mount at `mountpoint` (a canonical path) to `kib` KiB.
// Reads no file below the mount point, so it is safe before the session loop runs.
Status SetKernelReadAhead(const std::string& mountpoint, uint32_t kib);

}  // namespace sopfs
