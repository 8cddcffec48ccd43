// DescribeLostBlobs (see fuse/fs/fs_check_lost.h): what is wanted is gathered from the
// places first (inodes by number, ranges of inode numbers for nodes), then one scan of
// the names tree finds their names and every directory's, then each place is told.
#include "fuse/fs/fs_check_lost.h"

#include <sys/stat.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "engine/txn/transaction.h"
#include "fuse/fs/file_system.h"
#include "fuse/fs/inode_record.h"
#include "fuse/fs/volume_layout.h"
#include "streaming/chunk_file.h"

namespace sopfs {
namespace {

constexpr uint64_t kRoot = FileSystem::kRootIno;
// Files named per node range, and names kept per inode (hard links).
constexpr size_t kMaxRangeFiles = 20;
constexpr size_t kMaxNames = 64;
constexpr int kMaxDepth = 4096;

std::string Num(uint64_t v) { return std::to_string(v); }

// The inode a key of the inode tree is about (orphan keys included); nullopt for
// anything else.
std::optional<uint64_t> InodeOfKey(const std::optional<std::string>& key) {
  if (!key) return std::nullopt;
  if (key->size() == 8) return ReadBigEndian64(*key);
  if (key->size() == 16 && key->substr(0, 8) == OrphanPrefix()) {
    return ReadBigEndian64(key->substr(8));
  }
  return std::nullopt;
}

// A chunk key's (inode, index).
std::optional<std::pair<uint64_t, uint64_t>> ChunkOfKey(const std::optional<std::string>& key) {
  if (!key || key->size() != 16) return std::nullopt;
  return std::make_pair(ReadBigEndian64(*key), ReadBigEndian64(key->substr(8)));
}

// A names-tree key's (directory, name).
std::optional<std::pair<uint64_t, std::string>> EntryOfKey(const std::optional<std::string>& key) {
  if (!key || key->size() < 8) return std::nullopt;
  return std::make_pair(ReadBigEndian64(*key), key->substr(8));
}

// Inodes numbered first..last (inclusive) whose names are wanted; `files`: regular
// files only (a chunk-tree node holds no directory's bytes).
struct InodeRange {
  uint64_t first = 0;
  uint64_t last = 0;
  bool files = false;
  std::set<uint64_t> found;  // at most kMaxRangeFiles
  bool more = false;         // some left out
};

class LostNamer {
 public:
  LostNamer(Engine& engine, CheckReport* report) : engine_(engine), report_(report) {}

  Status Run() {
    const std::vector<LostBlob> lost = report_->lost();
    if (lost.empty()) return Status::Ok();
    Result<VolumeLayout> layout = ReadVolumeLayout(engine_);
    if (!layout.ok()) return layout.status();
    layout_ = *layout;
    txn_ = engine_.Begin(TxnMode::kReader);
    Result<TxnTree*> inodes = txn_->Tree(layout_.inode_tree);
    Result<TxnTree*> names = txn_->Tree(layout_.names_tree);
    if (!inodes.ok()) return inodes.status();
    if (!names.ok()) return names.status();
    inode_tree_ = *inodes;
    names_tree_ = *names;
    for (const LostBlob& blob : lost) {
      for (const LostPlace& place : blob.places) Want(place);
    }
    SOPFS_RETURN_IF_ERROR(ScanNames());
    for (size_t i = 0; i < lost.size(); ++i) {
      std::vector<LostHeld> held;
      for (const LostPlace& place : lost[i].places) {
        LostHeld h = Tell(place);
        // A segment's nodes often tell the same thing: once is enough.
        const bool seen = std::any_of(held.begin(), held.end(),
                                      [&](const LostHeld& o) { return o.what == h.what; });
        if (!seen) held.push_back(std::move(h));
      }
      report_->Describe(i, std::move(held));
    }
    return Status::Ok();
  }

 private:
  // ---- what is wanted ----

