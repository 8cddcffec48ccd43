// FileSystem: POSIX files and directories over the engine, independent of libfuse
// (fuse/kernel/fuse_ops.cc adapts requests to it). What a mount serves.
//
// Layout (three B-Trees; their IDs sit in the volume tree, the engine's first tree):
//  - the inode tree: inode number -> InodeRecord (attributes, size, symlink, xattrs);
//    key 0 holds the next free inode number;
//  - the namespace tree: (directory inode, name) -> NameEntry. A directory is the run of
//    keys under its inode number, ordered by name (one store per directory, sharing
//    one B-Tree so that an empty directory costs nothing and rmdir frees everything);
//  - the chunk tree: (file inode, chunk index) -> one blob per chunk (ChunkFile).
//
// Commit units (SPEC §2). The in-memory state is authoritative; the engine is what
// survives:
//  - Namespace changes (create, mkdir, unlink, rename, link, chmod, xattrs...) apply in
//    memory at once and are committed together, in order, by the next namespace commit:
//    every commit_interval, at an fsync, or with the next file commit.
//  - A file's content changes go into the file's own engine transaction (chunks staged
//    as blobs at once, so they never pile up in memory) and commit, with the pending
//    namespace changes, when its last writable handle is released, at fsync, or at
//    unmount. Until then the stored record keeps the last committed size, so a crash
//    leaves the file entirely old or entirely new.
//  - A file whose last name goes and which is not open loses its chunks and record in
//    the next namespace commit.
//
// Errors: errno values as POSIX has them for each call (ENOENT, EEXIST, ENOTEMPTY,
// ENAMETOOLONG, EXDEV never, ...); EIO for unreadable or damaged objects (that object
// alone, with a log line); a failed file commit is returned by Release and Fsync, and
// the file falls back to its last committed content.
//
// Files: file_system.cc (open, the committer thread, statfs), file_system_inodes.cc
// (the inode table, names, lookup and attributes), file_system_namespace.cc (mknod,
// link, unlink, rmdir, rename, readdir), file_system_xattr.cc (extended attributes),
// file_system_content.cc (open, read, write, fsync...), file_system_commit.cc (commits),
// file_system_journal.cc (the close journal), file_system_txn.cc (explicit transactions).
//
// Threads: every method may be called concurrently. mu_ guards the inode table, the
// pending namespace changes and every inode's attributes; each inode's content_mu
// guards its content (taken after mu_ when both are needed); commit_mu_ orders commits.
#pragma once

#include <sys/stat.h>
#include <sys/statvfs.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "engine/txn/transaction.h"
#include "fuse/fs/close_journal.h"
#include "fuse/fs/fs_store.h"
#include "fuse/fs/inode_record.h"
#include "fuse/fs/space_reserve.h"
#include "streaming/buffered_file.h"
#include "streaming/read_ahead.h"

