#include "engine/blob/shard_io.h"

#include <algorithm>
#include <cstring>
#include <map>

namespace sopfs {
namespace {

Status OpError(const IoOp& op, const std::string& what, const std::string& path) {
  int err = op.result < 0 ? static_cast<int>(-op.result) : EIO;
  std::string msg = what + " " + path;
  if (op.result >= 0) msg += ": short transfer";
  return Status::Error(err, msg);
}

// Checks a shard file that was read in full against what it must be.
Status Verify(const BlobId& id, ErasureLayout layout, ShardRead& s) {
  std::span<const uint8_t, ShardHeader::kSize> hb(s.file.data(), ShardHeader::kSize);
  auto header = ShardHeader::Parse(hb);
  if (!header) return Status::Error(EIO, "shard " + s.path + ": not a shard header");
  // Bound the claimed length by the file before any arithmetic on it can wrap.
  if (header->shard_length > s.file.size - header->payload_offset ||
      header->FileSize() != s.file.size ||
      header->payload_offset != ShardHeader::PayloadOffsetFor(header->shard_length)) {
    return Status::Error(EIO, "shard " + s.path + ": file is " + std::to_string(s.file.size) +
                                  " bytes, its header says " + std::to_string(header->FileSize()));
  }
  if (!header->Matches(
          {s.file.data(), header->payload_offset},
          {s.file.data() + header->payload_offset, static_cast<size_t>(header->shard_length)})) {
    return Status::Error(EIO, "shard " + s.path + ": checksum mismatch");
  }
  const uint64_t k = static_cast<uint64_t>(layout.k);
  if (header->blob != id || header->shard_index != s.index || header->k != layout.k ||
      header->m != layout.m || header->shard_length != (header->blob_length + k - 1) / k) {
    return Status::Error(EIO, "shard " + s.path + ": header belongs to another blob or layout");
  }
  s.header = *header;
  return Status::Ok();
}

}  // namespace

void ReadShards(Env* env, const BlobId& id, ErasureLayout layout, std::span<ShardRead> shards) {
  std::vector<std::unique_ptr<File>> files(shards.size());
  std::vector<iovec> iovs(shards.size());
  std::vector<IoOp> ops;
  std::vector<size_t> op_shard;
  for (size_t i = 0; i < shards.size(); ++i) {
    ShardRead& s = shards[i];
    auto file = env->Open(s.path, {.mode = OpenMode::kRead});
    if (!file.ok()) {
      s.status = file.status();
      continue;
    }
    auto size = (*file)->Size();
    if (!size.ok()) {
      s.status = size.status();
      continue;
    }
    if (*size < ShardHeader::kSize) {
      s.corrupt = true;
      s.status = Status::Error(
          EIO, "shard " + s.path + ": truncated to " + std::to_string(*size) + " bytes");
      continue;
    }
    files[i] = std::move(*file);
    s.file = ByteBuffer::Uninitialized(*size);
    iovs[i] = {s.file.data(), s.file.size};
    ops.push_back({.kind = IoKind::kRead, .file = files[i].get(), .iov = &iovs[i], .iovcnt = 1});
    op_shard.push_back(i);
  }
  Status batch = env->Submit(ops);
  for (size_t j = 0; j < ops.size(); ++j) {
    ShardRead& s = shards[op_shard[j]];
    if (!batch.ok()) {
      s.status = batch;
    } else if (!ops[j].Complete()) {
      s.status = OpError(ops[j], "reading shard", s.path);
    } else {
      s.status = Verify(id, layout, s);
      s.corrupt = !s.status.ok();
    }
    if (!s.status.ok()) s.file = {};
  }
}

namespace {

// Checks the blocks a range read got against the table in `area` (verified already).
Status VerifyBlocks(const ShardHeader& header, std::span<const uint8_t> area,
                    const ShardRangeRead& r) {
  const uint64_t bs = header.block_size;
  for (uint64_t b = r.from / bs; b * bs < r.to; ++b) {
    const uint64_t n = std::min<uint64_t>(bs, header.shard_length - b * bs);
    if (!header.BlockMatches(area, b, {r.payload_at(b * bs), static_cast<size_t>(n)})) {
      return Status::Error(EIO,
                           "shard " + r.path + ": checksum mismatch in block " + std::to_string(b));
    }
  }
  return Status::Ok();
}

// Checks a range read's header page and blocks (see ShardRangeRead::status).
Status VerifyRange(const BlobId& id, ErasureLayout layout, ShardRangeRead& r) {
  const std::span<const uint8_t> page(r.page.data(), r.page.size);
  auto header = ShardHeader::Parse(page.first<ShardHeader::kSize>());
  if (!header) return Status::Error(EIO, "shard " + r.path + ": not a shard header");
  r.header = *header;
  const uint64_t k = static_cast<uint64_t>(layout.k);
  if (header->blob != id || header->shard_index != r.index || header->k != layout.k ||
      header->m != layout.m || header->shard_length != (header->blob_length + k - 1) / k) {
    return Status::Error(EIO, "shard " + r.path + ": header belongs to another blob or layout");
  }
  if (header->block_size == 0 || header->shard_length != r.shard_length) {
    return Status::Error(EAGAIN, "shard " + r.path + ": not readable in part as expected");
  }
  if (!header->TableMatches(page)) {
    return Status::Error(EIO, "shard " + r.path + ": header checksum mismatch");
  }
  return VerifyBlocks(*header, page, r);
}

}  // namespace

void ReadShardRanges(Env* env, const BlobId& id, ErasureLayout layout,
                     std::span<ShardRangeRead> ranges, ShardTableCache* tables) {
  constexpr uint64_t kPage = ShardHeader::kAlignment;
  std::vector<std::unique_ptr<File>> files(ranges.size());
  std::vector<std::shared_ptr<const ShardTable>> cached(ranges.size());
  std::vector<iovec> iovs(ranges.size() * 2);
  std::vector<IoOp> ops;
  // Per range read: its header page's op (-1 when its table is cached) and its blocks' op.
  struct RangeOps {
    size_t range = 0;
    ptrdiff_t page = -1;
    size_t blocks = 0;
  };
  std::vector<RangeOps> range_ops;
  for (size_t i = 0; i < ranges.size(); ++i) {
    ShardRangeRead& r = ranges[i];
    const uint64_t bs = ShardHeader::BlockSizeFor(r.shard_length);
    if (bs == 0 || r.from >= r.to || r.to > r.shard_length) {
      r.status = Status::Error(EAGAIN, "shard " + r.path + ": not readable in part");
      continue;
    }
    if (tables != nullptr) cached[i] = tables->Lookup(id, r.index);
    if (cached[i] != nullptr && cached[i]->header.shard_length != r.shard_length) {
      // The verified header says another length than the guess: no need to read it.
      r.header = cached[i]->header;
      r.status = Status::Error(EAGAIN, "shard " + r.path + ": not readable in part as expected");
      continue;
    }
    auto file = env->Open(r.path, {.mode = OpenMode::kRead});
    if (!file.ok()) {
      r.status = file.status();
      continue;
    }
    // Only the pages asked for: the kernel's read-ahead would read 128 KiB of the shard
    // from disk for each 4 KiB block. (Advice is a hint; its failure changes nothing.)
    (void)(*file)->Advise(Advice::kRandom, 0, 0);
    files[i] = std::move(*file);
    const uint64_t end =
        std::min((r.to + bs - 1) / bs * bs, ShardHeader::PaddedLengthFor(r.shard_length));
    r.blocks_from = r.from / bs * bs;
    r.blocks = ByteBuffer::Uninitialized(end - r.blocks_from);
    RangeOps& o = range_ops.emplace_back();
    o.range = i;
    if (cached[i] == nullptr) {
      r.page = ByteBuffer::Uninitialized(kPage);
      std::memset(r.page.data(), 0, kPage);  // a short file leaves nothing stale to verify
      iovs[2 * i] = {r.page.data(), r.page.size};
      o.page = static_cast<ptrdiff_t>(ops.size());
      ops.push_back(
          {.kind = IoKind::kRead, .file = files[i].get(), .iov = &iovs[2 * i], .iovcnt = 1});
    }
    iovs[2 * i + 1] = {r.blocks.data(), r.blocks.size};
    o.blocks = ops.size();
    ops.push_back({.kind = IoKind::kRead,
                   .file = files[i].get(),
                   .offset = kPage + r.blocks_from,
                   .iov = &iovs[2 * i + 1],
                   .iovcnt = 1});
  }
  Status batch = env->Submit(ops);
  for (const RangeOps& o : range_ops) {
    ShardRangeRead& r = ranges[o.range];
    const IoOp& blocks = ops[o.blocks];
    if (!batch.ok()) {
      r.status = batch;
    } else if (o.page < 0) {
      // The table is cached (and so verified): only the blocks were read.
      r.header = cached[o.range]->header;
      if (!blocks.Complete()) {
        r.status = OpError(blocks, "reading shard", r.path);
        r.corrupt = blocks.result >= 0;  // short: truncated
      } else {
        r.status = VerifyBlocks(r.header, cached[o.range]->area, r);
        r.corrupt = !r.status.ok();
      }
    } else if (const IoOp& page = ops[static_cast<size_t>(o.page)];
               page.result < static_cast<int64_t>(ShardHeader::kSize)) {
      r.status = OpError(page, "reading shard", r.path);
      r.corrupt = page.result >= 0;  // short: truncated
    } else {
      // A short file is fine when its header says it is another (smaller) shard than
      // expected (EAGAIN); for the one expected it is truncated.
      r.status = VerifyRange(id, layout, r);
      for (const IoOp* op : {&page, &blocks}) {
        if (r.status.ok() && !op->Complete()) {
          r.status = OpError(*op, "reading shard", r.path);
          r.corrupt = op->result >= 0;
        }
      }
      r.corrupt = r.corrupt || r.status.code() == EIO;
      if (r.status.ok() && tables != nullptr) {
        tables->Insert(id, r.index, r.header, {r.page.data(), r.page.size});
      }
    }
    if (!r.status.ok() && r.status.code() != EAGAIN) r.blocks = {};
  }
}

namespace {

// Fails every shard that `op` speaks for, unless it failed already.
void Charge(std::span<ShardWrite> shards, const std::vector<size_t>& members, const Status& st) {
  for (size_t i : members) {
    if (shards[i].status.ok()) shards[i].status = st;
  }
}

// Adds an fsync of every directory in `dirs` to `ops`, runs the batch, and charges
// every failed op to the shards it speaks for (`owners`, parallel to `ops`).
void RunBatch(Env* env, std::span<ShardWrite> shards,
              const std::map<std::string, std::vector<size_t>>& dirs, std::vector<IoOp>& ops,
              std::vector<const std::vector<size_t>*>& owners) {
  std::vector<std::unique_ptr<File>> dir_files;
  for (const auto& [dir, members] : dirs) {
    auto file = env->Open(dir, {.mode = OpenMode::kDirectory});
    if (!file.ok()) {
      Charge(shards, members, file.status());
      continue;
    }
    dir_files.push_back(std::move(*file));
    ops.push_back({.kind = IoKind::kFsync, .file = dir_files.back().get()});
    owners.push_back(&members);
  }
  Status batch = env->Submit(ops);
  for (size_t j = 0; j < ops.size(); ++j) {
    if (batch.ok() && ops[j].Complete()) continue;
    const char* what = ops[j].kind == IoKind::kWrite ? "writing" : "flushing";
    Charge(shards, *owners[j], batch.ok() ? OpError(ops[j], what, ops[j].file->path()) : batch);
  }
}

// One bounded group of WriteShards: every file it opens stays open until it returns.
void WriteGroup(Env* env, std::span<ShardWrite> shards) {
  bool replacing = false;
  std::vector<std::unique_ptr<File>> files(shards.size());
  std::vector<iovec> iovs(shards.size());
  std::vector<std::vector<size_t>> single(shards.size());
  std::map<std::string, std::vector<size_t>> dirs;
  std::vector<IoOp> ops;
  std::vector<const std::vector<size_t>*> owners;
  for (size_t i = 0; i < shards.size(); ++i) {
    ShardWrite& s = shards[i];
    if (!s.status.ok()) continue;
    replacing = replacing || s.replace;
    // A new shard never overwrites a file; a replacement is written aside and renamed
    // over the old one once durable, so a crash never leaves it worse than before.
    const OpenMode mode = s.replace ? OpenMode::kCreateTruncate : OpenMode::kCreateExclusive;
    auto file = env->Open(s.replace ? s.path + ".new" : s.path, {.mode = mode, .direct = s.direct});
    if (!file.ok()) {
      s.status = file.status();
      continue;
    }
    s.created = true;
    files[i] = std::move(*file);
    iovs[i] = {const_cast<uint8_t*>(s.file.data()), s.file.size()};
    single[i] = {i};
    const bool flush = !s.defer_flush || s.replace;
    ops.push_back({.kind = IoKind::kWrite,
                   .file = files[i].get(),
                   .iov = &iovs[i],
                   .iovcnt = 1,
                   .link_next = flush});
    owners.push_back(&single[i]);
    if (!flush) continue;
    ops.push_back({.kind = IoKind::kFdatasync, .file = files[i].get()});
    owners.push_back(&single[i]);
    dirs[DirName(s.path)].push_back(i);
    for (const std::string& dir : s.sync_dirs) dirs[dir].push_back(i);
  }
  if (!replacing) {
    // New directory entries need no order among themselves or with the shard flushes:
    // one batch does it all.
    RunBatch(env, shards, dirs, ops, owners);
    for (size_t i = 0; i < shards.size(); ++i) {
      if (shards[i].defer_flush && shards[i].status.ok() && files[i]) files[i]->StartWriteback();
    }
    return;
  }
  // Replacements: first the ".new" files, durable; then the renames; then the
  // directories that now hold the new names.
  RunBatch(env, shards, {}, ops, owners);
  for (size_t i = 0; i < shards.size(); ++i) {
    ShardWrite& s = shards[i];
    if (!s.replace || !s.created) continue;
    if (s.status.ok()) s.status = env->Rename(s.path + ".new", s.path);
    if (!s.status.ok()) (void)env->Unlink(s.path + ".new");
  }
  ops.clear();
  owners.clear();
  RunBatch(env, shards, dirs, ops, owners);
}

}  // namespace

void WriteShards(Env* env, std::span<ShardWrite> shards) {
  // Bounded groups keep the number of open files small whatever the batch size.
  constexpr size_t kGroup = 32;  // at most ~4 descriptors a shard: file, leaf, two parents
  for (size_t begin = 0; begin < shards.size(); begin += kGroup) {
    WriteGroup(env, shards.subspan(begin, std::min(kGroup, shards.size() - begin)));
  }
}

}  // namespace sopfs