  void Want(const LostPlace& p) {
    if (ChunkSizeOf(p.tree)) {
      if (p.value) {
        if (auto chunk = ChunkOfKey(p.key)) wanted_.insert(chunk->first);
        return;
      }
      const auto low = ChunkOfKey(p.key), high = ChunkOfKey(p.end);
      WantRange(low ? low->first : 0, high ? high->first : UINT64_MAX, true);
    } else if (p.tree == layout_.inode_tree) {
      const auto low = InodeOfKey(p.key), high = InodeOfKey(p.end);
      if (p.value) {
        if (low) wanted_.insert(*low);
        return;
      }
      if (low) wanted_.insert(*low);
      if (high) wanted_.insert(*high);
      WantRange(low ? *low + 1 : 0, high ? *high - 1 : UINT64_MAX, false);
    } else if (p.tree == layout_.names_tree) {
      if (p.value) {
        if (auto entry = EntryOfKey(p.key)) wanted_.insert(entry->first);
      } else {
        names_lost_.push_back(p);  // the scan steps over it
      }
    }
  }
  void WantRange(uint64_t first, uint64_t last, bool files) {
    if (first > last) return;
    InodeRange r;
    r.first = first;
    r.last = last;
    r.files = files;
    ranges_.push_back(std::move(r));
  }

  // ---- the names scan ----

  Status ScanNames() {
    auto cursor = names_tree_->NewCursor();
    std::optional<std::string> last;  // the last key read
    Status st = cursor->First();
    while (true) {
      if (!st.ok()) {
        // A lost node: go on after its key range.
        std::optional<std::string> past = PastLostNames(last);
        if (!past) {
          names_partial_ = true;
          return Status::Ok();
        }
        last = *past;
        st = cursor->Seek(*past);
        continue;
      }
      if (!cursor->Valid()) return Status::Ok();
      const std::string key(cursor->key());
      last = key;
      Result<std::string> value = cursor->value();
      std::optional<NameEntry> entry = value.ok() ? DecodeNameEntry(*value) : std::nullopt;
      if (entry && key.size() > 8) Note(ReadBigEndian64(key), key.substr(8), *entry);
      st = cursor->Next();
    }
  }

  // The end of the lost names-tree node that comes right after `last` (the one the
  // cursor failed in); nullopt when none does or it reaches the end of the tree.
  std::optional<std::string> PastLostNames(const std::optional<std::string>& last) {
    const LostPlace* best = nullptr;
    for (const LostPlace& p : names_lost_) {
      if (last && p.key && *p.key < *last) continue;  // before where the scan is
      if (p.end && last && *p.end <= *last) continue;
      // The lowest start; of two starting alike, the wider (nearer the root).
      if (best == nullptr || (!p.key && best->key) || (p.key && best->key && *p.key < *best->key) ||
          (p.key == best->key && p.level < best->level)) {
        best = &p;
      }
    }
    if (best == nullptr || !best->end) return std::nullopt;
    names_partial_ = true;
    return best->end;
  }

  void Note(uint64_t parent, const std::string& name, const NameEntry& entry) {
    const uint64_t ino = entry.ino;
    if (S_ISDIR(entry.type)) dirs_.try_emplace(ino, parent, name);
    bool keep = wanted_.count(ino) != 0;
    for (InodeRange& r : ranges_) {
      if (ino < r.first || ino > r.last || (r.files && !S_ISREG(entry.type))) continue;
      if (r.found.count(ino) || r.found.size() < kMaxRangeFiles) {
        r.found.insert(ino);
        keep = true;
      } else {
        r.more = true;
      }
    }
    if (!keep) return;
    std::vector<std::pair<uint64_t, std::string>>& names = names_[ino];
    if (names.size() < kMaxNames) names.emplace_back(parent, name);
  }

  // ---- paths ----