namespace sopfs {

struct FsTxn;  // a session's explicit transaction (fuse/fs/fs_txn.h)

// Who asks: the request's user and group, and the explicit transaction the request
// belongs to (null: the mount's shared state, SPEC §2).
struct Caller {
  uint32_t uid = 0;
  uint32_t gid = 0;
  FsTxn* txn = nullptr;
  // The session's transaction was rolled back by the daemon (time-out) and the session
  // has not acknowledged it yet: it reads the shared state, and every change fails
  // with ESTALE (see SessionTable).
  bool changes_refused = false;
};

struct FileSystemOptions {
  std::vector<std::string> data_folders;  // for statfs
  int k = 4;                              // data shards per blob (statfs)
  int m = 2;
  std::chrono::milliseconds commit_interval{1000};
  // Called (from the committer thread, never inside a request) for a file whose
  // uncommitted content was dropped by a failed commit: the kernel's cached pages of
  // it are stale.
  std::function<void(uint64_t ino)> invalidate;
  // The folders of the close journal's copies (CloseJournal), through `env`. Without
  // them every close of a written file is an engine commit of its own.
  Env* env = nullptr;
  std::vector<std::string> journal_dirs;
  // The most bytes of small files' contents held in memory, closed through the journal
  // but not yet committed. A close that finds it full asks the committer to commit now
  // and waits for room (as the kernel's dirty-page limit makes writers wait); past
  // small_room_wait it commits the file by itself instead.
  uint64_t small_file_buffer = uint64_t{16} << 20;
  std::chrono::milliseconds small_room_wait{10000};
  // Inodes kept whole in memory before those only the kernel references are dropped
  // (their reference counts stay): bounds the table however many files the kernel holds.
  size_t inode_table_target = 16384;
  // Over an engine opened read-only (EngineOptions::read_only): what the close journal
  // holds is replayed into memory and served, nothing is ever committed (no committer,
  // no deletion of orphans; Sync does nothing). The kernel mount must be read-only.
  bool read_only = false;
  // Tests only: runs in a namespace commit after it took the pending changes and before
  // it writes them (no lock held), to interleave other calls there.
  std::function<void()> after_taking_pending;
};

// What setattr changes; unset fields stay.
struct AttrChange {
  std::optional<uint32_t> mode;  // permission bits only
  std::optional<uint32_t> uid;
  std::optional<uint32_t> gid;
  std::optional<uint64_t> size;
  std::optional<int64_t> atime_ns;  // kNow: the current time
  std::optional<int64_t> mtime_ns;
  // The change comes through an open file (ftruncate, O_TRUNC): a size change is then
  // part of that handle's changes, committed with them; by path it commits at once.
  bool via_handle = false;
  // Drop the set-id bits a content change by an unprivileged caller, or a change of
  // owner, drops (set_id_bits.h); a directory keeps them.
  bool drop_set_id = false;
  static constexpr int64_t kNow = INT64_MIN;
};

struct ListedEntry {
  std::string name;
  uint64_t ino;
  uint32_t type;
};

class FileSystem {
 public:
  static constexpr uint64_t kRootIno = 1;
  static constexpr size_t kMaxNameLength = 255;
  static constexpr size_t kMaxXattrBytes = 64 * 1024;  // all of an inode's xattrs
  // Files up to this size close through the journal (see file_system_journal.cc).
  static constexpr size_t kSmallFileBytes = 64 * 1024;

  static Result<std::unique_ptr<FileSystem>> Open(Engine* engine, FileSystemOptions options);
  ~FileSystem();  // stops the committer; call Sync first to commit what is pending

  // Names. Every call returning an entry adds one lookup reference (Forget drops them).
  Result<struct stat> Lookup(uint64_t parent, std::string_view name, const Caller& caller);
  void Forget(uint64_t ino, uint64_t count);
  Result<struct stat> GetAttr(uint64_t ino, const Caller& caller);
  Result<struct stat> SetAttr(uint64_t ino, const AttrChange& change, const Caller& caller);
  // mkdir, mknod (regular, fifo, socket, devices) and create: `mode` carries the type.
  Result<struct stat> MakeNode(uint64_t parent, std::string_view name, uint32_t mode, uint64_t rdev,
                               const Caller& caller);
  Result<struct stat> Symlink(uint64_t parent, std::string_view name, std::string_view target,
                              const Caller& caller);
  Result<struct stat> Link(uint64_t ino, uint64_t new_parent, std::string_view new_name,
                           const Caller& caller);
  Status Unlink(uint64_t parent, std::string_view name, const Caller& caller);
  Status Rmdir(uint64_t parent, std::string_view name, const Caller& caller);
  // flags: 0, RENAME_NOREPLACE or RENAME_EXCHANGE.
  Status Rename(uint64_t parent, std::string_view name, uint64_t new_parent,
                std::string_view new_name, unsigned flags, const Caller& caller);
  Result<std::string> ReadLink(uint64_t ino, const Caller& caller);
  Result<std::vector<ListedEntry>> ListDir(uint64_t ino, const Caller& caller);

