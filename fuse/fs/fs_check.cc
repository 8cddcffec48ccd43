// CheckFileSystem (see fuse/fs/fs_check.h) in passes:
//  1. The inode tree, with the chunk tree beside it (both ordered by inode number, so
//     one merge reads each once): records, and the chunks of each file.
//  2. The namespace tree: entries; names per inode, subdirectories per directory.
//  3. Over what is in memory: the walk from the root, unreachable inodes (repair puts
//     them into /lost+found first, so the link counts it then sets include them), links.
// Problems wait until the end, where scans of the namespace find their paths.
#include "fuse/fs/fs_check.h"

#include <sys/stat.h>

#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "engine/txn/transaction.h"
#include "fuse/fs/file_system.h"
#include "fuse/fs/fs_check_chunks.h"
#include "fuse/fs/inode_record.h"
#include "fuse/fs/volume_layout.h"
#include "streaming/chunk_file.h"

namespace sopfs {
namespace {

constexpr uint64_t kRoot = FileSystem::kRootIno;
// The mode kept for an inode whose record does not decode: what it is, is unknown.
constexpr uint32_t kBadRecord = UINT32_MAX;
// Checked counts go to the report in batches (each call locks it and ticks progress).
constexpr uint64_t kTickBatch = 4096;
enum Counted { kInodes, kNames, kChunks, kOrphans, kCountedKinds };
constexpr const char* kCountedNames[] = {"inodes", "names", "chunks", "orphans-pending"};

// What the check keeps of one inode (24 bytes).
struct InodeInfo {
  uint64_t ino = 0;
  uint32_t mode = 0;     // kBadRecord when the record does not decode
  uint32_t nlink = 0;    // as stored (and as this repair rewrote it)
  uint32_t names = 0;    // entries naming it (those that stay)
  uint32_t subdirs = 0;  // entries in it naming a directory
};

// A problem, held until the end so that its path can be looked up.
struct Problem {
  std::string kind;
  uint64_t ino = 0;     // the inode it is about (0: none)
  uint64_t parent = 0;  // with `name`: the entry it is about
  std::string name;
  std::string where;  // set when known already (lost+found) or not about an inode
  std::string detail;
  bool fixed = false;
};

std::string Num(uint64_t v) { return std::to_string(v); }

std::string TypeName(uint32_t mode) {
  static constexpr std::pair<uint32_t, const char*> kTypes[] = {
      {S_IFREG, "regular file"}, {S_IFDIR, "directory"}, {S_IFLNK, "symbolic link"},
      {S_IFIFO, "fifo"},         {S_IFSOCK, "socket"},   {S_IFCHR, "character device"},
      {S_IFBLK, "block device"}};
  for (const auto& [type, name] : kTypes) {
    if ((mode & S_IFMT) == type) return name;
  }
  return "file of type " + Num((mode & S_IFMT) >> 12);
}

class Checker {
 public:
  Checker(Engine& engine, const FsCheckOptions& options, CheckReport* report)
      : engine_(engine), repair_(options.repair), report_(report) {}

  Status Run() {
    SOPFS_RETURN_IF_ERROR(OpenTrees());
    SOPFS_RETURN_IF_ERROR(ScanInodesAndChunks());
    SOPFS_RETURN_IF_ERROR(ScanNames());
    Walk();
    SOPFS_RETURN_IF_ERROR(Unreachable());
    SOPFS_RETURN_IF_ERROR(LinkCounts());
    SOPFS_RETURN_IF_ERROR(WriteFixes());
    SOPFS_RETURN_IF_ERROR(FindPaths());
    Status committed = Status::Ok();
    if (changed_) committed = txn_->Commit();
    Emit(committed);
    return committed;
  }

