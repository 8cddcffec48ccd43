#include "engine/blob/shard_io.h"

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
  if (header->FileSize() != s.file.size ||
      header->payload_offset != ShardHeader::PayloadOffsetFor(header->shard_length)) {
    return Status::Error(EIO, "shard " + s.path + ": file is " + std::to_string(s.file.size) +
                                  " bytes, its header says " + std::to_string(header->FileSize()));
  }
  if (!ShardHeader::ChecksumMatches(hb, {s.file.data() + header->payload_offset,
                                         static_cast<size_t>(header->shard_length)})) {
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

void WriteShards(Env* env, std::span<ShardWrite> shards) {
  // Who an op speaks for: one shard (its write and flush), or every shard created in a
  // directory (that directory's fsync).
  struct Owner {
    size_t shard = 0;
    const std::vector<size_t>* dir_members = nullptr;
  };
  std::vector<std::unique_ptr<File>> files(shards.size());
  std::vector<iovec> iovs(shards.size());
  std::map<std::string, std::vector<size_t>> dirs;
  std::vector<IoOp> ops;
  std::vector<Owner> owners;
  for (size_t i = 0; i < shards.size(); ++i) {
    ShardWrite& s = shards[i];
    auto file = env->Open(s.path, {.mode = OpenMode::kCreateTruncate, .direct = s.direct});
    if (!file.ok()) {
      s.status = file.status();
      continue;
    }
    files[i] = std::move(*file);
    iovs[i] = {const_cast<uint8_t*>(s.file.data()), s.file.size()};
    ops.push_back({.kind = IoKind::kWrite,
                   .file = files[i].get(),
                   .iov = &iovs[i],
                   .iovcnt = 1,
                   .link_next = true});
    ops.push_back({.kind = IoKind::kFdatasync, .file = files[i].get()});
    owners.push_back({.shard = i});
    owners.push_back({.shard = i});
    dirs[DirName(s.path)].push_back(i);
    for (const std::string& dir : s.sync_dirs) dirs[dir].push_back(i);
  }
  // The new directory entries must be durable too: one fsync per directory, in the
  // same batch (they need no order among themselves or with the shard flushes).
  std::vector<std::unique_ptr<File>> dir_files;
  for (auto& [dir, members] : dirs) {
    auto file = env->Open(dir, {.mode = OpenMode::kDirectory});
    if (!file.ok()) {
      for (size_t i : members) shards[i].status = file.status();
      continue;
    }
    dir_files.push_back(std::move(*file));
    ops.push_back({.kind = IoKind::kFsync, .file = dir_files.back().get()});
    owners.push_back({.dir_members = &members});
  }
  Status batch = env->Submit(ops);
  for (size_t j = 0; j < ops.size(); ++j) {
    const IoOp& op = ops[j];
    if (batch.ok() && op.Complete()) continue;
    Status failure = batch.ok() ? OpError(op,
                                          op.kind == IoKind::kWrite ? "writing"
                                          : owners[j].dir_members   ? "flushing directory"
                                                                    : "flushing",
                                          op.file->path())
                                : batch;
    if (owners[j].dir_members) {
      for (size_t i : *owners[j].dir_members) {
        if (shards[i].status.ok()) shards[i].status = failure;
      }
    } else if (shards[owners[j].shard].status.ok()) {
      shards[owners[j].shard].status = failure;
    }
  }
}

}  // namespace sopfs
