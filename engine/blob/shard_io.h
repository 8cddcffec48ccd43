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
