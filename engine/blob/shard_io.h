// Shard file I/O: reading and verifying a set of shard files, and writing a set of
// shard files durably, each as one batch through the Env.
//
// Threads: the functions keep no state; they may run concurrently.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "engine/blob/blob_id.h"
#include "engine/blob/erasure_layout.h"
#include "engine/blob/shard_header.h"
#include "engine/blob/shard_table_cache.h"
#include "engine/io/env.h"

namespace sopfs {

// Uninitialized bytes (no zero fill): shard files are overwritten by reads at once.
struct ByteBuffer {
  std::unique_ptr<uint8_t[]> bytes;
  size_t size = 0;

  static ByteBuffer Uninitialized(size_t n) {
    return {std::make_unique_for_overwrite<uint8_t[]>(n == 0 ? 1 : n), n};
  }
  uint8_t* data() const { return bytes.get(); }
};

struct ShardRead {
  int index = 0;         // in: which shard
  std::string path;      // in: its file
  Status status;         // out: ok when the shard is good
  bool corrupt = false;  // out: the file was read but is not a valid shard (not an I/O error)
  ShardHeader header;    // out, when ok
  ByteBuffer file;       // out, when ok: the whole shard file
  // The shard's payload (header.shard_length bytes inside `file`), when ok.
  uint8_t* payload() const { return file.data() + header.payload_offset; }
};

// Opens, reads and verifies every shard (reads in one batch). A shard is good when its
// header parses, its checksum matches, its file has the size its header implies, and
// it claims to be shard `index` of `id` in `layout` with a length consistent with the
// blob length. Otherwise status says why: ENOENT (missing), or EIO (truncated,
// corrupt, unreadable) with a message naming the file.
void ReadShards(Env* env, const BlobId& id, ErasureLayout layout, std::span<ShardRead> shards);

// A read of part of one shard: the header page and the payload blocks that hold
// [from, to) of its payload, for a shard of block checksums (ShardHeader version 2).
struct ShardRangeRead {
  int index = 0;              // in: which shard
  std::string path;           // in: its file
  uint64_t shard_length = 0;  // in: what the shard's length is expected to be
  uint64_t from = 0, to = 0;  // in: payload bytes wanted, from < to <= shard_length
  // out: ok when the header and every block read are good. EAGAIN when the shard is
  // good as far as read but cannot serve a part: a version 1 shard, or another length
  // than expected (then `header` holds what it says, unverified: a hint only).
  // ENOENT when missing; EIO (truncated, corrupt, unreadable) naming the file.
  Status status;
  bool corrupt = false;  // out: read, but not a valid shard
  ShardHeader header;    // out: the parsed header (verified when ok)
  ByteBuffer page;       // out: the header page (empty when its table was cached)
  ByteBuffer blocks;     // out: payload bytes [blocks_from, ...) when ok
  uint64_t blocks_from = 0;
  // Payload byte `at` (from <= at < to), when ok.
  const uint8_t* payload_at(uint64_t at) const { return blocks.data() + (at - blocks_from); }
};

// Reads every range (two reads per shard, header page and blocks, all in one batch)
// and verifies what it read: the header against the shard expected, its table against
// its checksum, each block against the table. With `tables`, a shard whose table is
// cached there is read without its header page (`page` stays empty) and its blocks are
// verified against the cached table; a table read and verified is added to it.
void ReadShardRanges(Env* env, const BlobId& id, ErasureLayout layout,
                     std::span<ShardRangeRead> ranges, ShardTableCache* tables = nullptr);

struct ShardWrite {
  int index = 0;                  // in: which shard (for messages)
  std::string path;               // in: its file
  std::span<const uint8_t> file;  // in: the whole file image (header, payload, padding)
  bool direct = false;            // in: write with O_DIRECT (file is 4096-aligned)
  // in: false: create the file (EEXIST if it exists); true: replace it atomically
  // (write "<path>.new", flush, rename over path, flush the directory).
  bool replace = false;
  // in: directories besides the shard's own whose fsync the shard depends on (the
  // parents of fan-out directories just made).
  std::vector<std::string> sync_dirs;
  // in: write only, no flush of the file or of any directory (for a new shard: the
  // caller flushes it later, e.g. BlobStore::FlushDeferred); status then says written.
  bool defer_flush = false;
  Status status;         // in: not ok skips the shard; out: ok when it is durable
  bool created = false;  // out: a file was created (for cleaning up after a failure)
};

// Writes every shard and flushes it (write linked to fdatasync), and fsyncs each
// distinct directory that got a new shard or is named in sync_dirs, all in one batch
// (two, with a rename between, for replacements). A shard is durable (status ok) only
// when its write, its flush and the flushes of its directory and its sync_dirs all
// succeeded. Works in groups of 32 shards, so open files stay bounded (under 130).
void WriteShards(Env* env, std::span<ShardWrite> shards);

}  // namespace sopfs