 private:
  Status OpenTrees() {
    Result<VolumeLayout> layout = ReadVolumeLayout(engine_);
    if (!layout.ok()) return layout.status();
    txn_ = engine_.Begin(repair_ ? TxnMode::kWriter : TxnMode::kReader);
    Result<TxnTree*> trees[] = {txn_->Tree(layout->inode_tree), txn_->Tree(layout->names_tree)};
    for (const Result<TxnTree*>& tree : trees) {
      if (!tree.ok()) return tree.status();
    }
    inode_tree_ = *trees[0];
    names_tree_ = *trees[1];
    // Without the root every name would go (and lost+found has nowhere to be): no repair.
    Result<std::string> root = inode_tree_->Find(InodeKey(kRoot));
    Result<InodeRecord> rec = root.ok() ? InodeRecord::Decode(*root, kRoot) : root.status();
    if (!rec.ok() || !S_ISDIR(rec->mode)) {
      Add("root-bad", kRoot,
          (rec.ok() ? "the root directory is a " + TypeName(rec->mode) : rec.status().message()) +
              (repair_ ? "; nothing is repaired without it" : ""),
          false, "inode 1 /");
      repair_ = false;
    }
    chunks_ = std::make_unique<ChunkWalk>(repair_);
    std::vector<FsStore> stores = layout->stores;
    stores.insert(stores.begin(),
                  FsStore{.chunk_tree = layout->chunk_tree, .chunk_size = layout->chunk_size});
    for (const FsStore& store : stores) {
      Result<TxnTree*> tree = txn_->Tree(store.chunk_tree, store.chunk_options());
      if (!tree.ok()) return tree.status();
      SOPFS_RETURN_IF_ERROR(chunks_->AddStore(store.id, store.chunk_size, *tree));
    }
    return Status::Ok();
  }

  // ---- pass 1: inodes and their chunks ----

  Status ScanInodesAndChunks() {
    auto cursor = inode_tree_->NewCursor();
    bool counter_seen = false;
    for (Status st = cursor->First();; st = cursor->Next()) {
      if (!st.ok()) return st;
      if (!cursor->Valid()) break;
      const std::string_view key = cursor->key();
      if (key.size() == 16 && key.substr(0, 8) == OrphanPrefix()) {
        orphans_.push_back(ReadBigEndian64(key.substr(8)));  // in order: sorted
        Tick(kOrphans);
        continue;
      }
      if (key.size() != 8) {
        Add("inode-record-bad", 0,
            "a key of " + Num(key.size()) +
                " bytes is neither an inode number nor an orphan; not repaired",
            false, "inode tree");
        continue;
      }
      const uint64_t ino = ReadBigEndian64(key);
      Result<std::string> value = cursor->value();
      if (ino == 0) {
        counter_seen = true;
        const bool ok = value.ok() && value->size() == 8;
        if (ok) counter_ = ReadBigEndian64(*value);
        if (!ok) counter_bad_ = "the inode counter (key 0) does not decode";
        continue;
      }
      SOPFS_RETURN_IF_ERROR(ChunksBefore(ino));
      Tick(kInodes);
      max_ino_ = ino;
      Result<InodeRecord> rec = value.ok() ? InodeRecord::Decode(*value, ino) : value.status();
      if (!rec.ok()) {
        Add("inode-record-bad", ino,
            rec.status().message() +
                "; not repaired: what it held is unknown (its names and chunks stay)");
        inodes_.push_back({.ino = ino, .mode = kBadRecord});
        SOPFS_RETURN_IF_ERROR(ChunksOf(ino, nullptr, /*bad=*/true));
        continue;
      }
      inodes_.push_back({.ino = ino, .mode = rec->mode, .nlink = rec->nlink});
      SOPFS_RETURN_IF_ERROR(ChunksOf(ino, &*rec, /*bad=*/false));
    }
    // Chunks of files past the last record.
    SOPFS_RETURN_IF_ERROR(ChunksBefore(UINT64_MAX));
    if (chunks_->more()) SOPFS_RETURN_IF_ERROR(ChunksOf(UINT64_MAX, nullptr, false));
    if (!counter_seen) counter_bad_ = "the inode counter (key 0) is missing";
    if (!counter_bad_.empty()) {
      Add("inode-record-bad", 0, counter_bad_ + (repair_ ? "; set past the highest inode" : ""),
          repair_, "inode 0");
    }
    Flush();
    return Status::Ok();
  }