  // A directory's path ("" for the root); "(directory N)" where a name is unknown.
  std::string DirPath(uint64_t dir) const {
    std::string path;
    for (int depth = 0; dir != kRoot; ++depth) {
      auto it = dirs_.find(dir);
      if (it == dirs_.end() || depth > kMaxDepth) return "(directory " + Num(dir) + ")" + path;
      path = "/" + it->second.second + path;
      dir = it->second.first;
    }
    return path;
  }
  std::vector<std::string> PathsOf(uint64_t ino) const {
    std::vector<std::string> out;
    if (ino == kRoot) return {"/"};
    auto names = names_.find(ino);
    if (names != names_.end()) {
      for (const auto& [parent, name] : names->second) out.push_back(DirPath(parent) + "/" + name);
    } else if (dirs_.count(ino)) {
      out.push_back(DirPath(ino));
    }
    std::sort(out.begin(), out.end());
    return out;
  }
  // Every name of the inode, or what stands for it.
  std::string Label(uint64_t ino) const {
    std::vector<std::string> paths = PathsOf(ino);
    if (paths.empty()) {
      return "inode " + Num(ino) + (names_partial_ ? " (name unknown: names lost)" : " (no name)");
    }
    std::string out;
    for (const std::string& p : paths) out += (out.empty() ? "" : ", ") + p;
    return out;
  }
  void AddPaths(uint64_t ino, std::vector<std::string>* out) const {
    for (std::string& p : PathsOf(ino)) out->push_back(std::move(p));
  }

  // ---- telling a place ----

  LostHeld Tell(const LostPlace& p) {
    if (p.tree == 0) {
      return {"registry ID " + Num(p.id) + ", reached by no tree of the file system", {}};
    }
    if (ChunkSizeOf(p.tree)) return p.value ? TellChunk(p) : TellChunkNode(p);
    if (p.tree == layout_.inode_tree) return TellInodes(p);
    if (p.tree == layout_.names_tree) return TellNames(p);
    if (p.tree == VolumeLayout::kVolumeTree) {
      return {"the volume tree (" + Node(p) + "): where the file system's trees are", {}};
    }
    return {"tree " + Num(p.tree) + (p.value ? ", a value" : ", " + Node(p)), {}};
  }

  // The chunk size of the store whose chunk tree `tree` is; none: not a chunk tree.
  std::optional<uint32_t> ChunkSizeOf(LogicalId tree) const {
    if (tree == layout_.chunk_tree) return layout_.chunk_size;
    for (const FsStore& store : layout_.stores) {
      if (store.chunk_tree == tree) return store.chunk_size;
    }
    return std::nullopt;
  }

  static std::string Node(const LostPlace& p) {
    return p.level == 0 ? "the root" : "level " + Num(p.level);
  }

  LostHeld TellChunk(const LostPlace& p) {
    const auto chunk = ChunkOfKey(p.key);
    if (!chunk) return {"a chunk under a malformed key", {}};
    const auto [ino, index] = *chunk;
    LostHeld h;
    AddPaths(ino, &h.paths);
    h.what = Label(ino) + " chunk " + Num(index);
    const uint64_t chunk_size = ChunkSizeOf(p.tree).value_or(layout_.chunk_size);
    const uint64_t from = index * chunk_size;
    Result<std::string> bytes = inode_tree_->Find(InodeKey(ino));
    Result<InodeRecord> rec = bytes.ok() ? InodeRecord::Decode(*bytes, ino) : bytes.status();
    if (!rec.ok()) {
      h.what += " (bytes " + Num(from) + "-" + Num(from + chunk_size - 1) +
                "; the inode's record: " + rec.status().message() + ")";
    } else if (rec->size <= from) {
      h.what += " (past the file's end, size " + Num(rec->size) + ")";
    } else {
      const uint64_t to = std::min<uint64_t>(rec->size, from + chunk_size) - 1;
      h.what += " (bytes " + Num(from) + "-" + Num(to) + " of " + Num(rec->size) + ")";
    }
    return h;
  }

