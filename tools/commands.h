// The sopfs subcommands. Each parses its own options (Boost.Program_options) and
// returns the process exit code: 0 on success, 1 when the work failed, 2 for a bad
// command line (with a one-line message on stderr).
#pragma once

#include <span>

#include "engine/status.h"
#include "fuse/fs/file_system_format.h"
#include "fuse/volume/volume_config.h"

namespace sopfs::tools {

// sopfs bench blob: blob store throughput against plain files on the same disk.
int RunBenchBlob(int argc, char** argv);
// sopfs bench btree: transactional B-Tree insert, read and delete against SQLite.
int RunBenchBtree(int argc, char** argv);
// sopfs bench fsck: fsck's read rate against a raw read of the data folders.
int RunBenchFsck(int argc, char** argv);
// sopfs bench mount: how long a volume takes to mount, by its size and after kill -9.
int RunBenchMount(int argc, char** argv);
// sopfs fsck: checks (and with --repair, repairs) a volume that is not mounted.
int RunFsck(int argc, char** argv);
// sopfs reinstate: fast-forwards a stale registry side from the live one.
int RunReinstate(int argc, char** argv);
// sopfs status: the volume's health, mounted or not.
int RunStatus(int argc, char** argv);
// sopfs format: makes a new volume (sopfs.conf, folders, the empty file system).
int RunFormat(int argc, char** argv);
// sopfs mount: serves a volume at a mountpoint (daemonizes once the mount is ready).
int RunMount(int argc, char** argv);

// What `sopfs format` does once its command line is checked, shared with `sopfs mount`
// (which formats the default volume on first use): refuses a directory that already
// holds a volume or folders that are not empty, formats the file system, and writes
// sopfs.conf last (a volume exists once sopfs.conf does). Starts engine threads: call it
// after any fork.
// `stores`: directories under the root with layouts of their own (--store).
Status CreateVolume(const VolumeConfig& config, std::span<const NamedStore> stores = {});

}  // namespace sopfs::tools