  // The chunks of files numbered below `end`, which have no record.
  Status ChunksBefore(uint64_t end) {
    std::vector<ChunkWalk::Tally> tallies;
    SOPFS_RETURN_IF_ERROR(chunks_->Before(end, &tallies));
    ReportChunks(tallies, nullptr);
    return Status::Ok();
  }

  // The chunks of `file` in every store. `rec` null: no record; `bad`: a record that
  // does not decode (its chunks are left alone).
  Status ChunksOf(uint64_t file, const InodeRecord* rec, bool bad) {
    std::vector<ChunkWalk::Tally> tallies;
    SOPFS_RETURN_IF_ERROR(chunks_->Of(file, rec, bad, &tallies));
    ReportChunks(tallies, rec);
    return Status::Ok();
  }

  void ReportChunks(const std::vector<ChunkWalk::Tally>& tallies, const InodeRecord* rec) {
    Tick(kChunks, chunks_->visited() - chunks_ticked_);
    chunks_ticked_ = chunks_->visited();
    const std::string erased = repair_ ? "; erased" : "";
    for (const ChunkWalk::Tally& t : tallies) {
      const std::string tree = t.store == 0 ? "" : " in store " + Num(t.store) + "'s tree";
      if (t.bad_keys != 0) {
        Add("chunk-without-inode", 0,
            Num(t.bad_keys) + " key(s) that are not (inode, chunk index); not repaired", false,
            "chunk tree" + tree);
      }
      if (t.stray != 0) {
        const bool other_store = rec != nullptr && S_ISREG(rec->mode) && !t.own;
        Add("chunk-without-inode", t.file,
            Num(t.stray) + " chunk(s)" + tree + " of " +
                (rec == nullptr ? "an inode with no record"
                 : other_store  ? "a file of store " + Num(rec->store)
                                : "a " + TypeName(rec->mode)) +
                erased,
            repair_);
      }
      if (t.beyond != 0) {
        Add("chunk-beyond-size", t.file,
            Num(t.beyond) + " chunk(s) at or past index " + Num(t.limit) + " (the first at " +
                Num(t.first_beyond) + "; size " + Num(rec->size) + ", chunk size " +
                Num(t.chunk_size) + ")" + erased,
            repair_);
      }
      if (t.own && S_ISREG(rec->mode) && t.kept != rec->stored_chunks) {
        Add("chunk-count-wrong", t.file,
            "the record says " + Num(rec->stored_chunks) + " stored chunk(s), the tree holds " +
                Num(t.kept) + (repair_ ? "; set" : ""),
            repair_);
        if (repair_) chunk_counts_.emplace_back(t.file, t.kept);
      }
    }
  }

  // ---- pass 2: names ----

