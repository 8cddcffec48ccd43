// CheckFileSystem: the file-system half of `sopfs fsck`. Whether the inode, namespace
// and chunk trees (see fuse/fs/file_system.h for the layout) agree with each other,
// and with `repair`, making them agree.
//
// What is checked, each a kind of problem in the CheckReport; `where` is "inode N",
// followed by a path ("/dir/name") when one is known:
//  - inode-record-bad: an inode-tree record (or key) that does not decode, or an inode
//    counter (key 0) that is missing or damaged.
//  - name-without-inode: a namespace entry that does not decode, whose child has no
//    record, or whose directory has no record or is not a directory.
//  - name-type-mismatch: the type an entry stores differs from its inode's.
//  - link-count-wrong: a file's link count differs from the names pointing at it; a
//    directory's from 2 + its subdirectories (what mkdir, rmdir and rename keep).
//  - inode-unreachable: a record (not the root) no name points to that is not an
//    orphan (a file removed while open: counted as checked "orphans-pending").
//  - orphan-named: an orphan key for an inode that still has names (the next mount
//    would delete a named file).
//  - chunk-without-inode: chunks of an inode with no record, or not a regular file.
//  - chunk-beyond-size: chunks at an index at or past ceil(size / chunk size).
//  - chunk-count-wrong: the record's stored chunk count differs from the chunks the
//    tree holds below that index.
//  - directory-cycle / directory-unreachable: a directory the walk from the root does
//    not reach, on a cycle of names or hanging below one.
//  - root-bad: the root (inode 1) has no record, or one that is not a directory; then
//    nothing is repaired (every name would go, and lost+found has nowhere to be).
// Checked counts: "inodes", "names", "chunks", "orphans-pending".
//
// Repair (a writer transaction, committed at the end) sets link counts and chunk
// counts, erases bad entries and stray chunks, rewrites an entry's type, drops the
// orphan key of a named inode, and puts every unreachable inode into /lost+found (made
// as mkdir would, owned by root, mode 0700) as "#<inode number>", a file's link count
// then 1. What is not safe to repair (a damaged record, a cycle, a directory with two
// names) is reported found, the detail saying why.
//
// Memory: 24 bytes per inode, 16 per directory, the orphans and the problems kept
// (CheckReport::kMaxListed with their text): a million files cost about 30 MB. Chunk
// values are never read.
#pragma once

#include "engine/check/check_report.h"
#include "engine/status.h"
#include "engine/txn/engine.h"

namespace sopfs {

struct FsCheckOptions {
  bool repair = false;
};

// Checks the file system's trees in `engine` (the latest committed state, through a
// reader transaction for a check, a writer one for a repair) and reports each problem
// to `report` by kind. Errors: the engine's (EIO reading a tree, EBUSY when a repair's
// commit conflicts with another commit: nothing is repaired then).
Status CheckFileSystem(Engine& engine, const FsCheckOptions& options, CheckReport* report);

}  // namespace sopfs
