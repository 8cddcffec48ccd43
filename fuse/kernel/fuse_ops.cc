#include "fuse/kernel/fuse_ops.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/xattr.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "fuse/fs/fs_txn.h"
#include "fuse/fs/set_id_bits.h"
#include "fuse/kernel/kernel_read_ahead.h"

namespace sopfs {
namespace {

FuseContext& Ctx(fuse_req_t req) { return *static_cast<FuseContext*>(fuse_req_userdata(req)); }
FileSystem& Fs(fuse_req_t req) { return *Ctx(req).fs; }

FileHandle* HandleOf(const fuse_file_info* fi) {
  return fi == nullptr ? nullptr : HandleTable<FileHandle>::Get(fi->fh);
}

// The caller of a request: user, group, and the transaction it belongs to — its
// handle's, else its session's.
struct Request {
  Caller caller;
  std::shared_ptr<FsTxn> hold;  // keeps caller.txn alive for the request
  pid_t sid = -1;
};

Request Who(fuse_req_t req, const FileHandle* handle = nullptr) {
  FuseContext& ctx = Ctx(req);
  ++ctx.requests.ops;
  const fuse_ctx* c = fuse_req_ctx(req);
  Request r;
  r.caller.uid = c->uid;
  r.caller.gid = c->gid;
  if (handle != nullptr && handle->txn) {
    r.hold = handle->txn;
  } else if (ctx.sessions->any_bound()) {
    r.sid = SessionTable::SessionOf(c->pid);
    r.hold = ctx.sessions->Find(r.sid);
    if (r.hold && r.hold->aborted) {
      r.hold.reset();  // the shared view, read-only for now (see SessionTable)
      r.caller.changes_refused = true;
    }
  }
  r.caller.txn = r.hold.get();
  return r;
}

// No kernel caching while a transaction is open anywhere (see fuse_ops.h).
double Timeout(fuse_req_t req, const Request& r) {
  return r.caller.txn != nullptr || Ctx(req).sessions->any_open() ? 0.0 : Ctx(req).attr_timeout;
}

void ReplyError(fuse_req_t req, const Status& st) {
  const int err = st.ok() ? 0 : st.code();
  if (err != 0 && err != ENOENT && err != ENODATA) ++Ctx(req).requests.errors;
  fuse_reply_err(req, err);
}

fuse_entry_param EntryOf(fuse_req_t req, const Request& r, const struct stat& st) {
  fuse_entry_param e{};
  e.ino = st.st_ino;
  e.generation = 1;
  e.attr = st;
  e.attr_timeout = e.entry_timeout = control::IsControl(st.st_ino) ? 0 : Timeout(req, r);
  return e;
}

void ReplyEntry(fuse_req_t req, const Request& r, const Result<struct stat>& st) {
  if (!st.ok()) return ReplyError(req, st.status());
  fuse_entry_param e = EntryOf(req, r, *st);
  fuse_reply_entry(req, &e);
}

void ReplyAttr(fuse_req_t req, const Request& r, const Result<struct stat>& st) {
  if (!st.ok()) return ReplyError(req, st.status());
  fuse_reply_attr(req, &*st, control::IsControl(st->st_ino) ? 0 : Timeout(req, r));
}

bool Writable(int flags) { return (flags & O_ACCMODE) != O_RDONLY; }

Status Reserved() {
  return Status::Error(EPERM, "'.sopfs' is the control directory: it cannot be changed");
}

struct stat ControlStat(fuse_req_t req, uint64_t ino) {
  return control::Stat(ino, Ctx(req).uid, Ctx(req).gid, Ctx(req).mounted_ns);
}

// A name in any directory, control files included.
Result<struct stat> LookupAny(fuse_req_t req, uint64_t parent, std::string_view name,
                              const Request& r) {
  if (control::IsReserved(parent, name)) return ControlStat(req, control::kDirIno);
  if (parent == control::kDirIno) {
    std::optional<uint64_t> ino = control::Child(name);
    if (!ino) return Status::Error(ENOENT, "no control file of that name");
    return ControlStat(req, *ino);
  }
  if (control::IsControl(parent)) return Status::Error(ENOTDIR, "not a directory");
  return Fs(req).Lookup(parent, name, r.caller);
}

// A rename or link changes names the kernel may have cached for another view.
void NamesChanged(fuse_req_t req, const Request& r, uint64_t a_parent, const char* a,
                  uint64_t b_parent, const char* b) {
  if (r.caller.txn == nullptr && !Ctx(req).sessions->any_open()) return;
  if (a != nullptr) Ctx(req).notifier->InvalidateEntryLater(a_parent, a);
  if (b != nullptr) Ctx(req).notifier->InvalidateEntryLater(b_parent, b);
}

Result<std::vector<ListedEntry>> ListAny(fuse_req_t req, uint64_t ino, const Request& r) {
  if (ino == control::kDirIno) return control::List();
  if (control::IsControl(ino)) return Status::Error(ENOTDIR, "not a directory");
  return Fs(req).ListDir(ino, r.caller);
}

// FUSE 7.39 (Linux 6.6) brought "invalidate page cache pages before direct write".
constexpr unsigned kMinorDroppingDirectWrittenPages = 39;

void Init(void* userdata, fuse_conn_info* conn) {
  unsigned minor = conn->proto_minor;
  if (const char* test = std::getenv("SOPFS_TEST_FUSE_MINOR"); test != nullptr && *test) {
    minor = static_cast<unsigned>(std::strtoul(test, nullptr, 10));
  }
  static_cast<FuseContext*>(userdata)->kernel_drops_direct_written_pages =
      minor >= kMinorDroppingDirectWrittenPages;
  conn->max_write = 1u << 20;
  conn->max_readahead = kReadAheadBytes;
  conn->max_background = 64;
  conn->congestion_threshold = 48;
  if (conn->capable & FUSE_CAP_SPLICE_READ) conn->want |= FUSE_CAP_SPLICE_READ;
  conn->want &= ~static_cast<unsigned>(FUSE_CAP_WRITEBACK_CACHE);
}

void Lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  Request r = Who(req);
  ReplyEntry(req, r, LookupAny(req, parent, name, r));
}

void Forget(fuse_req_t req, fuse_ino_t ino, uint64_t n) {
  Fs(req).Forget(ino, n);
  fuse_reply_none(req);
}

void ForgetMulti(fuse_req_t req, size_t count, fuse_forget_data* forgets) {
  for (size_t i = 0; i < count; ++i) Fs(req).Forget(forgets[i].ino, forgets[i].nlookup);
  fuse_reply_none(req);
}

void GetAttr(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  Request r = Who(req, HandleOf(fi));
  if (control::IsControl(ino)) return ReplyAttr(req, r, ControlStat(req, ino));
  ReplyAttr(req, r, Fs(req).GetAttr(ino, r.caller));
}

int64_t Ns(const timespec& ts) { return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec; }

// Before a content change (a write, a truncate, an open with O_TRUNC), drops the set-id
// bits a local file system would (set_id_bits.h). The kernel does it for some of them
// itself, and then this finds no bit to drop. (File capabilities, which the kernel also
// drops before a buffered write, are never stored here: security.* is refused.)
Result<bool> ContentChangeDropsSetIdBits(fuse_req_t req, fuse_ino_t ino, const Request& r) {
  Result<struct stat> st = Fs(req).GetAttr(ino, r.caller);
  if (!st.ok()) return st.status();
  const uint32_t mode = static_cast<uint32_t>(st->st_mode);
  return ModeAfterContentChange(mode) != mode && !HoldsCapFsetid(fuse_req_ctx(req)->pid);
}

Status DropSetIdBits(fuse_req_t req, fuse_ino_t ino, const Request& r) {
  Result<bool> drop = ContentChangeDropsSetIdBits(req, ino, r);
  if (!drop.ok() || !*drop) return drop.status();
  AttrChange c;
  c.drop_set_id = true;
  return Fs(req).SetAttr(ino, c, r.caller).status();
}

void SetAttr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set, fuse_file_info* fi) {
  FileHandle* handle = HandleOf(fi);
  Request r = Who(req, handle);
  if (control::IsControl(ino)) {
    // `echo begin > .sopfs/txn` truncates first: a size of 0 is accepted and ignored
    // (for every control file, so that what is written next gets its EINVAL).
    if (ino != control::kDirIno && to_set == FUSE_SET_ATTR_SIZE && attr->st_size == 0) {
      return ReplyAttr(req, r, ControlStat(req, ino));
    }
    return ReplyError(req, Status::Error(EPERM, "control files cannot be changed"));
  }
  AttrChange c;
  c.via_handle = handle != nullptr && handle->writable;
  if (to_set & FUSE_SET_ATTR_MODE) c.mode = attr->st_mode;
  if (to_set & FUSE_SET_ATTR_UID) c.uid = attr->st_uid;
  if (to_set & FUSE_SET_ATTR_GID) c.gid = attr->st_gid;
  if (to_set & FUSE_SET_ATTR_SIZE) c.size = static_cast<uint64_t>(attr->st_size);
  if (to_set & FUSE_SET_ATTR_ATIME_NOW) {
    c.atime_ns = AttrChange::kNow;
  } else if (to_set & FUSE_SET_ATTR_ATIME) {
    c.atime_ns = Ns(attr->st_atim);
  }
  if (to_set & FUSE_SET_ATTR_MTIME_NOW) {
    c.mtime_ns = AttrChange::kNow;
  } else if (to_set & FUSE_SET_ATTR_MTIME) {
    c.mtime_ns = Ns(attr->st_mtim);
  }
  // The set-id bits of a file go with a change of owner, whoever makes it, and with a
  // truncate by a caller without CAP_FSETID: the kernel's rule, which it leaves to the
  // daemon under FUSE_HANDLE_KILLPRIV_V2 (without, its SETATTR already drops them).
  if (c.uid || c.gid) {
    c.drop_set_id = true;
  } else if (c.size) {
    Result<bool> drop = ContentChangeDropsSetIdBits(req, ino, r);
    if (!drop.ok()) return ReplyError(req, drop.status());
    c.drop_set_id = *drop;  // in the same change as the truncate
  }
  ReplyAttr(req, r, Fs(req).SetAttr(ino, c, r.caller));
}

