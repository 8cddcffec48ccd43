#include "fuse/fuse_ops.h"

#include <fcntl.h>
#include <sys/xattr.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

namespace sopfs {
namespace {

FuseContext& Ctx(fuse_req_t req) { return *static_cast<FuseContext*>(fuse_req_userdata(req)); }
FileSystem& Fs(fuse_req_t req) { return *Ctx(req).fs; }

Caller CallerOf(fuse_req_t req) {
  const fuse_ctx* c = fuse_req_ctx(req);
  return Caller{c->uid, c->gid};
}

void ReplyError(fuse_req_t req, const Status& st) { fuse_reply_err(req, st.ok() ? 0 : st.code()); }

void ReplyEntry(fuse_req_t req, const Result<struct stat>& st) {
  if (!st.ok()) return ReplyError(req, st.status());
  fuse_entry_param e{};
  e.ino = st->st_ino;
  e.generation = 1;
  e.attr = *st;
  e.attr_timeout = e.entry_timeout = Ctx(req).attr_timeout;
  fuse_reply_entry(req, &e);
}

void ReplyAttr(fuse_req_t req, const Result<struct stat>& st) {
  if (!st.ok()) return ReplyError(req, st.status());
  fuse_reply_attr(req, &*st, Ctx(req).attr_timeout);
}

bool Writable(int flags) { return (flags & O_ACCMODE) != O_RDONLY; }

// An open directory: its entries as of opendir, so offsets stay stable.
struct DirHandle {
  std::vector<ListedEntry> entries;
  bool read_once = false;  // a read at offset 0 after this one is a rewind
};

void Init(void*, fuse_conn_info* conn) {
  conn->max_write = 1u << 20;
  conn->max_readahead = 1u << 20;
  conn->max_background = 64;
  conn->congestion_threshold = 48;
  if (conn->capable & FUSE_CAP_SPLICE_READ) conn->want |= FUSE_CAP_SPLICE_READ;
  conn->want &= ~static_cast<unsigned>(FUSE_CAP_WRITEBACK_CACHE);
}

void Lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  ReplyEntry(req, Fs(req).Lookup(parent, name));
}

void Forget(fuse_req_t req, fuse_ino_t ino, uint64_t n) {
  Fs(req).Forget(ino, n);
  fuse_reply_none(req);
}

void ForgetMulti(fuse_req_t req, size_t count, fuse_forget_data* forgets) {
  for (size_t i = 0; i < count; ++i) Fs(req).Forget(forgets[i].ino, forgets[i].nlookup);
  fuse_reply_none(req);
}

void GetAttr(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) {
  ReplyAttr(req, Fs(req).GetAttr(ino));
}

int64_t Ns(const timespec& ts) { return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec; }

void SetAttr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set, fuse_file_info* fi) {
  AttrChange c;
  c.via_handle = fi != nullptr && fi->fh == 1;
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
  ReplyAttr(req, Fs(req).SetAttr(ino, c, CallerOf(req)));
}

void ReadLink(fuse_req_t req, fuse_ino_t ino) {
  Result<std::string> target = Fs(req).ReadLink(ino);
  if (!target.ok()) return ReplyError(req, target.status());
  fuse_reply_readlink(req, target->c_str());
}

void MkNod(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, dev_t rdev) {
  ReplyEntry(req, Fs(req).MakeNode(parent, name, mode, rdev, CallerOf(req)));
}

void MkDir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode) {
  ReplyEntry(req, Fs(req).MakeNode(parent, name, S_IFDIR | (mode & 07777), 0, CallerOf(req)));
}

void Unlink(fuse_req_t req, fuse_ino_t parent, const char* name) {
  ReplyError(req, Fs(req).Unlink(parent, name));
}

void RmDir(fuse_req_t req, fuse_ino_t parent, const char* name) {
  ReplyError(req, Fs(req).Rmdir(parent, name));
}

void Symlink(fuse_req_t req, const char* link, fuse_ino_t parent, const char* name) {
  ReplyEntry(req, Fs(req).Symlink(parent, name, link, CallerOf(req)));
}

void Rename(fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t newparent,
            const char* newname, unsigned int flags) {
  ReplyError(req, Fs(req).Rename(parent, name, newparent, newname, flags));
}

void Link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char* newname) {
  ReplyEntry(req, Fs(req).Link(ino, newparent, newname));
}

void Open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  const bool writable = Writable(fi->flags);
  Status st = Fs(req).Open(ino, writable);
  if (!st.ok()) return ReplyError(req, st);
  if ((fi->flags & O_TRUNC) && writable) {
    AttrChange c;
    c.size = 0;
    c.via_handle = true;
    Result<struct stat> cut = Fs(req).SetAttr(ino, c, CallerOf(req));
    if (!cut.ok()) {
      (void)Fs(req).Release(ino, writable);
      return ReplyError(req, cut.status());
    }
  }
  fi->fh = writable ? 1 : 0;
  // Every change goes through this daemon, so the kernel's cached pages stay true.
  fi->keep_cache = 1;
  // A read-only handle has nothing to commit at close: spare the kernel the round trip.
  fi->noflush = writable ? 0 : 1;
  fuse_reply_open(req, fi);
}

