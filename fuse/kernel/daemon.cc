#include "fuse/kernel/daemon.h"

#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>

#include "engine/io/posix_env.h"
#include "engine/txn/scrubber.h"
#include "fuse/control/session_table.h"
#include "fuse/fs/file_system.h"
#include "fuse/fs/inode_record.h"
#include "fuse/fs/volume_layout.h"
#include "fuse/kernel/fuse_ops.h"
#include "fuse/kernel/kernel_notifier.h"
#include "fuse/kernel/kernel_read_ahead.h"
#include "fuse/kernel/uring_transport.h"
#include "fuse/volume/volume_privacy.h"

namespace sopfs {
namespace {

// libfuse's own argv: the program name and the -o options.
// The user's fsname= and subtype= replace the defaults (in libfuse the last one wins).
std::vector<std::string> FuseArgs(const VolumeConfig& volume, const MountSettings& settings) {
  bool fsname = false, subtype = false;
  std::string opts;
  for (const std::string& o : settings.fuse_options) {
    fsname |= o.starts_with("fsname=");
    subtype |= o.starts_with("subtype=");
    opts += (opts.empty() ? "" : ",") + o;
  }
  if (!fsname) opts += (opts.empty() ? "" : ",") + ("fsname=" + volume.dir);
  if (!subtype) opts += ",subtype=sopfs";
  return {"sopfs", "-o", opts};
}

// Chunk buffers and shard images (1 to 2 MiB each, a few per chunk written) are made
// and freed all the time. glibc serves such sizes with mmap and munmap, so each one
// costs hundreds of page faults: a quarter of the daemon's CPU time in a sequential
// write, measured on a VM. Kept in the heap, they are reused while warm; up to 32 MiB
// free at the top of an arena stays there instead of going back at once.
void KeepLargeBuffersInTheHeap() {
  (void)mallopt(M_MMAP_THRESHOLD, 8 << 20);
  (void)mallopt(M_TRIM_THRESHOLD, 32 << 20);
}

int Fail(const std::function<void(const Status&)>& on_ready, const Status& st) {
  on_ready(st);
  return 1;
}

}  // namespace

int RunDaemon(const VolumeConfig& volume, const MountSettings& settings,
              const std::function<void(const Status&)>& on_ready) {
  KeepLargeBuffersInTheHeap();
  if (Status priv = CheckVolumePrivate(volume); !priv.ok()) {
    return Fail(on_ready, Status::Error(priv.code(),
                                        "refusing to mount " + volume.dir + ": " + priv.message()));
  }
  PosixEnv env;
  EngineOptions engine_options = EngineOptionsFor(volume);
  engine_options.cache_bytes = settings.cache_bytes;
  engine_options.reserve_bytes = settings.reserve_bytes != 0
                                     ? settings.reserve_bytes
                                     : std::max(uint64_t{32} << 20, 2 * settings.small_file_buffer);
  Result<std::unique_ptr<Engine>> engine = Engine::Open(&env, engine_options);
  std::string read_only_why;
  if (engine.status().code() == ENOSPC || engine.status().code() == EDQUOT) {
    // Not even recovery finds room (the disk filled while the reserve was in use): the
    // volume is still readable, from memory where the log and journal say so.
    read_only_why = "no room on disk even for recovery (" + engine.status().ToString() +
                    "); free room on the disk under " + volume.dir + " and mount again for writes";
    engine_options.read_only = true;
    engine = Engine::Open(&env, engine_options);
  }
  if (!engine.ok()) {
    return Fail(on_ready,
                Status::Error(engine.status().code(), "cannot open volume " + volume.dir + ": " +
                                                          engine.status().message()));
  }
  {
    const RecoveryReport& r = (*engine)->recovery();
    if (r.commits_replayed || r.commits_refused || r.orphans_removed) {
      std::fprintf(stderr,
                   "sopfs: recovery: %llu commit(s) replayed, %llu refused (stale fence), %llu "
                   "orphan blob(s) removed\n",
                   static_cast<unsigned long long>(r.commits_replayed),
                   static_cast<unsigned long long>(r.commits_refused),
                   static_cast<unsigned long long>(r.orphans_removed));
    }
  }
  MountSettings effective = settings;
  if (Status full = (*engine)->RoomForDeletions(); read_only_why.empty() && !full.ok()) {
    read_only_why = full.message();
  }
  if (!read_only_why.empty()) {
    std::fprintf(stderr, "sopfs: mounted read-only: %s\n", read_only_why.c_str());
    effective.fuse_options.push_back("ro");
  }
  FileSystemOptions fs_options;
  fs_options.data_folders = volume.data_folders;
  fs_options.k = volume.layout.k;
  fs_options.m = volume.layout.m;
  fs_options.commit_interval = settings.commit_interval;
  fs_options.small_file_buffer = settings.small_file_buffer;
  fs_options.read_only = engine_options.read_only;
  fs_options.env = &env;
  // Two copies of the close journal, each on a folder that may be a drive of its own.
  fs_options.journal_dirs = {volume.log_folder + "/close-journal",
                             volume.registry_b + "/close-journal"};
  // Tells the kernel what is stale; the session is set once mounted, cleared before it
  // goes (the committer thread may call it at any time).
  KernelNotifier notifier;
  fs_options.invalidate = [&notifier](uint64_t ino) { notifier.InvalidateInode(ino); };
  Result<std::unique_ptr<FileSystem>> fs = FileSystem::Open(engine->get(), fs_options);
  if (!fs.ok()) {
    return Fail(on_ready,
                Status::Error(fs.status().code(), "cannot open the file system of " + volume.dir +
                                                      ": " + fs.status().message()));
  }

  auto sessions = std::make_unique<SessionTable>(fs->get(), &notifier, settings.txn_timeout);
  FuseContext context;
  context.fs = fs->get();
  context.attr_timeout = settings.attr_timeout;
  context.sessions = sessions.get();
  context.notifier = &notifier;
  context.control.engine = engine->get();
  context.control.fs = fs->get();
  context.control.sessions = sessions.get();
  context.control.requests = &context.requests;
  context.control.data_folders = volume.data_folders;
  context.uid = getuid();
  context.gid = getgid();
  context.mounted_ns = NowNs();
  const fuse_lowlevel_ops ops = MakeFuseOps();
  std::vector<std::string> arg_strings = FuseArgs(volume, effective);
  std::vector<char*> argv;
  for (std::string& a : arg_strings) argv.push_back(a.data());
  fuse_args args = FUSE_ARGS_INIT(static_cast<int>(argv.size()), argv.data());
  fuse_session* se = fuse_session_new(&args, &ops, sizeof(ops), &context);
  fuse_opt_free_args(&args);
  if (se == nullptr) {
    return Fail(on_ready, Status::Error(EINVAL, "libfuse refused the mount options"));
  }
  if (fuse_set_signal_handlers(se) != 0) {
    fuse_session_destroy(se);
    return Fail(on_ready, Status::Error(EIO, "cannot install signal handlers"));
  }
  if (fuse_session_mount(se, settings.mountpoint.c_str()) != 0) {
    fuse_remove_signal_handlers(se);
    fuse_session_destroy(se);
    return Fail(on_ready, Status::Error(EIO, "cannot mount at " + settings.mountpoint +
                                                 " (see the message above)"));
  }
  std::unique_ptr<UringTransport> transport = UringTransport::Install(se, settings.io_uring);
  if (transport == nullptr) {
    fuse_session_unmount(se);
    fuse_remove_signal_handlers(se);
    fuse_session_destroy(se);
    return Fail(on_ready, Status::Error(EIO, "cannot take over the session's device I/O"));
  }
  context.transport = transport.get();
  context.control.transport = transport.get();
  notifier.SetSession(se);
  if (Status ra = SetKernelReadAhead(settings.mountpoint, kReadAheadBytes >> 10); !ra.ok()) {
    std::fprintf(stderr, "sopfs: the kernel reads ahead 128 KiB at a time, not %u KiB: %s\n",
                 kReadAheadBytes >> 10, ra.ToString().c_str());
  }
  on_ready(Status::Ok());
  // The scrub, and the refill of data folders found empty at the open (a replaced
  // drive): not on a read-only mount, which cannot write shards.
  std::unique_ptr<Scrubber> scrubber;
  if (!engine_options.read_only) {
    ScrubOptions scrub;
    scrub.every = std::chrono::seconds(
        settings.scrub_days > 0 ? std::max<int64_t>(1, std::llround(settings.scrub_days * 86400))
                                : 0);
    scrub.bytes_per_second = settings.scrub_mib_s << 20;
    scrub.env = &env;
    scrub.state_file = volume.log_folder + "/scrub.state";
    scrubber = std::make_unique<Scrubber>(engine->get(), scrub);
    if (!(*engine)->emptied_folders().empty()) scrubber->Start("refill");
    context.control.scrubber = scrubber.get();
  }

  fuse_loop_config* loop = fuse_loop_cfg_create();
  fuse_loop_cfg_set_clone_fd(loop, 0);
  // Workers that stay when idle: more than a queue depth of 16 needs, so that a burst
  // of requests does not start threads that exit again right after (with 8, random
  // reads at QD16 started and ended hundreds of threads a second; 12 % fewer IOPS).
  fuse_loop_cfg_set_idle_threads(loop, 20);
  fuse_loop_cfg_set_max_threads(loop, 32);
  const int loop_result = fuse_session_loop_mt(se, loop);
  fuse_loop_cfg_destroy(loop);
  context.control.scrubber = nullptr;
  scrubber.reset();  // stops its pass: the next mount starts over
  transport->Stop();
  notifier.SetSession(nullptr);
  fuse_session_unmount(se);
  fuse_remove_signal_handlers(se);
  fuse_session_destroy(se);

  // Handles whose release the kernel never sent (see open_handles.h) close now.
  std::vector<std::unique_ptr<FileHandle>> unreleased = context.files.TakeAll();
  const size_t unreleased_dirs = context.dirs.TakeAll().size();
  if (!unreleased.empty() || unreleased_dirs != 0) {
    std::fprintf(stderr,
                 "sopfs: the kernel never released %zu file and %zu directory handle(s) before "
                 "the connection ended; closing them\n",
                 unreleased.size(), unreleased_dirs);
  }
  for (std::unique_ptr<FileHandle>& h : unreleased) {
    Status released = ReleaseHandle(**fs, *h);  // transactions roll back below
    if (!released.ok()) {
      std::fprintf(stderr, "sopfs: commit at the close of inode %llu failed: %s\n",
                   static_cast<unsigned long long>(h->ino), released.ToString().c_str());
    }
  }
  unreleased.clear();
  sessions.reset();  // open transactions roll back: never committed
  int code = loop_result < 0 ? 1 : 0;
  Status synced = (*fs)->Sync();
  if (!synced.ok()) {
    std::fprintf(stderr, "sopfs: final commit failed: %s\n", synced.ToString().c_str());
    code = 1;
  }
  fs->reset();
  engine->reset();  // checkpoints
  return code;
}

}  // namespace sopfs