void ReadLink(fuse_req_t req, fuse_ino_t ino) {
  Request r = Who(req);
  if (control::IsControl(ino)) return ReplyError(req, Status::Error(EINVAL, "not a symlink"));
  Result<std::string> target = Fs(req).ReadLink(ino, r.caller);
  if (!target.ok()) return ReplyError(req, target.status());
  fuse_reply_readlink(req, target->c_str());
}

bool RefuseControl(fuse_req_t req, uint64_t parent, const char* name) {
  if (!control::IsControl(parent) && !control::IsReserved(parent, name)) return false;
  ReplyError(req, Reserved());
  return true;
}

void MkNod(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, dev_t rdev) {
  Request r = Who(req);
  if (RefuseControl(req, parent, name)) return;
  ReplyEntry(req, r, Fs(req).MakeNode(parent, name, mode, rdev, r.caller));
}

void MkDir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode) {
  Request r = Who(req);
  if (RefuseControl(req, parent, name)) return;
  ReplyEntry(req, r, Fs(req).MakeNode(parent, name, S_IFDIR | (mode & 07777), 0, r.caller));
}

void Unlink(fuse_req_t req, fuse_ino_t parent, const char* name) {
  Request r = Who(req);
  if (RefuseControl(req, parent, name)) return;
  ReplyError(req, Fs(req).Unlink(parent, name, r.caller));
}