  // Content. Open/Release count handles; the last writable Release commits the file.
  Status Open(uint64_t ino, bool writable, const Caller& caller);
  Status Release(uint64_t ino, bool writable, const Caller& caller);
  // close(): commits the file when this is its last writable handle, so close reports
  // a failed commit (the kernel sends release only after close has returned).
  Status Flush(uint64_t ino, bool writable, const Caller& caller);
  Result<size_t> Read(uint64_t ino, uint64_t offset, std::span<uint8_t> out, const Caller& caller);
  // kAppend writes at the end of the file as the caller sees it now, whatever `offset`
  // says: the kernel's idea of the size (its cached attributes, shared by every session)
  // may be another view's, or older than a concurrent append, and O_APPEND must never
  // overwrite bytes.
  static constexpr uint64_t kAppend = UINT64_MAX;
  // *written_at (when given): where the bytes went.
  Result<size_t> Write(uint64_t ino, uint64_t offset, std::span<const uint8_t> data,
                       const Caller& caller, uint64_t* written_at = nullptr);
  Status Fsync(uint64_t ino, const Caller& caller);
  // Mode 0 and FALLOC_FL_KEEP_SIZE promise room for the range (SpaceReserve; ENOSPC at
  // once when the disk lacks it) and mode 0 grows the file to cover it;
  // FALLOC_FL_PUNCH_HOLE|KEEP_SIZE and FALLOC_FL_ZERO_RANGE; EOPNOTSUPP otherwise.
  Status Fallocate(uint64_t ino, int mode, uint64_t offset, uint64_t length, const Caller& caller);
  static bool FallocateModeSupported(int mode);
  // Chunks whose room fallocate promised and that hold no data yet (for .sopfs/stats).
  uint64_t promised_chunks() const;
  // What the daemon holds in memory for the namespace (.sopfs/stats).
  struct MemoryCounts {
    uint64_t inodes = 0;               // whole inodes in the table
    uint64_t parked_inodes = 0;        // kernel references kept without their inode
    uint64_t small_pending_bytes = 0;  // small files' contents awaiting a commit
  };
  MemoryCounts memory_counts();
  // The intent log since the mount: fsyncs it took, bytes appended, folds done.
  struct IntentCounts {
    uint64_t records = 0, bytes = 0, folds = 0;
  };
  IntentCounts intent_counts();
  Result<uint64_t> Lseek(uint64_t ino, uint64_t offset, int whence, const Caller& caller);

  // user.* and trusted.* are stored; user.sopfs.* are virtual and read-only (version,
  // chunk_size, chunk_count, erasure).
  Status SetXattr(uint64_t ino, std::string_view name, std::string_view value, int flags,
                  const Caller& caller);
  Result<std::string> GetXattr(uint64_t ino, std::string_view name, const Caller& caller);
  Result<std::vector<std::string>> ListXattr(uint64_t ino, const Caller& caller);
  Status RemoveXattr(uint64_t ino, std::string_view name, const Caller& caller);

  Result<struct statvfs> StatFs();
  // Commits every pending change: namespace and every file's content (unmount, syncfs).
  Status Sync();

  // Explicit transactions (SPEC §3; fuse/fs/file_system_txn.cc). A transaction reads from
  // the snapshot taken at BeginTxn (which first commits what is pending, so the
  // snapshot holds everything closed before it) and keeps its changes to itself until
  // CommitTxn applies all of them in one engine transaction, or none: EBUSY when a key
  // it read or wrote was changed by another commit (or is being changed outside it
  // right now), with FsTxn::conflict naming the path. Either way the transaction ends.
  Result<std::shared_ptr<FsTxn>> BeginTxn(bool readonly);
  // What a transaction changed, for the kernel's caches: inodes and (parent, name).
  struct TxnChanges {
    std::vector<uint64_t> inodes;
    std::vector<std::pair<uint64_t, std::string>> names;
  };
  // `touched` gets what the transaction changed, whether or not it committed (the
  // kernel's view of those must be dropped either way).
  Status CommitTxn(FsTxn& txn, TxnChanges* touched);
  TxnChanges RollbackTxn(FsTxn& txn);
  int erasure_k() const { return options_.k; }
  int erasure_m() const { return options_.m; }
  uint32_t chunk_size() const { return chunk_size_; }