  LostHeld TellChunkNode(const LostPlace& p) {
    const auto low = ChunkOfKey(p.key), high = ChunkOfKey(p.end);
    LostHeld h;
    if (!low && !high) {
      h.what = "chunk-tree node (" + Node(p) + "): every file's chunks";
      return h;
    }
    h.what = "chunk-tree node (" + Node(p) + "): chunks from " +
             (low ? Label(low->first) + " chunk " + Num(low->second) : "the first file's first") +
             " to " +
             (high ? Label(high->first) + " chunk " + Num(high->second) : "the last file's last");
    RangeFiles(low ? low->first : 0, high ? high->first : UINT64_MAX, true, &h);
    return h;
  }

  LostHeld TellInodes(const LostPlace& p) {
    const auto low = InodeOfKey(p.key), high = InodeOfKey(p.end);
    LostHeld h;
    if (p.value) {
      if (low) AddPaths(*low, &h.paths);
      h.what = "the record of " + (low ? "inode " + Num(*low) + " " + Label(*low) : "an inode");
      return h;
    }
    if (!low && !high) {
      h.what = "inode-tree node (" + Node(p) + "): every inode's record";
      return h;
    }
    h.what = "inode-tree node (" + Node(p) + "): the records of inodes after " +
             (low ? Num(*low) + " (" + Label(*low) + ")" : "the start") + " and before " +
             (high ? Num(*high) + " (" + Label(*high) + ")" : "the end");
    RangeFiles(low ? *low + 1 : 0, high ? *high - 1 : UINT64_MAX, false, &h);
    return h;
  }

  LostHeld TellNames(const LostPlace& p) {
    const auto low = EntryOfKey(p.key), high = EntryOfKey(p.end);
    LostHeld h;
    auto dir = [&](uint64_t ino) {
      const std::string path = DirPath(ino);
      h.paths.push_back(path.empty() ? "/" : path);
      return path.empty() ? "/" : path;
    };
    if (p.value) {
      h.what = "the entry of " + (low ? "'" + low->second + "' in " + dir(low->first) : "a name");
      return h;
    }
    if (!low && !high) {
      h.what = "names-tree node (" + Node(p) + "): every directory's names";
    } else if (low && high && low->first == high->first) {
      h.what = "names-tree node (" + Node(p) + "): names of directory " + dir(low->first) +
               " after '" + low->second + "' and before '" + high->second + "'";
    } else {
      h.what = "names-tree node (" + Node(p) + "): names from " +
               (low ? "directory " + dir(low->first) + " after '" + low->second + "'"
                    : "the first directory") +
               " to " +
               (high ? "directory " + dir(high->first) + " before '" + high->second + "'"
                     : "the last directory");
    }
    return h;
  }

  // The files named in a node's range, into h.paths and (the first few) h.what.
  void RangeFiles(uint64_t first, uint64_t last, bool files, LostHeld* h) const {
    for (const InodeRange& r : ranges_) {
      if (r.first != first || r.last != last || r.files != files) continue;
      for (uint64_t ino : r.found) AddPaths(ino, &h->paths);
      if (h->paths.empty()) return;
      h->what += "; hits ";
      for (size_t i = 0; i < h->paths.size() && i < 5; ++i) {
        h->what += (i ? ", " : "") + h->paths[i];
      }
      if (h->paths.size() > 5 || r.more) h->what += " and more";
      return;
    }
  }

  Engine& engine_;
  CheckReport* report_;
  VolumeLayout layout_;
  std::unique_ptr<Transaction> txn_;
  TxnTree* inode_tree_ = nullptr;
  TxnTree* names_tree_ = nullptr;

  std::unordered_set<uint64_t> wanted_;  // inodes whose every name is wanted
  std::vector<InodeRange> ranges_;
  std::vector<LostPlace> names_lost_;  // lost nodes of the names tree
  bool names_partial_ = false;         // the scan stepped over lost names
  // Every directory's (parent, name); the names of the inodes wanted.
  std::unordered_map<uint64_t, std::pair<uint64_t, std::string>> dirs_;
  std::unordered_map<uint64_t, std::vector<std::pair<uint64_t, std::string>>> names_;
};

}  // namespace

Status DescribeLostBlobs(Engine& engine, CheckReport* report) {
  return LostNamer(engine, report).Run();
}

}  // namespace sopfs