void RmDir(fuse_req_t req, fuse_ino_t parent, const char* name) {
  Request r = Who(req);
  if (RefuseControl(req, parent, name)) return;
  ReplyError(req, Fs(req).Rmdir(parent, name, r.caller));
}

void Symlink(fuse_req_t req, const char* link, fuse_ino_t parent, const char* name) {
  Request r = Who(req);
  if (RefuseControl(req, parent, name)) return;
  ReplyEntry(req, r, Fs(req).Symlink(parent, name, link, r.caller));
}

void Rename(fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t newparent,
            const char* newname, unsigned int flags) {
  Request r = Who(req);
  if (RefuseControl(req, parent, name) || RefuseControl(req, newparent, newname)) return;
  Status st = Fs(req).Rename(parent, name, newparent, newname, flags, r.caller);
  if (st.ok()) NamesChanged(req, r, parent, name, newparent, newname);
  ReplyError(req, st);
}

void Link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char* newname) {
  Request r = Who(req);
  if (control::IsControl(ino) || RefuseControl(req, newparent, newname)) {
    if (control::IsControl(ino)) ReplyError(req, Reserved());
    return;
  }
  Result<struct stat> st = Fs(req).Link(ino, newparent, newname, r.caller);
  if (st.ok()) NamesChanged(req, r, newparent, newname, 0, nullptr);
  ReplyEntry(req, r, st);
}