 private:
  struct Inode {
    uint64_t ino = 0;
    InodeRecord rec;                   // live attributes (content fields: see content_mu)
    InodeRecord committed;             // content fields as last committed (size, chunks, mtime)
    uint64_t lookups = 0;              // kernel references (mu_)
    int open = 0;                      // handles (mu_)
    int open_writable = 0;             // (mu_)
    std::mutex content_mu;             // guards content, txn and rec's content fields
    std::unique_ptr<Transaction> txn;  // the content transaction, while dirty
    std::unique_ptr<BufferedFile> content;
    uint64_t intent_appended = 0;  // its last intent-log record (content_mu)
  };
  using InodePtr = std::shared_ptr<Inode>;
  // Namespace changes taken for one commit.
  struct Pending {
    std::map<std::string, std::optional<NameEntry>> entries;
    std::map<uint64_t, std::string> records;  // encoded, as they may be stored now
    std::map<uint64_t, InodePtr> dirty;       // the inodes of `records`
    std::set<uint64_t> doomed;
    std::set<uint64_t> orphans;  // removed but still open: deleted at mount after a crash
    std::map<uint64_t, std::string> small;  // whole contents of small files closed
    uint64_t next_ino = 0;                  // 0: unchanged
    uint64_t journal_seq = 0;               // the last journal record this includes
    uint64_t journal_generation = 0;        // journal files before it are all included
  };

  FileSystem(Engine* engine, FileSystemOptions options);
  Status LoadVolume();
  // Deletes the files a crash left removed-but-open (their orphan keys).
  Status DeleteOrphans();
  void CommitterLoop();
  void WantCheckpoint();

  friend struct FsTxn;
  // The lock a request holds: mu_, or its transaction's (then EROFS for writes of a
  // readonly one, ESTALE once it ended).
  // namespace_op: a write that counts in the transaction's namespace_ops (not data).
  Result<std::unique_lock<std::mutex>> Enter(const Caller& c, bool write, bool namespace_op = true);
  // ESTALE when the caller's changes are refused (Caller::changes_refused).
  static Status CheckChangesAllowed(const Caller& c);
  // The inode, loaded into the table when needed. mu_ held.
  Result<InodePtr> Get(uint64_t ino);
  // The same in the caller's view (its transaction's copy of the inode, if it has one).
  Result<InodePtr> Get(const Caller& c, uint64_t ino);
  // The same, taking mu_ for the lookup only (content operations then lock the inode).
  Result<InodePtr> GetUnlocked(uint64_t ino);
  Result<std::optional<NameEntry>> FindEntry(const Caller& c, uint64_t parent,
                                             std::string_view name);
  Result<InodePtr> GetDir(const Caller& c, uint64_t ino);
  struct Child {
    InodePtr dir;
    InodePtr inode;
  };
  // The directory `parent` and its entry `name` (ENOENT, ENOTDIR, ENAMETOOLONG). mu_ held.
  Result<Child> FindChild(const Caller& c, uint64_t parent, std::string_view name);
  Result<bool> DirEmpty(const Caller& c, uint64_t ino);
  Result<std::vector<ListedEntry>> ListDirLocked(const Caller& c, uint64_t ino, size_t limit);
  Status PutEntry(const Caller& c, uint64_t parent, std::string_view name, const NameEntry& entry);
  Status DropEntry(const Caller& c, uint64_t parent, std::string_view name);
  void MarkDirty(const Caller& c, const InodePtr& inode);
  void MarkDirty(const InodePtr& inode);  // mu_
  // One name fewer: the inode is deleted in the next commit once nothing holds it.
  void DropLink(const Caller& c, const InodePtr& inode);
  // A kernel reference more (lookups are counted in the shared table only).
  void AddLookup(const Caller& c, Inode& inode);
  // Drops clean inodes nobody references from the table. mu_ and commit_mu_ held.
  void Sweep();
  // The record as it may be stored now: a file whose content is not committed keeps
  // its last committed size, chunks and times. mu_ held.
  InodeRecord DurableRecord(const Inode& inode) const;
  struct stat StatOf(Inode& inode);  // mu_
  static Status CheckName(std::string_view name);
  static Status NotFound(std::string_view name);  // ENOENT naming the entry
  // A new inode whose content goes to `store` (its directory's).
  Result<InodePtr> NewInode(uint32_t mode, uint64_t rdev, uint32_t store, const Caller& caller);
  // A store by ID; the root store for an ID the volume does not record (logged once:
  // a damaged record). The reference stays valid: stores are never removed.
  const FsStore& StoreOf(uint32_t id) const;
  // The chunk tree of `store` in `txn` (ranges unchecked: a file's chunks change only
  // together with its inode record, which is checked).
  static Result<TxnTree*> ChunksIn(Transaction& txn, const FsStore& store);
  // The store recorded for `ino` in `inodes` (the root store when it has no record).
  static Result<uint32_t> RecordedStore(TxnTree& inodes, uint64_t ino);
  // Makes `dir` (empty) the top of a new store laid out as `spec` says (setxattr of
  // user.sopfs.store); mu_ held.
  Status MakeStore(const InodePtr& dir, std::string_view spec, const Caller& c);
  // A store's layout and chunk size as user.sopfs.store shows them ("8+3:1M").
  std::string StoreText(uint32_t id) const;