  Status ScanNames() {
    auto cursor = names_tree_->NewCursor();
    SOPFS_RETURN_IF_ERROR(cursor->First());
    while (cursor->Valid()) {
      const std::string key(cursor->key());  // a copy: a repair's write moves the cursor
      Tick(kNames);
      const uint64_t parent = ReadBigEndian64(key);
      const std::string name = key.size() > 8 ? key.substr(8) : std::string();
      Result<std::string> value = cursor->value();
      std::optional<NameEntry> entry = value.ok() ? DecodeNameEntry(*value) : std::nullopt;
      InodeInfo* dir = key.size() > 8 ? Info(parent) : nullptr;
      InodeInfo* child = entry ? Info(entry->ino) : nullptr;
      std::string why;
      if (key.size() <= 8) {
        why = "a key of " + Num(key.size()) + " bytes holds no name";
      } else if (!entry) {
        why = value.ok() ? "the entry does not decode" : value.status().message();
      } else if (dir == nullptr) {
        why = "its directory, inode " + Num(parent) + ", has no record";
      } else if (dir->mode != kBadRecord && !S_ISDIR(dir->mode)) {
        why = "its directory, inode " + Num(parent) + ", is a " + TypeName(dir->mode);
      } else if (child == nullptr) {
        why = "inode " + Num(entry->ino) + " has no record";
      }
      if (!why.empty() || (entry && entry->ino == kRoot)) {
        // An entry naming the root closes a cycle; the root is reached anyway.
        const bool cycle = why.empty();
        Add(cycle ? "directory-cycle" : "name-without-inode", entry ? entry->ino : 0,
            (cycle ? "an entry names the root directory" : why) + (repair_ ? "; entry erased" : ""),
            repair_, key.size() <= 8 ? "names tree" : "", parent, name);
        SOPFS_RETURN_IF_ERROR(repair_ ? Erase(names_tree_, *cursor, key) : cursor->Next());
        continue;
      }
      if (child->mode != kBadRecord && (child->mode & S_IFMT) != entry->type) {
        Add("name-type-mismatch", entry->ino,
            "the entry says " + TypeName(entry->type) + ", the inode is a " +
                TypeName(child->mode) + (repair_ ? "; entry rewritten" : ""),
            repair_, "", parent, name);
        if (repair_) {
          SOPFS_RETURN_IF_ERROR(
              names_tree_->Upsert(key, EncodeNameEntry({entry->ino, child->mode & S_IFMT})));
          SOPFS_RETURN_IF_ERROR(cursor->Seek(key));  // back on this entry; Next below
        }
      }
      if (child->names != UINT32_MAX) ++child->names;
      const bool is_dir = child->mode == kBadRecord ? S_ISDIR(entry->type) : S_ISDIR(child->mode);
      if (is_dir) {
        if (dir->mode != kBadRecord && dir->subdirs != UINT32_MAX) ++dir->subdirs;
        edges_.emplace_back(entry->ino, parent);
      }
      SOPFS_RETURN_IF_ERROR(cursor->Next());
    }
    Flush();
    return Status::Ok();
  }

  // ---- pass 3: over what is in memory ----

  // Directories the walk from the root misses. The walk also starts at directories no
  // name points to: those are inode-unreachable already (and repair attaches them), or
  // inode-record-bad; so what it misses is on a cycle of names or below one.
  void Walk() {
    std::sort(edges_.begin(), edges_.end(), [](const auto& a, const auto& b) {
      return a.second != b.second ? a.second < b.second : a.first < b.first;
    });
    std::vector<uint8_t> reached(inodes_.size());
    std::vector<uint64_t> dirs_to_visit;
    for (size_t i = 0; i < inodes_.size(); ++i) {
      const InodeInfo& info = inodes_[i];
      const bool may_be_dir = info.mode == kBadRecord || S_ISDIR(info.mode);
      if (info.ino == kRoot || (may_be_dir && info.names == 0 && !IsOrphan(info.ino))) {
        reached[i] = 1;
        dirs_to_visit.push_back(info.ino);
      }
    }
    while (!dirs_to_visit.empty()) {
      const uint64_t dir = dirs_to_visit.back();
      dirs_to_visit.pop_back();
      auto it = std::lower_bound(edges_.begin(), edges_.end(), dir,
                                 [](const auto& edge, uint64_t d) { return edge.second < d; });
      for (; it != edges_.end() && it->second == dir; ++it) {
        const size_t i = IndexOf(it->first);
        if (i == inodes_.size() || reached[i]) continue;
        reached[i] = 1;
        dirs_to_visit.push_back(it->first);
      }
    }
    // By child from here on: ParentOf needs it.
    std::sort(edges_.begin(), edges_.end());
    for (size_t i = 0; i < inodes_.size(); ++i) {
      const InodeInfo& info = inodes_[i];
      if (reached[i] || info.mode == kBadRecord || !S_ISDIR(info.mode) || IsOrphan(info.ino)) {
        continue;
      }
      // Up the parents: back to itself is a cycle; into another loop, below one.
      std::unordered_set<uint64_t> seen{info.ino};
      bool cycle = false;
      for (uint64_t at = info.ino;;) {
        std::optional<uint64_t> up = ParentOf(at);
        if (!up) break;
        if (*up == info.ino) cycle = true;
        if (!seen.insert(*up).second) break;
        at = *up;
      }
      Add(cycle ? "directory-cycle" : "directory-unreachable", info.ino,
          std::string(cycle ? "the directory's names lead back to itself"
                            : "the directory hangs below a cycle of names") +
              ", not to the root; not repaired: which name to drop is not known",
          false, "inode " + Num(info.ino));
    }
  }