// fi->fh of a new handle; the kernel is told how to cache it.
void SetHandle(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi, const Request& r,
               bool writable) {
  auto handle = std::make_unique<FileHandle>();
  handle->ino = ino;
  handle->writable = writable;
  handle->txn = r.hold;
  if (r.hold || (writable && (fi->flags & O_APPEND) != 0)) {
    // The page cache is every session's: a transaction's reads and writes bypass it.
    // So do appends: the daemon places them at the end of the file, which need not be
    // where the kernel, from its cached size, would have put them in its pages.
    fi->direct_io = 1;
    fi->keep_cache = 0;
    handle->direct_io = true;
  } else {
    // Every change goes through this daemon, so the kernel's cached pages stay true.
    fi->keep_cache = 1;
    if ((fi->flags & O_ACCMODE) == O_WRONLY && Ctx(req).kernel_drops_direct_written_pages) {
      // Nothing is read through a write-only handle, and the kernel precedes every
      // buffered write() with a GETXATTR round trip for security.capability, which is
      // never stored here; a direct write is spared it (and its set-id bits are this
      // daemon's to drop). The kernel drops the pages a direct write overwrites.
      fi->direct_io = 1;
      handle->direct_io = true;
    }
  }
  if (handle->direct_io) ++Ctx(req).requests.direct_io_opens;
  // A read-only handle has nothing to commit at close: spare the kernel the round trip.
  fi->noflush = writable || r.hold ? 0 : 1;
  fi->fh = Ctx(req).files.Add(std::move(handle));
}

// The kernel did not take the reply of an open (the opener was interrupted): it will
// never send RELEASE for this handle, so it is released now.
void ReleaseUnreplied(fuse_req_t req, fuse_file_info* fi) {
  std::unique_ptr<FileHandle> handle = Ctx(req).files.Take(fi->fh);
  if (handle != nullptr) (void)ReleaseHandle(Fs(req), *handle);
}

void ReplyOpened(fuse_req_t req, fuse_file_info* fi) {
  if (fuse_reply_open(req, fi) != 0) ReleaseUnreplied(req, fi);
}

void OpenControl(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  if (ino == control::kDirIno) return ReplyError(req, Status::Error(EISDIR, "is a directory"));
  auto handle = std::make_unique<FileHandle>();
  handle->ino = ino;
  handle->control = ino;
  handle->writable = Writable(fi->flags);
  fi->direct_io = 1;  // generated on every read
  fi->fh = Ctx(req).files.Add(std::move(handle));
  ReplyOpened(req, fi);
}

