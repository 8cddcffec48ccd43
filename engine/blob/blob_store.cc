#include "engine/blob/blob_store.h"

#include <algorithm>
#include <cstring>

namespace sopfs {
namespace {

uint64_t ShardLength(uint64_t blob_length, int k) {
  return (blob_length + static_cast<uint64_t>(k) - 1) / static_cast<uint64_t>(k);
}

std::string DescribeProblems(const std::vector<ShardProblem>& problems) {
  std::string s;
  for (const ShardProblem& p : problems) {
    if (!s.empty()) s += "; ";
    s += "shard " + std::to_string(p.shard) + ": " + p.status.ToString();
  }
  return s;
}

// The bytes of one blob being written: its k data shards (pointing into the caller's
// buffer where a whole shard is available) and its m parity shards.
struct EncodedBlob {
  uint64_t shard_length = 0;
  std::vector<const uint8_t*> data;  // k shards
  std::vector<uint8_t*> parity;      // m shards
  ByteBuffer parity_bytes;
  std::vector<uint8_t> tail;   // the partly filled data shard, zero padded
  std::vector<uint8_t> zeros;  // data shards past the end of the blob

  const uint8_t* Shard(int i, int k) const { return i < k ? data[i] : parity[i - k]; }
};

EncodedBlob Encode(const BlobStore::Write& w, const ErasureCodec& codec) {
  const int k = w.layout.k, m = w.layout.m;
  const uint64_t len = w.data.size();
  EncodedBlob e;
  e.shard_length = ShardLength(len, k);
  const uint64_t s = e.shard_length;
  for (int i = 0; i < k; ++i) {
    const uint64_t begin = static_cast<uint64_t>(i) * s;
    if (begin + s <= len) {
      e.data.push_back(w.data.data() + begin);
    } else if (begin < len) {
      e.tail.assign(s, 0);
      std::memcpy(e.tail.data(), w.data.data() + begin, len - begin);
      e.data.push_back(e.tail.data());
    } else {
      if (e.zeros.empty()) e.zeros.assign(s, 0);
      e.data.push_back(e.zeros.data());
    }
  }
  e.parity_bytes = ByteBuffer::Uninitialized(static_cast<size_t>(s) * m);
  for (int j = 0; j < m; ++j) e.parity.push_back(e.parity_bytes.data() + j * s);
  codec.Encode(s, e.data.data(), e.parity.data());
  return e;
}

// Points shards[i] at the payload of every good read and at a fresh buffer in
// `rebuilt` for every shard flagged in `rebuild`, then decodes those from the good ones.
Status RebuildShards(const ErasureCodec& codec, uint64_t shard_length,
                     const std::vector<ShardRead>& reads, const std::vector<uint8_t>& rebuild,
                     std::vector<ByteBuffer>& rebuilt, std::vector<uint8_t*>& shards) {
  const size_t n = reads.size();
  std::vector<uint8_t> present(n);
  rebuilt.clear();
  rebuilt.resize(n);
  shards.assign(n, nullptr);
  bool any = false;
  for (size_t i = 0; i < n; ++i) {
    present[i] = reads[i].status.ok();
    if (present[i]) {
      shards[i] = reads[i].payload.data();
    } else if (rebuild[i]) {
      rebuilt[i] = ByteBuffer::Uninitialized(shard_length);
      shards[i] = rebuilt[i].data();
      any = true;
    }
  }
  if (!any) return Status::Ok();
  return codec.Rebuild(shard_length, shards, present, rebuild);
}

}  // namespace

BlobStore::BlobStore(Env* env, std::vector<std::string> folders, BlobStoreOptions options)
    : env_(env),
      placement_(std::move(folders)),
      options_(options),
      last_failure_(placement_.folder_count()) {}

Result<std::unique_ptr<BlobStore>> BlobStore::Open(Env* env, std::vector<std::string> folders,
                                                   BlobStoreOptions options) {
  if (folders.empty()) return Status::Error(EINVAL, "a blob store needs at least one data folder");
  for (const std::string& f : folders) {
    if (!env->Exists(f)) return Status::Error(ENOENT, "data folder " + f + " does not exist");
  }
  return std::unique_ptr<BlobStore>(new BlobStore(env, std::move(folders), options));
}

const ErasureCodec& BlobStore::CodecFor(ErasureLayout layout) {
  std::lock_guard<std::mutex> lock(codecs_mu_);
  auto& codec = codecs_[{layout.k, layout.m}];
  if (!codec) codec = std::make_unique<ErasureCodec>(layout);
  return *codec;
}

void BlobStore::NoteFailure(int folder, const Status& status) {
  // A missing shard in a present folder, or a full folder, says nothing about whether
  // the folder can be read.
  if (status.code() == ENOSPC) return;
  if (status.code() == ENOENT && env_->Exists(placement_.folder(folder))) return;
  std::lock_guard<std::mutex> lock(health_mu_);
  last_failure_[folder] = std::chrono::steady_clock::now();
}

bool BlobStore::FolderFailing(int folder) const {
  std::lock_guard<std::mutex> lock(health_mu_);
  auto t = last_failure_[folder];
  return t != std::chrono::steady_clock::time_point() &&
         std::chrono::steady_clock::now() - t < options_.folder_failure_hold;
}

Status BlobStore::Put(const BlobId& id, ErasureLayout layout, std::span<const uint8_t> data,
                      BlobWriteReport* report) {
  Write w{id, layout, data};
  std::vector<BlobWriteReport> reports;
  Status st = Put({&w, 1}, report ? &reports : nullptr);
  if (report) *report = std::move(reports[0]);
  return st;
}

Status BlobStore::Put(std::span<const Write> batch, std::vector<BlobWriteReport>* reports) {
  for (const Write& w : batch) {
    SOPFS_RETURN_IF_ERROR(w.layout.Validate(folder_count()));
  }
  std::vector<EncodedBlob> encoded;
  encoded.reserve(batch.size());
  std::vector<ShardWrite> shards;
  std::vector<size_t> first_shard;
  static const uint8_t kNoBytes = 0;
  for (const Write& w : batch) {
    encoded.push_back(Encode(w, CodecFor(w.layout)));
    const EncodedBlob& e = encoded.back();
    first_shard.push_back(shards.size());
    for (int i = 0; i < w.layout.total(); ++i) {
      ShardWrite s;
      s.index = i;
      s.path = placement_.PathOf(w.id, i);
      const uint8_t* bytes = e.shard_length ? e.Shard(i, w.layout.k) : &kNoBytes;
      s.payload[0] = {bytes, e.shard_length};
      ShardHeader h{.blob = w.id,
                    .shard_index = i,
                    .k = w.layout.k,
                    .m = w.layout.m,
                    .blob_length = w.data.size(),
                    .shard_length = e.shard_length};
      s.header = h.Encode(std::span<const std::span<const uint8_t>>(s.payload, 1));
      s.status = placement_.EnsureDir(env_, w.id, i);
      shards.push_back(std::move(s));
    }
  }
  // Shards whose directory could not be made are left out of the batch.
  std::vector<ShardWrite> to_write;
  std::vector<size_t> origin;
  for (size_t i = 0; i < shards.size(); ++i) {
    if (!shards[i].status.ok()) continue;
    origin.push_back(i);
    to_write.push_back(std::move(shards[i]));
  }
  WriteShards(env_, to_write);
  for (size_t j = 0; j < to_write.size(); ++j) shards[origin[j]].status = to_write[j].status;

  Status first_failure;
  if (reports) reports->assign(batch.size(), {});
  for (size_t b = 0; b < batch.size(); ++b) {
    const Write& w = batch[b];
    BlobWriteReport report;
    int durable = 0;
    bool full = false;
    for (int i = 0; i < w.layout.total(); ++i) {
      const ShardWrite& s = shards[first_shard[b] + i];
      if (s.status.ok()) {
        ++durable;
        continue;
      }
      const int folder = placement_.FolderOf(w.id, i);
      report.failed_shards.push_back({i, folder, s.status});
      full = full || s.status.code() == ENOSPC;
      NoteFailure(folder, s.status);
    }
    if (durable >= w.layout.write_quorum()) {
      counters_.blobs_written++;
      counters_.bytes_written +=
          (encoded[b].shard_length + ShardHeader::kSize) * static_cast<uint64_t>(durable);
    } else {
      // Below quorum: take back what was written so no half blob stays visible.
      (void)Remove(w.id, w.layout);
      if (first_failure.ok()) {
        first_failure = Status::Error(
            full ? ENOSPC : EIO, "blob " + w.id.ToHex() + ": only " + std::to_string(durable) +
                                     " of " + std::to_string(w.layout.total()) +
                                     " shards durable, " + std::to_string(w.layout.write_quorum()) +
                                     " needed: " + DescribeProblems(report.failed_shards));
      }
    }
    if (reports) (*reports)[b] = std::move(report);
  }
  return first_failure;
}

Status BlobStore::ReadQuorum(const BlobId& id, ErasureLayout layout, std::vector<ShardRead>& reads,
                             BlobReadReport* report) {
  const int k = layout.k, n = layout.total();
  // Preference: data shards (no decoding needed) before parity, folders that have not
  // failed lately before those that have.
  std::vector<int> order;
  for (bool failing : {false, true}) {
    for (int i = 0; i < n; ++i) {
      if (FolderFailing(placement_.FolderOf(id, i)) == failing) order.push_back(i);
    }
  }
  reads.clear();
  reads.resize(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    reads[i].index = i;
    reads[i].path = placement_.PathOf(id, i);
    reads[i].status = Status::Error(ECANCELED, "not read");
  }
  int good = 0, missing = 0, tried = 0;
  uint64_t blob_length = 0;
  size_t next = 0;
  std::vector<ShardProblem> problems;
  while (good < k && next < order.size()) {
    std::vector<ShardRead> round;
    while (static_cast<int>(round.size()) < k - good && next < order.size()) {
      round.push_back(std::move(reads[order[next++]]));
    }
    ReadShards(env_, id, layout, round);
    for (ShardRead& r : round) {
      ++tried;
      if (r.status.ok() && good > 0 && r.header.blob_length != blob_length) {
        r.status = Status::Error(EIO, "shard " + r.path + ": blob length disagrees with others");
        r.corrupt = true;
      }
      if (r.status.ok()) {
        blob_length = r.header.blob_length;
        ++good;
      } else {
        const int folder = placement_.FolderOf(id, r.index);
        problems.push_back({r.index, folder, r.status});
        missing += r.status.code() == ENOENT;
        if (!r.corrupt) NoteFailure(folder, r.status);
      }
      const int index = r.index;
      reads[index] = std::move(r);
    }
  }
  counters_.bad_shards_seen += problems.size();
  if (report) report->bad_shards = problems;
  if (good >= k) return Status::Ok();
  if (missing == tried) return Status::Error(ENOENT, "blob " + id.ToHex() + " not found");
  return Status::Error(EIO, "blob " + id.ToHex() + ": only " + std::to_string(good) + " of the " +
                                std::to_string(k) + " shards needed are readable (" +
                                layout.ToString() + "): " + DescribeProblems(problems));
}

Result<std::vector<uint8_t>> BlobStore::Assemble(const BlobId& id, ErasureLayout layout,
                                                 std::vector<ShardRead>& reads,
                                                 BlobReadReport* report) {
  const int k = layout.k, n = layout.total();
  uint64_t blob_length = 0;
  std::vector<uint8_t> rebuild(n);
  bool decode = false;
  for (int i = 0; i < n; ++i) {
    if (reads[i].status.ok()) blob_length = reads[i].header.blob_length;
    // Only data shards are needed to produce the bytes.
    rebuild[i] = i < k && !reads[i].status.ok();
    decode = decode || rebuild[i];
  }
  const uint64_t s = ShardLength(blob_length, k);
  std::vector<ByteBuffer> rebuilt;
  std::vector<uint8_t*> shards;
  Status st = RebuildShards(CodecFor(layout), s, reads, rebuild, rebuilt, shards);
  if (!st.ok()) return Status::Error(st.code(), "blob " + id.ToHex() + ": " + st.message());
  if (decode) {
    counters_.reconstructions++;
    if (report) report->reconstructed = true;
  }
  std::vector<uint8_t> out(blob_length);
  for (int i = 0; i < k; ++i) {
    const uint64_t begin = static_cast<uint64_t>(i) * s;
    if (begin >= blob_length) break;
    std::memcpy(out.data() + begin, shards[i], std::min<uint64_t>(s, blob_length - begin));
  }
  counters_.blobs_read++;
  return out;
}

Result<std::vector<uint8_t>> BlobStore::Get(const BlobId& id, ErasureLayout layout,
                                            BlobReadReport* report) {
  SOPFS_RETURN_IF_ERROR(layout.Validate(folder_count()));
  std::vector<ShardRead> reads;
  SOPFS_RETURN_IF_ERROR(ReadQuorum(id, layout, reads, report));
  for (const ShardRead& r : reads) {
    if (r.status.ok()) counters_.bytes_read += r.payload.size + ShardHeader::kSize;
  }
  return Assemble(id, layout, reads, report);
}

Result<size_t> BlobStore::GetRange(const BlobId& id, ErasureLayout layout, uint64_t offset,
                                   std::span<uint8_t> out, BlobReadReport* report) {
  SOPFS_RETURN_IF_ERROR(layout.Validate(folder_count()));
  const int k = layout.k;
  // The shard length comes from the size of data shard 0's file; the shards read are
  // verified in full, so a wrong size only costs the fallback below.
  if (out.empty()) return size_t{0};
  uint64_t s = 0;
  if (auto file = env_->Open(placement_.PathOf(id, 0), {.mode = OpenMode::kRead}); file.ok()) {
    auto size = (*file)->Size();
    if (size.ok() && *size >= ShardHeader::kSize) {
      s = *size - ShardHeader::kSize;
    }
  }
  if (s > 0) {
    const int first = static_cast<int>(std::min<uint64_t>(offset / s, k - 1));
    const int last = static_cast<int>(std::min<uint64_t>((offset + out.size() - 1) / s, k - 1));
    std::vector<ShardRead> reads;
    for (int i = first; i <= last; ++i) {
      ShardRead& r = reads.emplace_back();
      r.index = i;
      r.path = placement_.PathOf(id, i);
    }
    ReadShards(env_, id, layout, reads);
    bool all_good = true;
    for (const ShardRead& r : reads) {
      all_good = all_good && r.status.ok() && r.header.shard_length == s &&
                 r.header.blob_length == reads[0].header.blob_length;
    }
    if (all_good) {
      const uint64_t blob_length = reads[0].header.blob_length;
      if (offset >= blob_length) return size_t{0};
      const uint64_t end = std::min<uint64_t>(blob_length, offset + out.size());
      for (const ShardRead& r : reads) {
        const uint64_t begin = static_cast<uint64_t>(r.index) * s;
        const uint64_t from = std::max(begin, offset), to = std::min(begin + s, end);
        if (from < to)
          std::memcpy(out.data() + (from - offset), r.payload.data() + (from - begin), to - from);
        counters_.bytes_read += r.payload.size + ShardHeader::kSize;
      }
      counters_.blobs_read++;
      if (report) *report = {};
      return static_cast<size_t>(end - offset);
    }
  }
  // A bad or missing shard on the way: the general path finds good ones and decodes.
  auto blob = Get(id, layout, report);
  if (!blob.ok()) return blob.status();
  if (offset >= blob->size()) return size_t{0};
  const size_t n = std::min<size_t>(out.size(), blob->size() - offset);
  std::memcpy(out.data(), blob->data() + offset, n);
  return n;
}

Result<BlobRepairReport> BlobStore::Repair(const BlobId& id, ErasureLayout layout) {
  SOPFS_RETURN_IF_ERROR(layout.Validate(folder_count()));
  const int k = layout.k, n = layout.total();
  std::vector<ShardRead> reads(n);
  for (int i = 0; i < n; ++i) {
    reads[i].index = i;
    reads[i].path = placement_.PathOf(id, i);
  }
  ReadShards(env_, id, layout, reads);
  BlobRepairReport report;
  int good = 0;
  uint64_t blob_length = 0;
  std::vector<uint8_t> rebuild(n);
  for (int i = 0; i < n; ++i) {
    if (reads[i].status.ok() && good > 0 && reads[i].header.blob_length != blob_length) {
      reads[i].status = Status::Error(EIO, "shard " + reads[i].path + ": blob length disagrees");
    }
    if (reads[i].status.ok()) {
      blob_length = reads[i].header.blob_length;
      ++good;
    } else {
      report.bad_shards.push_back({i, placement_.FolderOf(id, i), reads[i].status});
      rebuild[i] = 1;
    }
  }
  if (report.bad_shards.empty()) return report;
  if (good < k) {
    return Status::Error(good == 0 ? ENOENT : EIO,
                         "blob " + id.ToHex() + ": cannot repair, only " + std::to_string(good) +
                             " of the " + std::to_string(k) +
                             " shards needed are readable: " + DescribeProblems(report.bad_shards));
  }
  const uint64_t s = ShardLength(blob_length, k);
  std::vector<ByteBuffer> rebuilt;
  std::vector<uint8_t*> shards;
  SOPFS_RETURN_IF_ERROR(RebuildShards(CodecFor(layout), s, reads, rebuild, rebuilt, shards));
  std::vector<ShardWrite> writes;
  for (int i = 0; i < n; ++i) {
    if (!rebuild[i]) continue;
    SOPFS_RETURN_IF_ERROR(placement_.EnsureDir(env_, id, i));
    ShardWrite w;
    w.index = i;
    w.path = placement_.PathOf(id, i);
    w.payload[0] = {rebuilt[i].data(), s};
    ShardHeader h{.blob = id,
                  .shard_index = i,
                  .k = k,
                  .m = layout.m,
                  .blob_length = blob_length,
                  .shard_length = s};
    w.header = h.Encode(std::span<const std::span<const uint8_t>>(w.payload, 1));
    writes.push_back(std::move(w));
  }
  WriteShards(env_, writes);
  Status first_failure;
  for (const ShardWrite& w : writes) {
    if (w.status.ok()) {
      report.rewritten.push_back(w.index);
    } else if (first_failure.ok()) {
      first_failure =
          Status::Error(w.status.code(), "blob " + id.ToHex() + ": repairing shard " +
                                             std::to_string(w.index) + ": " + w.status.ToString());
    }
  }
  if (!first_failure.ok()) return first_failure;
  return report;
}

Status BlobStore::Remove(const BlobId& id, ErasureLayout layout) {
  SOPFS_RETURN_IF_ERROR(layout.Validate(folder_count()));
  Status first_failure;
  for (int i = 0; i < layout.total(); ++i) {
    Status st = env_->Unlink(placement_.PathOf(id, i));
    if (!st.ok() && st.code() != ENOENT && first_failure.ok()) first_failure = st;
  }
  return first_failure;
}

}  // namespace sopfs