  // Inodes no name points to: reported, and with repair put into /lost+found.
  Status Unreachable() {
    std::vector<uint64_t> lost;
    for (const InodeInfo& info : inodes_) {
      if (info.mode == kBadRecord || info.ino == kRoot || info.names != 0 || IsOrphan(info.ino)) {
        continue;
      }
      lost.push_back(info.ino);
    }
    if (lost.empty()) return Status::Ok();
    std::string refused;
    if (repair_) {
      Result<std::string> why = LostFound();
      if (!why.ok()) return why.status();
      refused = *why;
    }
    uint32_t dirs = 0;
    for (uint64_t ino : lost) {
      InodeInfo& info = *Info(ino);
      std::string detail =
          "no name points to this " + TypeName(info.mode) + " (link count " + Num(info.nlink) + ")";
      if (!repair_ || !refused.empty()) {
        Add("inode-unreachable", ino, detail + (repair_ ? "; not repaired: " + refused : ""));
        continue;
      }
      const std::string name = "#" + Num(ino);
      Result<bool> added = names_tree_->AddIfNotExist(DirEntryKey(lost_found_, name),
                                                      EncodeNameEntry({ino, info.mode & S_IFMT}));
      if (!added.ok()) return added.status();
      if (!*added) {
        Add("inode-unreachable", ino,
            detail + "; not repaired: /lost+found/" + name + " exists already");
        continue;
      }
      info.names = 1;
      detail += "; now /lost+found/" + name;
      if (S_ISDIR(info.mode)) {
        ++dirs;
        edges_.emplace_back(ino, lost_found_);
      } else if (info.nlink != 1) {
        SOPFS_RETURN_IF_ERROR(Rewrite(ino, [](InodeRecord& r) { r.nlink = 1; }));
        detail += ", link count set to 1";
        info.nlink = 1;
      }
      Add("inode-unreachable", ino, detail, true, "inode " + Num(ino) + " /lost+found/" + name);
    }
    if (!repair_ || !refused.empty()) return Status::Ok();
    std::sort(edges_.begin(), edges_.end());  // with the new ones, for ParentOf
    Info(lost_found_)->subdirs += dirs;
    Info(lost_found_)->nlink += dirs;
    const int64_t now = NowNs();
    return Rewrite(lost_found_, [&](InodeRecord& r) {
      r.nlink += dirs;
      r.mtime_ns = r.ctime_ns = now;
    });
  }