void Open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  if (control::IsControl(ino)) {
    ++Ctx(req).requests.ops;
    return OpenControl(req, ino, fi);
  }
  Request r = Who(req);
  const bool writable = Writable(fi->flags);
  Status st = Fs(req).Open(ino, writable, r.caller);
  if (!st.ok()) return ReplyError(req, st);
  if ((fi->flags & O_TRUNC) && writable) {
    Status dropped = DropSetIdBits(req, ino, r);
    if (!dropped.ok()) {
      (void)Fs(req).Release(ino, writable, r.caller);
      return ReplyError(req, dropped);
    }
    AttrChange c;
    c.size = 0;
    c.via_handle = true;
    Result<struct stat> cut = Fs(req).SetAttr(ino, c, r.caller);
    if (!cut.ok()) {
      (void)Fs(req).Release(ino, writable, r.caller);
      return ReplyError(req, cut.status());
    }
  }
  SetHandle(req, ino, fi, r, writable);
  ReplyOpened(req, fi);
}

void Create(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, fuse_file_info* fi) {
  Request r = Who(req);
  if (RefuseControl(req, parent, name)) return;
  Result<struct stat> st = Fs(req).MakeNode(parent, name, S_IFREG | (mode & 07777), 0, r.caller);
  if (!st.ok()) return ReplyError(req, st.status());
  const bool writable = Writable(fi->flags);
  Status opened = Fs(req).Open(st->st_ino, writable, r.caller);
  if (!opened.ok()) {
    Fs(req).Forget(st->st_ino, 1);  // the kernel never gets the entry
    return ReplyError(req, opened);
  }
  SetHandle(req, st->st_ino, fi, r, writable);
  fuse_entry_param e = EntryOf(req, r, *st);
  if (fuse_reply_create(req, &e, fi) != 0) {
    ReleaseUnreplied(req, fi);
    Fs(req).Forget(st->st_ino, 1);  // nor did it get the entry
  }
}

// The bytes of a control file as the caller's session sees them now.
std::string ControlText(fuse_req_t req, uint64_t ino) {
  FuseContext& ctx = Ctx(req);
  if (ino == control::kTxnIno) {
    return ctx.sessions->Describe(SessionTable::SessionOf(fuse_req_ctx(req)->pid));
  }
  if (ino == control::kStatsIno) return control::StatsJson(ctx.control);
  return control::HealthJson(ctx.control);
}

void Read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
  FileHandle* handle = HandleOf(fi);
  if (handle->control != 0) {
    ++Ctx(req).requests.ops;
    std::string piece;
    {
      std::lock_guard lock(handle->control_mu);
      if (off == 0 || !handle->control_read) {
        handle->control_text = ControlText(req, handle->control);
        handle->control_read = true;
      }
      const std::string& text = handle->control_text;
      const size_t from = std::min(text.size(), static_cast<size_t>(off));
      piece = text.substr(from, std::min(size, text.size() - from));
    }
    // Replied from a copy, with the handle left alone: once the reply is in, the
    // reader may close, and the handle go, while this thread is still in libfuse.
    fuse_reply_buf(req, piece.data(), piece.size());
    return;
  }
  Request r = Who(req, handle);
  std::unique_ptr<uint8_t[]> buf(new uint8_t[size]);
  Result<size_t> n = Fs(req).Read(ino, static_cast<uint64_t>(off), {buf.get(), size}, r.caller);
  if (!n.ok()) return ReplyError(req, n.status());
  ++Ctx(req).requests.reads;
  Ctx(req).requests.bytes_read += *n;
  fuse_reply_buf(req, reinterpret_cast<const char*>(buf.get()), *n);
}