  // A transaction's side of the operations (file_system_txn.cc); txn.mu held.
  Result<InodePtr> TxnGet(FsTxn& txn, uint64_t ino);
  Result<size_t> TxnRead(FsTxn& txn, Inode& inode, uint64_t offset, std::span<uint8_t> out);
  Status TxnStartContent(FsTxn& txn, Inode& inode);
  // The records a commit writes (mu_ held): directories merged with the shared state.
  Status WriteTxnRecords(FsTxn& txn);
  // After a commit: the shared state takes the transaction's records. mu_ held.
  void AdoptTxn(FsTxn& txn);
  // The path of an inode or entry as the transaction came to know it.
  std::string TxnPath(const FsTxn& txn, uint64_t ino) const;
  // The (parent, name) of an entry naming `ino` in the committed namespace, if any.
  std::optional<std::pair<uint64_t, std::string>> FindName(uint64_t ino) const;
  std::string ConflictPath(const FsTxn& txn, const Transaction::ConflictSite& site) const;
  TxnChanges EndTxn(FsTxn& txn);

  // A file's committed state in one read-only snapshot: its size and chunks agree.
  struct CommittedView {
    std::unique_ptr<Transaction> txn;
    TxnTree* chunks = nullptr;
    ChunkSource source;  // the file's store's chunk tree and chunk size
    uint64_t size = 0;
    uint64_t stored_chunks = 0;
  };
  Result<CommittedView> ViewCommitted(uint64_t ino);

  // The file's content, with its transaction begun when first needed. content_mu held.
  Status StartContent(Inode& inode);
  // Gives a chunk's promised room back just before `content` stores it.
  void ReleasePromisesOnStore(BufferedFile& content, uint64_t ino);
  // A cut from `before` to `after` bytes gives back the room of the chunks past the end,
  // as ext4 frees preallocated blocks past a truncate.
  void ReleasePromisesOnCut(uint64_t ino, uint64_t before, uint64_t after);
  // Fallocate's mode 0 and FALLOC_FL_KEEP_SIZE on the file's content (its lock held).
  Status Preallocate(uint64_t ino, BufferedFile& content, int mode, uint64_t offset,
                     uint64_t length);
  // Commits the namespace and, with it, the file's content (content_mu held or not).
  Status CommitFile(const InodePtr& inode);
  Status CommitNamespace();
  Status CommitNamespaceLocked();  // commit_mu_ held
  // Takes the pending namespace changes (mu_ held); they stay visible to lookups as
  // inflight_ until the commit is applied. Deletions need a transaction begun after
  // the files' last content commits, so a file commit leaves them (with_doomed false).
  std::unique_ptr<Pending> TakePending(bool with_doomed);
  // After a commit: forget what it applied, or put back what it did not. mu_ held.
  void FinishPending(std::unique_ptr<Pending> pending, bool applied);
  // Writes `pending` into `txn`; the small content of `skip_small` is left out (its
  // content transaction, committing with it, has newer bytes).
  Status WritePending(Transaction& txn, const Pending& pending, uint64_t skip_small = 0);
  // Makes each file's whole content the given bytes (one chunk each, all blobs written
  // in one batch). Contents must fit one chunk.
  struct SmallFile {
    uint64_t ino;
    uint32_t store;
    std::string_view bytes;
  };
  Status WriteSmallContents(Transaction& txn, std::span<const SmallFile> files);
  Status WriteSmallContentsOfStore(TxnTree& chunks, uint32_t chunk_size,
                                   std::span<const std::pair<uint64_t, std::string_view>> files);