  // Finds /lost+found or makes it (as mkdir would: the root gains a link); the reason
  // when it cannot, empty when lost_found_ is set. The root is a directory (OpenTrees).
  Result<std::string> LostFound() {
    const std::string key = DirEntryKey(kRoot, "lost+found");
    Result<std::string> bytes = names_tree_->Find(key);
    if (bytes.ok()) {
      std::optional<NameEntry> entry = DecodeNameEntry(*bytes);
      const InodeInfo* info = entry ? Info(entry->ino) : nullptr;
      if (info == nullptr || info->mode == kBadRecord || !S_ISDIR(info->mode)) {
        return std::string("/lost+found is not a directory");
      }
      lost_found_ = entry->ino;
      return std::string();
    }
    if (bytes.status().code() != ENOENT) return bytes.status();
    // A new inode number from the counter, past every stored inode whatever it says.
    const uint64_t ino = std::max(counter_, max_ino_ + 1);
    InodeRecord r;
    r.mode = S_IFDIR | 0700;
    r.nlink = 2;
    r.atime_ns = r.mtime_ns = r.ctime_ns = NowNs();
    SOPFS_RETURN_IF_ERROR(inode_tree_->Add(InodeKey(ino), r.Encode()));
    SOPFS_RETURN_IF_ERROR(names_tree_->Add(key, EncodeNameEntry({ino, S_IFDIR})));
    SOPFS_RETURN_IF_ERROR(Rewrite(kRoot, [&](InodeRecord& d) {
      ++d.nlink;
      d.mtime_ns = d.ctime_ns = r.ctime_ns;
    }));
    counter_ = ino + 1;
    counter_dirty_ = true;
    max_ino_ = ino;
    InodeInfo& root_info = *Info(kRoot);
    ++root_info.nlink;
    ++root_info.subdirs;
    // The highest number: the vector stays sorted.
    inodes_.push_back({.ino = ino, .mode = r.mode, .nlink = 2, .names = 1});
    edges_.emplace_back(ino, kRoot);
    lost_found_ = ino;
    return std::string();
  }

  // A file's links are its names; a directory's are 2 + its subdirectories (its name
  // and "." for a directory; the root has no name and counts its ".." instead).
  Status LinkCounts() {
    for (InodeInfo& info : inodes_) {
      if (info.mode == kBadRecord) continue;
      if (IsOrphan(info.ino)) {
        // Its record may keep the count from before its last name went.
        if (info.names == 0) continue;
        Add("orphan-named", info.ino,
            "listed as removed while open but " + Num(info.names) +
                " name(s) point to it (a mount would delete it)" +
                (repair_ ? "; orphan key erased" : ""),
            repair_);
        if (repair_) SOPFS_RETURN_IF_ERROR(inode_tree_->Erase(OrphanKey(info.ino)));
      }
      if (info.ino != kRoot && info.names == 0) continue;  // inode-unreachable
      const bool dir = S_ISDIR(info.mode);
      if (dir && info.ino != kRoot && info.names > 1) {
        Add("link-count-wrong", info.ino,
            "a directory with " + Num(info.names) +
                " names; not repaired: which name is right is not known");
        continue;
      }
      const uint64_t expected = dir ? 2 + uint64_t{info.subdirs} : info.names;
      if (info.nlink == expected) continue;
      Add("link-count-wrong", info.ino,
          "link count " + Num(info.nlink) + ", expected " + Num(expected) + " (" +
              (dir ? Num(info.subdirs) + " subdirectories" : Num(info.names) + " name(s)") + ")" +
              (repair_ ? "; set" : ""),
          repair_);
      if (repair_) {
        const uint32_t count = static_cast<uint32_t>(std::min<uint64_t>(expected, UINT32_MAX));
        SOPFS_RETURN_IF_ERROR(Rewrite(info.ino, [&](InodeRecord& r) { r.nlink = count; }));
        info.nlink = count;
      }
    }
    return Status::Ok();
  }

  // Repairs that waited for the scans: chunk counts and the inode counter.
  Status WriteFixes() {
    if (!repair_) return Status::Ok();
    for (const auto& fix : chunk_counts_) {
      SOPFS_RETURN_IF_ERROR(
          Rewrite(fix.first, [&](InodeRecord& r) { r.stored_chunks = fix.second; }));
    }
    // A counter at or below the highest inode is left: a mount takes it past that
    // anyway. A damaged or missing one fails the mount.
    if (!counter_bad_.empty() || counter_dirty_) {
      std::string next;
      AppendBigEndian64(next, std::max(counter_, max_ino_ + 1));
      SOPFS_RETURN_IF_ERROR(inode_tree_->Upsert(InodeKey(0), next));
    }
    return Status::Ok();
  }