void Write(fuse_req_t req, fuse_ino_t ino, const char* buf, size_t size, off_t off,
           fuse_file_info* fi) {
  FileHandle* handle = HandleOf(fi);
  if (handle->control != 0) {
    ++Ctx(req).requests.ops;
    const pid_t sid = SessionTable::SessionOf(fuse_req_ctx(req)->pid);
    Status st = handle->control == control::kTxnIno
                    ? Ctx(req).sessions->Command(sid, {buf, size})
                    : Ctx(req).sessions->RefuseWrite(sid, control::NameOf(handle->control));
    if (!st.ok()) return ReplyError(req, st);
    fuse_reply_write(req, size);
    return;
  }
  Request r = Who(req, handle);
  if (!fi->writepage) {
    // The kernel drops set-id bits before a buffered write unless it leaves that to
    // the daemon (FUSE_HANDLE_KILLPRIV_V2, see uring_transport.h), and never before a
    // direct one. Not for the write-back of a shared mapping's pages: no local file
    // system drops them for a store through a mapping.
    if (Status dropped = DropSetIdBits(req, ino, r); !dropped.ok()) {
      return ReplyError(req, dropped);
    }
  }
  // O_APPEND as the file has it now (fcntl may have set or cleared it since open).
  const bool append = (fi->flags & O_APPEND) != 0;
  uint64_t written_at = static_cast<uint64_t>(off);
  Result<size_t> n =
      Fs(req).Write(ino, append ? FileSystem::kAppend : written_at,
                    {reinterpret_cast<const uint8_t*>(buf), size}, r.caller, &written_at);
  if (!n.ok()) return ReplyError(req, n.status());
  if (append && written_at != static_cast<uint64_t>(off)) {
    // Pages the kernel holds where it expected the bytes, and where they went, are
    // stale now (no writeback cache: this never blocks, so it is safe in a request).
    const uint64_t from = std::min<uint64_t>(written_at, static_cast<uint64_t>(off));
    const uint64_t to = std::max<uint64_t>(written_at, static_cast<uint64_t>(off)) + *n;
    Ctx(req).notifier->InvalidateRange(ino, from, to - from);
  } else if (handle->direct_io && !Ctx(req).kernel_drops_direct_written_pages) {
    // A kernel before 6.6 keeps what other handles cached of the range a direct write
    // covers (the last partial page a tail -f reader holds, say).
    Ctx(req).notifier->InvalidateRange(ino, written_at, *n);
  }
  ++Ctx(req).requests.writes;
  Ctx(req).requests.bytes_written += *n;
  fuse_reply_write(req, *n);
}

void Flush(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  FileHandle* handle = HandleOf(fi);
  if (handle->control != 0) return ReplyError(req, Status::Ok());
  Request r = Who(req, handle);
  ReplyError(req, Fs(req).Flush(ino, handle->writable, r.caller));
}

void Release(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  std::unique_ptr<FileHandle> handle = Ctx(req).files.Take(fi->fh);
  if (handle == nullptr) return ReplyError(req, Status::Error(EBADF, "unknown file handle"));
  // A handle of the shared state releases there, whoever closes it.
  ReplyError(req, ReleaseHandle(Fs(req), *handle));
}

void Fsync(fuse_req_t req, fuse_ino_t ino, int, fuse_file_info* fi) {
  FileHandle* handle = HandleOf(fi);
  if (handle->control != 0) return ReplyError(req, Status::Ok());
  Request r = Who(req, handle);
  ReplyError(req, Fs(req).Fsync(ino, r.caller));
}

void OpenDir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  Request r = Who(req);
  Result<std::vector<ListedEntry>> entries = ListAny(req, ino, r);
  if (!entries.ok()) return ReplyError(req, entries.status());
  auto handle = std::make_unique<DirHandle>();
  handle->entries = std::move(*entries);
  fi->fh = Ctx(req).dirs.Add(std::move(handle));
  if (fuse_reply_open(req, fi) != 0) Ctx(req).dirs.Take(fi->fh);
}

