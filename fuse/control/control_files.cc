#include "fuse/control/control_files.h"

#include <unistd.h>

#include <algorithm>

#include "fuse/control/json_text.h"
#include "fuse/fs/volume_layout.h"

namespace sopfs::control {
namespace {

struct timespec ToTimespec(int64_t ns) {
  struct timespec ts;
  ts.tv_sec = ns / 1000000000;
  ts.tv_nsec = ns % 1000000000;
  return ts;
}

constexpr struct {
  std::string_view name;
  uint64_t ino;
} kFiles[] = {{"txn", kTxnIno}, {"stats", kStatsIno}, {"health", kHealthIno}};

}  // namespace

struct stat Stat(uint64_t ino, uint32_t uid, uint32_t gid, int64_t mounted_ns) {
  struct stat st {};
  st.st_ino = ino;
  st.st_uid = uid;
  st.st_gid = gid;
  st.st_blksize = 4096;
  st.st_atim = st.st_mtim = st.st_ctim = ToTimespec(mounted_ns);
  if (ino == kDirIno) {
    st.st_mode = S_IFDIR | 0555;
    st.st_nlink = 2;
  } else {
    // Everyone writes .sopfs/txn: each session reaches only its own transaction.
    st.st_mode = S_IFREG | (ino == kTxnIno ? 0666 : 0444);
    st.st_nlink = 1;
    st.st_size = 0;  // generated when read, like /proc
  }
  return st;
}

std::optional<uint64_t> Child(std::string_view name) {
  for (const auto& f : kFiles) {
    if (f.name == name) return f.ino;
  }
  return std::nullopt;
}

std::string_view NameOf(uint64_t ino) {
  for (const auto& f : kFiles) {
    if (f.ino == ino) return f.name;
  }
  return kDirName;
}

std::vector<ListedEntry> List() {
  std::vector<ListedEntry> out;
  for (const auto& f : kFiles) out.push_back(ListedEntry{std::string(f.name), f.ino, S_IFREG});
  return out;
}

std::string StatsJson(const Sources& s) {
  const EngineStats e = s.engine->Stats();
  JsonText j;
  j.Add("ops", s.requests->ops.load());
  j.Add("reads", s.requests->reads.load());
  j.Add("writes", s.requests->writes.load());
  j.Add("bytes_read", s.requests->bytes_read.load());
  j.Add("bytes_written", s.requests->bytes_written.load());
  j.Add("direct_io_opens", s.requests->direct_io_opens.load());
  j.Add("fallocate_promised_chunks", s.fs->promised_chunks());
  j.Add("chunk_reads", e.blobs_read);
  j.Add("chunk_writes", e.blobs_written);
  j.Add("blob_bytes_read", e.blob_bytes_read);
  j.Add("blob_bytes_written", e.blob_bytes_written);
  j.Add("cache_hits", e.node_cache_hits);
  j.Add("cache_misses", e.node_cache_misses);
  j.Add("cache_bytes", e.cache_bytes);
  const FileSystem::MemoryCounts memory = s.fs->memory_counts();
  j.Add("inodes_in_memory", memory.inodes);
  j.Add("inodes_parked", memory.parked_inodes);
  j.Add("small_pending_bytes", memory.small_pending_bytes);
  const FileSystem::IntentCounts intents = s.fs->intent_counts();
  j.Add("intent_log_records", intents.records);
  j.Add("intent_log_bytes", intents.bytes);
  j.Add("intent_log_folds", intents.folds);
  // The room kept for metadata at a full disk: held < target while it is in use.
  j.Add("metadata_reserve_target", s.engine->reserve_target());
  j.Add("metadata_reserve_held", s.engine->reserve_held());
  j.Add("commits", e.commits);
  // Commits whose record carried their blobs; those written to the data folders since;
  // bytes held in memory meanwhile (and small staged values waiting for their commit).
  j.Add("carrying_commits", e.carrying_commits);
  j.Add("carried_blobs_written", e.carried_blobs_written);
  j.Add("held_blob_bytes", e.held_bytes);
  j.Add("conflicts", e.conflicts);
  j.Add("checkpoints", e.checkpoints);
  j.Add("ec_reconstructions", e.reconstructions);
  j.Add("bad_shards_seen", e.bad_shards_seen);
  j.Add("read_repairs", e.read_repairs);
  j.Add("read_repair_shards", e.read_repair_shards);
  j.Add("read_repair_failures", e.read_repair_failures);
  j.Add("read_repairs_pending", e.read_repairs_pending);
  j.Add("errors", s.requests->errors.load());
  if (s.transport != nullptr) {
    j.Add("transport", s.transport->Describe());
    j.Add("ring_requests", s.transport->ring_requests());
    j.Add("handle_killpriv_v2", s.transport->killpriv_v2());
  }
  const SessionTable::Counters& t = s.sessions->counters();
  JsonText txn;
  txn.Add("begun", t.begun.load());
  txn.Add("committed", t.committed.load());
  txn.Add("rolled_back", t.rolled_back.load());
  txn.Add("conflicts", t.conflicts.load());
  txn.Add("bad_commands", t.bad_commands.load());
  j.Raw("transactions", txn.str());
  return j.str() + "\n";
}

std::string HealthJson(const Sources& s) {
  int failed = 0;
  std::string folders = "[";
  for (size_t i = 0; i < s.data_folders.size(); ++i) {
    const std::string& path = s.data_folders[i];
    struct stat st;
    const bool ok = ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode) &&
                    access(path.c_str(), R_OK | W_OK | X_OK) == 0;
    const std::vector<std::string> emptied = s.engine->emptied_folders();
    // Missing at mount and made again: reachable, but every shard it held is gone.
    const bool empty = std::find(emptied.begin(), emptied.end(), path) != emptied.end();
    if (!ok || empty) ++failed;
    JsonText f;
    f.Add("path", path).Add("state", !ok ? "failed" : empty ? "emptied" : "ok");
    // Appended in two steps: g++ 12 at -O3 warns falsely (-Wrestrict) on
    // `const char* + std::string&&`.
    if (i > 0) folders += ',';
    folders += f.str();
  }
  folders += "]";
  const ErasureLayout data = s.engine->options().layout;
  const int m = data.m;
  const RegistryHealth r = s.engine->registry_health();
  JsonText registry;
  registry.Add("active", r.active_folder);
  registry.Add("passive", r.passive_folder);
  registry.Add("passive_state", r.passive_stale ? "stale" : "ok");
  registry.Add("failovers", r.epoch);
  const char* state = failed > m ? "failed" : (failed > 0 || r.passive_stale) ? "degraded" : "ok";
  JsonText j;
  j.Add("state", state);
  j.Add("erasure", data.ToString());
  j.Add("redundancy_left", static_cast<int64_t>(m) - failed);
  // B-Tree nodes (names, inodes, small files) have parity of their own.
  const ErasureLayout meta = s.engine->metadata_layout();
  j.Add("metadata_erasure", meta.ToString());
  j.Add("metadata_redundancy_left", static_cast<int64_t>(meta.m) - failed);
  if (failed > m && failed <= meta.m) {
    j.Add("unreadable",
          "files with chunks stored as blobs read EIO where more than " + std::to_string(m) +
              " of their shards are lost; names, attributes and files of up to 2 KiB stay");
  }
  // Stores (fuse/fs/fs_store.h): each outlives as many lost folders as its own parity.
  if (Result<VolumeLayout> layout = ReadVolumeLayout(*s.engine);
      layout.ok() && !layout->stores.empty()) {
    std::string stores = "[";
    for (const FsStore& store : layout->stores) {
      JsonText st;
      st.Add("id", static_cast<int64_t>(store.id)).Add("name", store.name);
      st.Add("erasure", store.layout->ToString());
      st.Add("chunk_size", static_cast<int64_t>(store.chunk_size));
      st.Add("folders", store.folders.all() ? "all" : store.folders.ToString());
      st.Add("redundancy_left", static_cast<int64_t>(store.layout->m) - failed);
      if (stores.size() > 1) stores += ',';
      stores += st.str();
    }
    j.Raw("stores", stores + "]");
  }
  j.Raw("data_folders", folders);
  j.Raw("registry", registry.str());
  if (s.scrubber != nullptr) {
    const ScrubProgress p = s.scrubber->Progress();
    const ScrubOptions& o = s.scrubber->options();
    JsonText scrub;
    scrub.Add("state", p.running ? "running" : "idle");
    scrub.Add("reason", p.reason);
    scrub.Add("every_days", static_cast<double>(o.every.count()) / 86400);
    scrub.Add("mib_s", o.bytes_per_second >> 20);
    scrub.Add("blobs_done", p.blobs_done);
    scrub.Add("blobs_total", p.blobs_total);
    scrub.Add("bytes_read", p.bytes_read);
    scrub.Add("shards_repaired", p.shards_repaired);
    scrub.Add("blobs_lost", p.blobs_lost);
    scrub.Add("passes", p.passes);
    scrub.Add("last_finished_unix", p.last_finished_unix);
    if (!p.last_error.empty()) scrub.Add("last_error", p.last_error);
    j.Raw("scrub", scrub.str());
  }
  return j.str() + "\n";
}

}  // namespace sopfs::control