  // The intent log (file_system_intent.cc). No lock held unless said otherwise.
  // An fsync of a file changed only by writes since its last commit or record: logs
  // those bytes durably instead of committing. False when it cannot (the caller commits).
  bool LogIntent(const InodePtr& inode);
  // Commits the files with records in the older log files, then drops those files:
  // when `force`, or when the log has grown or aged past its bounds.
  Status FoldIntents(bool force);
  // At open, after the close journal: applies each file's records that its stored
  // record does not include, and commits them.
  Status ReplayIntents();
  // Stores the highest record number handed out, so numbers stay increasing after the
  // log files are dropped.
  Status StoreIntentSeq(uint64_t seq);

 public:
  // One record: the bytes a file was written since its previous one, with its size
  // (kept for inspection) and times.
  struct IntentRecord {
    uint64_t seq = 0, ino = 0, size = 0;
    int64_t mtime_ns = 0, ctime_ns = 0;
    std::vector<BufferedFile::WrittenRange> writes;
  };

 private:
  // Lays a record's writes over the file's content (content_mu held).
  Status ApplyIntent(Inode& inode, const IntentRecord& r);
  // After a failed commit threw the content back to the last commit: the writes its
  // records hold past that commit are laid over it again, so what an fsync
  // acknowledged stays what reads and the next commit see (content_mu held).
  void ReapplyIntents(Inode& inode);

  // The close journal (file_system_journal.cc). mu_ held unless said otherwise.
  // Closes a small file through the journal; false when it is not one (the caller
  // commits it instead). content_mu and mu_ not held.
  Result<bool> FastClose(const InodePtr& inode);
  // Appends the namespace changes since the last record (and small contents).
  Status AppendJournal();
  // At open: applies the records no commit included, and commits them. No lock held.
  Status ReplayJournal();
  // A small file's content closed but not committed yet.
  const std::string* SmallPending(uint64_t ino) const;
  // Sets or drops a small file's pending content, keeping small_bytes_ (mu_ held).
  void PutSmall(uint64_t ino, std::string bytes);
  void DropSmall(uint64_t ino);
  // Waits until the small contents awaiting a commit leave room, waking the committer;
  // false when none came within small_room_wait (a commit failing, say). No lock held.
  bool WaitForSmallRoom();
  // Room in the small-file buffer for a share (1/2, 1) of its bounds: bytes in memory
  // (small_file_buffer) and bytes they take on disk once committed. mu_ held.
  bool SmallRoomLocked(uint64_t numerator, uint64_t denominator) const;
  // Disk bytes a small file's content takes once committed: in a node segment, or a
  // blob of k+m shards, each a block of header and padding more.
  uint64_t SmallDiskCost(uint64_t bytes) const;
  // Wakes the committer for a namespace commit now, not at the next interval.
  void CommitSoon();
  void MarkDoomed(uint64_t ino);