// Offsets: 1 after ".", 2 after "..", 3 + i after entries[i].
void ReadDirCommon(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi,
                   bool plus) {
  Request r = Who(req);
  DirHandle* handle = HandleTable<DirHandle>::Get(fi->fh);
  if (off == 0 && handle->read_once) {
    // rewinddir: the listing starts again from the directory as it is now.
    Result<std::vector<ListedEntry>> entries = ListAny(req, ino, r);
    if (!entries.ok()) return ReplyError(req, entries.status());
    handle->entries = std::move(*entries);
  }
  handle->read_once = true;
  std::vector<char> buf(size);
  size_t used = 0;
  for (off_t i = off; i < static_cast<off_t>(handle->entries.size()) + 2; ++i) {
    std::string name;
    struct stat st {};
    fuse_entry_param e{};
    bool looked_up = false;
    if (i < 2) {
      name = i == 0 ? "." : "..";
      st.st_ino = ino;
      st.st_mode = S_IFDIR;
    } else {
      const ListedEntry& entry = handle->entries[static_cast<size_t>(i - 2)];
      name = entry.name;
      st.st_ino = entry.ino;
      st.st_mode = entry.type;
      if (plus) {
        Result<struct stat> full = LookupAny(req, ino, name, r);
        if (!full.ok()) continue;  // gone since opendir
        st = *full;
        looked_up = true;
      }
    }
    size_t n;
    if (plus) {
      e = EntryOf(req, r, st);
      if (!looked_up) {
        e.ino = 0;
        e.attr_timeout = e.entry_timeout = 0;
      }
      n = fuse_add_direntry_plus(req, buf.data() + used, size - used, name.c_str(), &e, i + 1);
    } else {
      n = fuse_add_direntry(req, buf.data() + used, size - used, name.c_str(), &st, i + 1);
    }
    if (n > size - used) {
      if (looked_up) Fs(req).Forget(st.st_ino, 1);  // not sent: the kernel never saw it
      break;
    }
    used += n;
  }
  fuse_reply_buf(req, buf.data(), used);
}

void ReadDir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
  ReadDirCommon(req, ino, size, off, fi, false);
}

void ReadDirPlus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
  ReadDirCommon(req, ino, size, off, fi, true);
}

void ReleaseDir(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  Ctx(req).dirs.Take(fi->fh);
  fuse_reply_err(req, 0);
}

void FsyncDir(fuse_req_t req, fuse_ino_t ino, int, fuse_file_info*) {
  Request r = Who(req);
  if (control::IsControl(ino)) return ReplyError(req, Status::Ok());
  // The kernel holds the directory's lock until the reply (see kernel_notifier.h).
  KernelNotifier& notifier = *Ctx(req).notifier;
  notifier.DirectoryBusy(ino);
  const Status synced = Fs(req).Fsync(ino, r.caller);
  ReplyError(req, synced);
  notifier.DirectoryIdle(ino);
}

void StatFs(fuse_req_t req, fuse_ino_t) {
  Result<struct statvfs> st = Fs(req).StatFs();
  if (!st.ok()) return ReplyError(req, st.status());
  fuse_reply_statfs(req, &*st);
}

void SetXattr(fuse_req_t req, fuse_ino_t ino, const char* name, const char* value, size_t size,
              int flags) {
  Request r = Who(req);
  if (control::IsControl(ino)) return ReplyError(req, Reserved());
  ReplyError(req, Fs(req).SetXattr(ino, name, {value, size}, flags, r.caller));
}

void ReplyXattr(fuse_req_t req, const std::string& bytes, size_t size) {
  if (size == 0) return static_cast<void>(fuse_reply_xattr(req, bytes.size()));
  if (bytes.size() > size) return static_cast<void>(fuse_reply_err(req, ERANGE));
  fuse_reply_buf(req, bytes.data(), bytes.size());
}

