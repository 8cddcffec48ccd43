// InodeRecord: what the volume stores of an inode, and the keys of the file system's
// trees (see fuse/fs/file_system.h for the layout).
//
// One record per inode, in the inode tree under its number (8 bytes, big endian):
// attributes, the size and content counters, a symlink's target and the extended
// attributes, encoded little-endian with a format byte first so later versions can
// add fields. A directory entry sits in the namespace tree under (parent inode, name)
// and holds the child's inode number and file type.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "engine/status.h"

namespace sopfs {

struct InodeRecord {
  uint32_t mode = 0;  // type and permission bits (S_IFREG | 0644, ...)
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint32_t nlink = 0;
  uint64_t rdev = 0;
  uint64_t size = 0;
  uint64_t stored_chunks = 0;  // chunks that hold data (holes excluded): st_blocks
  int64_t atime_ns = 0;
  int64_t mtime_ns = 0;
  int64_t ctime_ns = 0;
  uint64_t version = 0;  // bumped by every committed change of the content
  std::string symlink;   // the target of a symbolic link
  std::map<std::string, std::string> xattrs;
  // The store of the inode's content (fs_store.h): a file's chunks; a directory's, the
  // store of what is made in it. Stored after the xattrs, only when not 0 (the root
  // store), so records of volumes without stores are unchanged.
  uint32_t store = 0;
  // The last intent-log record (file_system_intent.cc) whose writes this record's
  // content holds; a mount replays only the file's later ones. Stored after `store`,
  // only when not 0.
  uint64_t intent_seq = 0;

  std::string Encode() const;
  // EIO naming the inode when the bytes are not a record.
  static Result<InodeRecord> Decode(std::string_view bytes, uint64_t ino);
};

struct NameEntry {
  uint64_t ino = 0;
  uint32_t type = 0;  // S_IFMT bits of the child
};

std::string InodeKey(uint64_t ino);
// Orphans: files removed while open, recorded so that a mount after a crash deletes
// them. Keys after every inode key: eight 0xff bytes, then the inode number.
std::string OrphanKey(uint64_t ino);
std::string OrphanPrefix();
std::string DirEntryKey(uint64_t parent, std::string_view name);
// The first key of a directory's entries (all keys of `parent` start with it).
std::string DirPrefix(uint64_t parent);
std::string EncodeNameEntry(const NameEntry& entry);
std::optional<NameEntry> DecodeNameEntry(std::string_view bytes);

// The current time in nanoseconds since the epoch (CLOCK_REALTIME), as records keep it.
int64_t NowNs();

uint64_t ReadBigEndian64(std::string_view bytes);
void AppendBigEndian64(std::string& out, uint64_t v);

}  // namespace sopfs
