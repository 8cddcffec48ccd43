// The volume's mode: standalone (one daemon, the default) or clustered (several daemons
// coordinated through Redis; docs/CLUSTER.md). The mode is state on the volume, not in
// Redis, so that every program that opens the volume decides it the same way.
//
// The marker is the file LOG/cluster/mode (LOG: the volume's log folder). Absent: the
// volume is standalone. Present: it holds one line, "sopfs-cluster 1 <id>", where <id>
// is the cluster's random 128-bit id in 32 lower-case hex digits (it prefixes the
// cluster's Redis keys, so a volume formatted again never meets its old keys).
//
// Written the crash-safe way: a file aside, fsynced, renamed over the marker, and the
// folder fsynced; removed with an unlink and a folder fsync. A crash leaves the old mode
// or the new one, never a half marker. A marker that cannot be read or parsed is an
// error, never taken for "standalone": a volume's mode is never guessed.
//
// Threads: free functions with no shared state; the caller holds the volume lock when it
// changes the mode.
#pragma once

#include <string>

#include "engine/status.h"

namespace sopfs {

struct VolumeMode {
  bool clustered = false;
  std::string cluster_id;  // 32 hex digits when clustered; empty otherwise
};

// The marker's path inside a log folder.
std::string VolumeModePath(const std::string& log_folder);

// A fresh random cluster id (32 lower-case hex digits).
std::string NewClusterId();

// The volume's mode. EIO naming the path when the marker is not one (with what it holds),
// ENOTSUP when it was written by a newer sopfs, the error of a marker that cannot be read.
Result<VolumeMode> ReadVolumeMode(const std::string& log_folder);

// Marks the volume clustered with `cluster_id` (32 hex digits; EINVAL otherwise), durably.
Status MakeClustered(const std::string& log_folder, const std::string& cluster_id);

// Removes the marker durably; Ok when there was none.
Status MakeStandalone(const std::string& log_folder);

// Ok for a standalone volume; for a clustered one, EMEDIUMTYPE saying so, with its id and
// what opens it. What every program that takes the volume for itself alone checks.
Status RequireStandalone(const std::string& volume_dir, const std::string& log_folder);

}  // namespace sopfs