void GetXattr(fuse_req_t req, fuse_ino_t ino, const char* name, size_t size) {
  Request r = Who(req);
  if (control::IsControl(ino)) return ReplyError(req, Status::Error(ENODATA, "no attribute"));
  Result<std::string> value = Fs(req).GetXattr(ino, name, r.caller);
  if (!value.ok()) return ReplyError(req, value.status());
  ReplyXattr(req, *value, size);
}

void ListXattr(fuse_req_t req, fuse_ino_t ino, size_t size) {
  Request r = Who(req);
  if (control::IsControl(ino)) return ReplyXattr(req, "", size);
  Result<std::vector<std::string>> names = Fs(req).ListXattr(ino, r.caller);
  if (!names.ok()) return ReplyError(req, names.status());
  std::string list;
  for (const std::string& n : *names) list.append(n).push_back('\0');
  ReplyXattr(req, list, size);
}

void RemoveXattr(fuse_req_t req, fuse_ino_t ino, const char* name) {
  Request r = Who(req);
  if (control::IsControl(ino)) return ReplyError(req, Reserved());
  ReplyError(req, Fs(req).RemoveXattr(ino, name, r.caller));
}

void Fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset, off_t length,
               fuse_file_info* fi) {
  FileHandle* handle = HandleOf(fi);
  if (handle->control != 0) return ReplyError(req, Status::Error(EPERM, "a control file"));
  Request r = Who(req, handle);
  if (offset < 0 || length <= 0) return static_cast<void>(fuse_reply_err(req, EINVAL));
  if (!FileSystem::FallocateModeSupported(mode)) {
    return ReplyError(req, Status::Error(EOPNOTSUPP, "fallocate mode not supported"));
  }
  // A content change, whatever the mode: ext4 drops set-id bits for it as for a write.
  if (Status dropped = DropSetIdBits(req, ino, r); !dropped.ok()) {
    return ReplyError(req, dropped);
  }
  ReplyError(req, Fs(req).Fallocate(ino, mode, static_cast<uint64_t>(offset),
                                    static_cast<uint64_t>(length), r.caller));
}

void Lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence, fuse_file_info* fi) {
  FileHandle* handle = HandleOf(fi);
  if (handle->control != 0) return ReplyError(req, Status::Error(ENXIO, "a control file"));
  Request r = Who(req, handle);
  if (off < 0) return static_cast<void>(fuse_reply_err(req, EINVAL));
  Result<uint64_t> at = Fs(req).Lseek(ino, static_cast<uint64_t>(off), whence, r.caller);
  if (!at.ok()) return ReplyError(req, at.status());
  fuse_reply_lseek(req, static_cast<off_t>(*at));
}

}  // namespace

fuse_lowlevel_ops MakeFuseOps() {
  fuse_lowlevel_ops ops{};
  ops.init = Init;
  ops.lookup = Lookup;
  ops.forget = Forget;
  ops.forget_multi = ForgetMulti;
  ops.getattr = GetAttr;
  ops.setattr = SetAttr;
  ops.readlink = ReadLink;
  ops.mknod = MkNod;
  ops.mkdir = MkDir;
  ops.unlink = Unlink;
  ops.rmdir = RmDir;
  ops.symlink = Symlink;
  ops.rename = Rename;
  ops.link = Link;
  ops.open = Open;
  ops.create = Create;
  ops.read = Read;
  ops.write = Write;
  ops.flush = Flush;
  ops.release = Release;
  ops.fsync = Fsync;
  ops.opendir = OpenDir;
  ops.readdir = ReadDir;
  ops.readdirplus = ReadDirPlus;
  ops.releasedir = ReleaseDir;
  ops.fsyncdir = FsyncDir;
  ops.statfs = StatFs;
  ops.setxattr = SetXattr;
  ops.getxattr = GetXattr;
  ops.listxattr = ListXattr;
  ops.removexattr = RemoveXattr;
  ops.fallocate = Fallocate;
  ops.lseek = Lseek;
  return ops;
}

}  // namespace sopfs