  Engine* engine_;
  FileSystemOptions options_;
  LogicalId inode_tree_ = 0;
  LogicalId names_tree_ = 0;
  LogicalId chunk_tree_ = 0;
  uint32_t chunk_size_ = 1u << 20;
  // The stores by ID, 0 the root store (fs_store.h); only ever grows.
  mutable std::mutex stores_mu_;
  std::map<uint32_t, FsStore> stores_;
  // Room fallocate promised (null without an Env); outlives every inode's content.
  std::unique_ptr<SpaceReserve> reserve_;

  std::mutex commit_mu_;  // one commit at a time, in order
  std::mutex mu_;
  std::unordered_map<uint64_t, InodePtr> inodes_;
  // Kernel references of clean, closed, linked inodes dropped from inodes_ to bound its
  // memory (Sweep); Get puts them back when the inode is loaded again.
  std::unordered_map<uint64_t, uint64_t> parked_lookups_;
  uint64_t next_ino_ = 2;
  uint64_t committed_next_ino_ = 0;
  std::map<std::string, std::optional<NameEntry>> dirty_entries_;  // names key -> entry
  std::set<uint64_t> dirty_inodes_;
  std::set<uint64_t> doomed_;                      // to delete with their chunks
  std::set<uint64_t> content_pending_;             // files with a content transaction
  std::map<uint64_t, std::string> small_content_;  // small files closed, not committed
  // Bytes of small_content_ and of the small contents of the commit in flight.
  uint64_t small_bytes_ = 0;
  // What they will take on disk once committed (SmallDiskCost): kept within half the
  // engine's metadata reserve, so that what was acknowledged always fits at a full disk.
  uint64_t small_disk_cost_ = 0;
  std::condition_variable small_room_cv_;  // small_bytes_ went down
  std::unique_ptr<CloseJournal> journal_;
  uint64_t journal_seq_ = 0;  // of the last record appended (or replayed)
  // What changed since the last journal record.
  std::set<std::string> journal_names_;
  std::set<uint64_t> journal_inodes_;
  std::set<uint64_t> journal_doomed_;
  std::set<uint64_t> journal_small_;  // small contents closed since the last record
  // Files whose content commit is running: a journal record must not capture their
  // record half-way (it would pair the old size with the new chunks), so appends wait.
  std::set<uint64_t> committing_;
  std::condition_variable committed_cv_;
  // Taken by the commit running now (owned by it; read-only until FinishPending).
  const Pending* inflight_ = nullptr;

  // The intent log. intent_mu_ guards what follows it; taken after content_mu, never
  // with mu_ held.
  std::mutex intent_mu_;
  std::unique_ptr<CloseJournal> intents_;
  std::atomic<uint64_t> intent_seq_{0};    // of the last record handed out
  std::map<uint64_t, uint64_t> unfolded_;  // files with records no commit includes
  uint64_t intent_bytes_ = 0;              // appended since the last fold
  IntentCounts intent_counts_;             // since the mount
  std::chrono::steady_clock::time_point oldest_unfolded_{};

  // Small writes into stored chunks, kept as patches (BufferedFile): what files keep
  // beyond their own budget of one chunk, all together.
  static constexpr size_t kPatchBudgetBytes = size_t{32} << 20;
  std::shared_ptr<PatchBudget> patch_budget_ = std::make_shared<PatchBudget>(kPatchBudgetBytes);

  std::unique_ptr<ReadAhead> read_ahead_;
  std::atomic<uint64_t> last_txn_id_{0};

  std::mutex committer_mu_;
  std::condition_variable committer_cv_;
  bool stopping_ = false;
  // Space comes back only at a checkpoint (blobs freed by deletions, or left by a commit
  // that failed): the committer runs one soon after either.
  bool checkpoint_wanted_ = false;
  // Committer thread only: a wanted checkpoint kept freed blobs an open snapshot (a
  // reader, a session's transaction) could still see; once every snapshot has reached
  // this publish number, the committer checkpoints again to give their room back.
  uint64_t frees_to_chase_ = 0;
  bool commit_soon_ = false;             // a namespace commit is wanted before the interval ends
  std::vector<uint64_t> to_invalidate_;  // files whose cached pages are stale
  std::thread committer_;
};

}  // namespace sopfs