  // Erases the key at the cursor, which then moves on to the next (the write moved it).
  Status Erase(TxnTree* tree, TxnCursor& cursor, const std::string& key) {
    SOPFS_RETURN_IF_ERROR(tree->Erase(key));
    return cursor.Seek(key);
  }

  // Reads, changes and writes back one inode record.
  template <class F>
  Status Rewrite(uint64_t ino, F change) {
    Result<std::string> bytes = inode_tree_->Find(InodeKey(ino));
    if (!bytes.ok()) return bytes.status();
    Result<InodeRecord> rec = InodeRecord::Decode(*bytes, ino);
    if (!rec.ok()) return rec.status();
    change(*rec);
    return inode_tree_->Upsert(InodeKey(ino), rec->Encode());
  }

  // ---- paths and the report ----

  // The (parent, name) of every inode a kept problem is about, and of the directories
  // above: scans of the namespace until nothing wanted is missing (a file's parent is
  // known only once it is found, then that directory's ancestors are wanted).
  Status FindPaths() {
    std::unordered_set<uint64_t> wanted, searched{kRoot};
    auto want = [&](uint64_t ino) {
      // A directory's ancestors come from the edges, without a scan.
      for (int depth = 0; ino != 0 && ino != kRoot && depth < 4096; ++depth) {
        if (!wanted.insert(ino).second) return;
        std::optional<uint64_t> up = ParentOf(ino);
        if (!up) return;
        ino = *up;
      }
    };
    for (const Problem& p : problems_) {
      if (!p.where.empty()) continue;
      want(p.parent != 0 ? p.parent : p.ino);
    }
    for (int round = 0; round < 4; ++round) {
      std::unordered_set<uint64_t> missing;
      for (uint64_t ino : wanted) {
        if (!names_of_.count(ino) && searched.insert(ino).second) missing.insert(ino);
      }
      if (missing.empty()) break;
      auto cursor = names_tree_->NewCursor();
      for (Status st = cursor->First();; st = cursor->Next()) {
        if (!st.ok()) return st;
        if (!cursor->Valid()) break;
        Result<std::string> value = cursor->value();
        std::optional<NameEntry> entry = value.ok() ? DecodeNameEntry(*value) : std::nullopt;
        if (!entry || !missing.count(entry->ino) || cursor->key().size() <= 8) continue;
        const uint64_t parent = ReadBigEndian64(cursor->key());
        names_of_.try_emplace(entry->ino, parent, std::string(cursor->key().substr(8)));
      }
      for (uint64_t ino : missing) {
        auto it = names_of_.find(ino);
        if (it != names_of_.end()) want(it->second.first);
      }
    }
    return Status::Ok();
  }

  std::optional<std::string> PathOf(uint64_t ino) const {
    std::string path;
    for (int depth = 0; ino != kRoot; ++depth) {
      auto it = names_of_.find(ino);
      if (it == names_of_.end() || depth > 4096) return std::nullopt;
      path = "/" + it->second.second + path;
      ino = it->second.first;
    }
    return path.empty() ? "/" : path;
  }

  std::string WhereOf(const Problem& p) const {
    if (!p.where.empty()) return p.where;
    const std::string inode = p.ino != 0 ? "inode " + Num(p.ino) : "entry";
    if (p.parent != 0) {
      std::optional<std::string> dir = PathOf(p.parent);
      if (dir) return inode + " " + (*dir == "/" ? "" : *dir) + "/" + p.name;
      return inode + ", entry '" + p.name + "' of directory " + Num(p.parent);
    }
    std::optional<std::string> path = PathOf(p.ino);
    return path ? inode + " " + *path : inode;
  }