void Create(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, fuse_file_info* fi) {
  Result<struct stat> st =
      Fs(req).MakeNode(parent, name, S_IFREG | (mode & 07777), 0, CallerOf(req));
  if (!st.ok()) return ReplyError(req, st.status());
  const bool writable = Writable(fi->flags);
  Status opened = Fs(req).Open(st->st_ino, writable);
  if (!opened.ok()) {
    Fs(req).Forget(st->st_ino, 1);  // the kernel never gets the entry
    return ReplyError(req, opened);
  }
  fi->fh = writable ? 1 : 0;
  fi->keep_cache = 1;
  fuse_entry_param e{};
  e.ino = st->st_ino;
  e.generation = 1;
  e.attr = *st;
  e.attr_timeout = e.entry_timeout = Ctx(req).attr_timeout;
  fuse_reply_create(req, &e, fi);
}

void Read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info*) {
  std::unique_ptr<uint8_t[]> buf(new uint8_t[size]);
  Result<size_t> n = Fs(req).Read(ino, static_cast<uint64_t>(off), {buf.get(), size});
  if (!n.ok()) return ReplyError(req, n.status());
  fuse_reply_buf(req, reinterpret_cast<const char*>(buf.get()), *n);
}

void Write(fuse_req_t req, fuse_ino_t ino, const char* buf, size_t size, off_t off,
           fuse_file_info*) {
  Result<size_t> n =
      Fs(req).Write(ino, static_cast<uint64_t>(off), {reinterpret_cast<const uint8_t*>(buf), size});
  if (!n.ok()) return ReplyError(req, n.status());
  fuse_reply_write(req, *n);
}

void Flush(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  ReplyError(req, Fs(req).Flush(ino, fi->fh == 1));
}

void Release(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  ReplyError(req, Fs(req).Release(ino, fi->fh == 1));
}

void Fsync(fuse_req_t req, fuse_ino_t ino, int, fuse_file_info*) {
  ReplyError(req, Fs(req).Fsync(ino));
}

void OpenDir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  Result<std::vector<ListedEntry>> entries = Fs(req).ListDir(ino);
  if (!entries.ok()) return ReplyError(req, entries.status());
  auto handle = std::make_unique<DirHandle>();
  handle->entries = std::move(*entries);
  fi->fh = reinterpret_cast<uint64_t>(handle.release());
  fuse_reply_open(req, fi);
}

// Offsets: 1 after ".", 2 after "..", 3 + i after entries[i].
void ReadDirCommon(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi,
                   bool plus) {
  auto* handle = reinterpret_cast<DirHandle*>(fi->fh);
  if (off == 0 && handle->read_once) {
    // rewinddir: the listing starts again from the directory as it is now.
    Result<std::vector<ListedEntry>> entries = Fs(req).ListDir(ino);
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
        Result<struct stat> full = Fs(req).Lookup(ino, name);
        if (!full.ok()) continue;  // gone since opendir
        st = *full;
        looked_up = true;
      }
    }
    size_t n;
    if (plus) {
      e.ino = looked_up ? st.st_ino : 0;
      e.generation = 1;
      e.attr = st;
      e.attr_timeout = e.entry_timeout = looked_up ? Ctx(req).attr_timeout : 0;
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
  delete reinterpret_cast<DirHandle*>(fi->fh);
  fuse_reply_err(req, 0);
}

void FsyncDir(fuse_req_t req, fuse_ino_t ino, int, fuse_file_info*) {
  ReplyError(req, Fs(req).Fsync(ino));
}

void StatFs(fuse_req_t req, fuse_ino_t) {
  Result<struct statvfs> st = Fs(req).StatFs();
  if (!st.ok()) return ReplyError(req, st.status());
  fuse_reply_statfs(req, &*st);
}

void SetXattr(fuse_req_t req, fuse_ino_t ino, const char* name, const char* value, size_t size,
              int flags) {
  ReplyError(req, Fs(req).SetXattr(ino, name, {value, size}, flags));
}

void ReplyXattr(fuse_req_t req, const std::string& bytes, size_t size) {
  if (size == 0) return static_cast<void>(fuse_reply_xattr(req, bytes.size()));
  if (bytes.size() > size) return static_cast<void>(fuse_reply_err(req, ERANGE));
  fuse_reply_buf(req, bytes.data(), bytes.size());
}

void GetXattr(fuse_req_t req, fuse_ino_t ino, const char* name, size_t size) {
  Result<std::string> value = Fs(req).GetXattr(ino, name);
  if (!value.ok()) return ReplyError(req, value.status());
  ReplyXattr(req, *value, size);
}

void ListXattr(fuse_req_t req, fuse_ino_t ino, size_t size) {
  Result<std::vector<std::string>> names = Fs(req).ListXattr(ino);
  if (!names.ok()) return ReplyError(req, names.status());
  std::string list;
  for (const std::string& n : *names) list.append(n).push_back('\0');
  ReplyXattr(req, list, size);
}

void RemoveXattr(fuse_req_t req, fuse_ino_t ino, const char* name) {
  ReplyError(req, Fs(req).RemoveXattr(ino, name));
}

void Fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset, off_t length,
               fuse_file_info*) {
  if (offset < 0 || length <= 0) return static_cast<void>(fuse_reply_err(req, EINVAL));
  ReplyError(req, Fs(req).Fallocate(ino, mode, static_cast<uint64_t>(offset),
                                    static_cast<uint64_t>(length)));
}

void Lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence, fuse_file_info*) {
  if (off < 0) return static_cast<void>(fuse_reply_err(req, EINVAL));
  Result<uint64_t> at = Fs(req).Lseek(ino, static_cast<uint64_t>(off), whence);
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
