// DescribeLostBlobs: the file system's words for what each blob fsck found beyond
// repair held (CheckReport::lost(); the engine placed each of its registry IDs in a
// tree, see engine/check/lost_blob.h). Run after CheckFileSystem, so a repair's
// /lost+found names count.
//
// What a place becomes (LostHeld::what; `paths` lists the files and directories hit):
//  - a chunk (a value of the chunk tree under (inode, index)): every name of the file,
//    the chunk index and its byte range: "/a/big chunk 2 (bytes 2097152-3145727 of
//    4194404)"; a file no name reaches is "inode N (no name)".
//  - a chunk-tree node: the range of chunks below it, by file: "chunk-tree node
//    (level 1): chunks from /a chunk 3 to /b chunk 0; hits /a, /b, /c", naming the files
//    in between (small files' bytes live in these nodes, larger chunks are reached
//    through them); a root: "every file's chunks".
//  - an inode-tree node: "inode-tree node (level 1): the records of inodes after 5
//    (/a) and before 900 (/b)".
//  - a names-tree node: "names-tree node (level 1): names of directory /a/b after 'x'
//    and before 'y'" (or from one directory to another).
//  - the volume tree, or an ID no tree reaches: said as such.
// Paths come from one scan of the names tree (every directory's name, and the names
// of the inodes wanted); a names-tree node that is itself lost is stepped over (the
// scan seeks past its key range), so only the names it held are missing.
//
// Cost: nothing unless a blob is lost; then one walk of the names tree and a few
// lookups per lost place. Memory: the directories' names.
#pragma once

#include "engine/check/check_report.h"
#include "engine/status.h"
#include "engine/txn/engine.h"

namespace sopfs {

// Fills in `held` of every lost blob in `report` (CheckReport::Describe). Errors: the
// engine's (no volume layout, EIO opening a tree); the blobs are then listed by ID.
Status DescribeLostBlobs(Engine& engine, CheckReport* report);

}  // namespace sopfs