  void Emit(const Status& committed) {
    const std::string failed =
        committed.ok() ? "" : "; the repair did not commit: " + committed.ToString();
    for (const Problem& p : problems_) {
      if (p.fixed && committed.ok()) {
        report_->Fixed(p.kind, WhereOf(p), p.detail);
      } else {
        report_->Found(p.kind, WhereOf(p), p.detail + (p.fixed ? failed : ""));
      }
    }
    for (const auto& [key, count] : unlisted_) {
      auto add = key.second && committed.ok() ? &CheckReport::Fixed : &CheckReport::Found;
      for (uint64_t i = 0; i < count; ++i) (report_->*add)(key.first, "", "(not listed)");
    }
  }

  // A problem about inode `ino` (0: none), or the entry `name` of directory `parent`
  // naming it; `where` when known already, else looked up at the end.
  void Add(std::string kind, uint64_t ino, std::string detail, bool fixed = false,
           std::string where = "", uint64_t parent = 0, std::string name = "") {
    changed_ = changed_ || fixed;  // every change the repair makes is reported fixed
    Keep(Problem{std::move(kind), ino, parent, std::move(name), std::move(where), std::move(detail),
                 fixed});
  }
  // Problems past the report's listing keep only their count here.
  void Keep(Problem p) {
    if (problems_.size() < CheckReport::kMaxListed) {
      problems_.push_back(std::move(p));
    } else {
      ++unlisted_[{p.kind, p.fixed}];
    }
  }

  void Tick(Counted what, uint64_t n = 1) {
    if ((ticks_[what] += n) >= kTickBatch) Flush();
  }
  void Flush() {
    for (int i = 0; i < kCountedKinds; ++i) {
      if (ticks_[i] != 0) report_->Checked(kCountedNames[i], std::exchange(ticks_[i], 0));
    }
  }

  InodeInfo* Info(uint64_t ino) {
    const size_t i = IndexOf(ino);
    return i == inodes_.size() ? nullptr : &inodes_[i];
  }
  size_t IndexOf(uint64_t ino) const {
    auto it = std::lower_bound(inodes_.begin(), inodes_.end(), ino,
                               [](const InodeInfo& info, uint64_t n) { return info.ino < n; });
    return it != inodes_.end() && it->ino == ino ? static_cast<size_t>(it - inodes_.begin())
                                                 : inodes_.size();
  }
  bool IsOrphan(uint64_t ino) const {
    return std::binary_search(orphans_.begin(), orphans_.end(), ino);
  }
  // A directory's parent (edges sorted by child).
  std::optional<uint64_t> ParentOf(uint64_t dir) const {
    auto it = std::lower_bound(edges_.begin(), edges_.end(), std::make_pair(dir, uint64_t{0}));
    if (it != edges_.end() && it->first == dir) return it->second;
    return std::nullopt;
  }

  Engine& engine_;
  bool repair_;  // turned off when the root is missing
  CheckReport* report_;
  std::unique_ptr<Transaction> txn_;
  TxnTree* inode_tree_ = nullptr;
  TxnTree* names_tree_ = nullptr;
  std::unique_ptr<ChunkWalk> chunks_;
  uint64_t chunks_ticked_ = 0;

  std::vector<InodeInfo> inodes_;  // by inode number
  std::vector<uint64_t> orphans_;  // sorted
  // (directory, its parent) for every entry naming a directory: sorted by parent for
  // the walk, then by directory.
  std::vector<std::pair<uint64_t, uint64_t>> edges_;
  std::vector<std::pair<uint64_t, uint64_t>> chunk_counts_;  // (file, chunks) to set
  uint64_t counter_ = 0;
  uint64_t max_ino_ = 0;
  std::string counter_bad_;
  bool counter_dirty_ = false;
  uint64_t lost_found_ = 0;
  bool changed_ = false;

  std::vector<Problem> problems_;
  std::map<std::pair<std::string, bool>, uint64_t> unlisted_;
  uint64_t ticks_[kCountedKinds] = {};
  std::unordered_map<uint64_t, std::pair<uint64_t, std::string>> names_of_;
};

}  // namespace

Status CheckFileSystem(Engine& engine, const FsCheckOptions& options, CheckReport* report) {
  return Checker(engine, options, report).Run();
}

}  // namespace sopfs
