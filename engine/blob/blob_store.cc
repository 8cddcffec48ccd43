#include "engine/blob/blob_store.h"

#include <algorithm>
#include <cstring>
#include <set>

#include "engine/blob/shard_images.h"
#include "engine/io/aligned_buffer.h"

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

// Splits a blob into k data shards, encodes m parity shards and seals every header.
ShardImages Encode(const BlobStore::Write& w, const ErasureCodec& codec) {
  const int k = w.layout.k, n = w.layout.total();
  const uint64_t len = w.data.size();
  ShardImages images(ShardLength(len, k), n);
  const uint64_t s = images.shard_length;
  std::vector<const uint8_t*> data(k);
  std::vector<uint8_t*> parity(n - k);
  for (int i = 0; i < k; ++i) {
    const uint64_t begin = static_cast<uint64_t>(i) * s;
    const uint64_t copied = begin < len ? std::min(s, len - begin) : 0;
    if (copied > 0) std::memcpy(images.payload(i), w.data.data() + begin, copied);
    std::memset(images.payload(i) + copied, 0, s - copied);
    data[i] = images.payload(i);
  }
  for (int i = k; i < n; ++i) parity[i - k] = images.payload(i);
  codec.Encode(s, data.data(), parity.data());
  for (int i = 0; i < n; ++i) images.Seal(w.id, w.layout, len, i);
  return images;
}

// Points shards[i] at the payload of every good read and at a fresh shard image in
// `rebuilt` for every shard flagged in `rebuild`, then decodes those from good ones.
Status RebuildShards(const ErasureCodec& codec, uint64_t shard_length,
                     const std::vector<ShardRead>& reads, const std::vector<uint8_t>& rebuild,
                     ShardImages& rebuilt, std::vector<uint8_t*>& shards) {
  const size_t n = reads.size();
  std::vector<uint8_t> present(n);
  shards.assign(n, nullptr);
  bool any = false;
  for (size_t i = 0; i < n; ++i) {
    present[i] = reads[i].status.ok();
    if (present[i]) {
      shards[i] = reads[i].payload();
    } else if (rebuild[i]) {
      shards[i] = rebuilt.payload(static_cast<int>(i));
      any = true;
    }
  }
  if (!any) return Status::Ok();
  return codec.Rebuild(shard_length, shards, present, rebuild);
}

// Counts a good shard read (true), or returns false for a bad one, marking it corrupt
// when its blob length disagrees with the shards accepted before it.
bool AcceptShard(ShardRead& r, int* good, uint64_t* blob_length) {
  if (r.status.ok() && *good > 0 && r.header.blob_length != *blob_length) {
    r.status = Status::Error(EIO, "shard " + r.path + ": blob length disagrees with others");
    r.corrupt = true;
  }
  if (!r.status.ok()) return false;
  *blob_length = r.header.blob_length;
  ++*good;
  return true;
}

}  // namespace

BlobStore::BlobStore(Env* env, std::vector<std::string> folders, BlobStoreOptions options)
    : env_(env),
      placement_(std::move(folders)),
      options_(options),
      tables_(options.table_cache_bytes),
      last_failure_(placement_.folder_count()) {}

Result<std::unique_ptr<BlobStore>> BlobStore::Open(Env* env, std::vector<std::string> folders,
                                                   BlobStoreOptions options,
                                                   bool folders_may_be_missing) {
  if (folders.empty()) return Status::Error(EINVAL, "a blob store needs at least one data folder");
  for (const std::string& f : folders) {
    if (!folders_may_be_missing && !env->Exists(f)) {
      return Status::Error(ENOENT, "data folder " + f + " does not exist");
    }
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
  // A missing shard in a present folder, a full folder, a shard that exists already or
  // a process out of descriptors or memory says nothing about whether the folder can
  // be read.
  switch (status.code()) {
    case ENOSPC:
    case EDQUOT:
    case EEXIST:
    case EMFILE:
    case ENFILE:
    case ENOMEM:
      return;
  }
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
  Status st = Put({&w, 1}, &reports);
  if (report) *report = reports.empty() ? BlobWriteReport{} : std::move(reports[0]);
  return st;
}

void BlobStore::WriteShardSet(std::span<ShardWrite> shards, std::span<const BlobId> ids) {
  for (size_t i = 0; i < shards.size(); ++i) {
    ShardWrite& s = shards[i];
    if (s.status.ok()) s.status = placement_.PrepareDirs(env_, ids[i], s.index, &s.sync_dirs);
  }
  WriteShards(env_, shards);
  std::vector<size_t> retry;
  for (size_t i = 0; i < shards.size(); ++i) {
    if (shards[i].status.ok()) {
      if (!shards[i].defer_flush) placement_.MarkDurable(ids[i], shards[i].index);
    } else if (shards[i].status.code() == ENOENT && !shards[i].created) {
      placement_.Forget(ids[i], shards[i].index);
      retry.push_back(i);
    }
  }
  if (retry.empty()) return;
  // The fan-out directory vanished under the cache (a replaced drive): make it again.
  std::vector<ShardWrite> again;
  for (size_t i : retry) {
    ShardWrite w = shards[i];
    w.sync_dirs.clear();
    w.status = placement_.PrepareDirs(env_, ids[i], w.index, &w.sync_dirs);
    again.push_back(std::move(w));
  }
  WriteShards(env_, again);
  for (size_t j = 0; j < retry.size(); ++j) {
    if (again[j].status.ok() && !again[j].defer_flush) {
      placement_.MarkDurable(ids[retry[j]], again[j].index);
    }
    shards[retry[j]].status = again[j].status;
    shards[retry[j]].created = again[j].created;
    // A deferred shard's flush must sync the directories the retry made (NoteDeferred).
    shards[retry[j]].sync_dirs = std::move(again[j].sync_dirs);
  }
}

namespace {

// The errno for a blob write that fell below quorum: a full disk (or quota) wins, then
// an errno that every failed shard shares (EROFS, EACCES, ...), else EIO.
int WriteFailureCode(const std::vector<ShardProblem>& problems) {
  int common = 0;
  for (const ShardProblem& p : problems) {
    const int code = p.status.code();
    if (code == ENOSPC || code == EDQUOT) return code;
    common = common == 0 || common == code ? code : -1;
  }
  return common > 0 ? common : EIO;
}

}  // namespace

Status BlobStore::Put(std::span<const Write> batch, std::vector<BlobWriteReport>* reports) {
  if (reports) reports->assign(batch.size(), {});
  for (const Write& w : batch) {
    SOPFS_RETURN_IF_ERROR(w.layout.Validate(folder_count()));
    if (w.data.size() > ShardHeader::kMaxBlobLength) {
      return Status::Error(EFBIG, "blob " + w.id.ToHex() + ": " + std::to_string(w.data.size()) +
                                      " bytes, the most a blob holds is " +
                                      std::to_string(ShardHeader::kMaxBlobLength));
    }
  }
  // In groups of bounded shard bytes: a batch of many blobs (a commit of thousands of
  // small files) never holds all of its shard images in memory at once.
  Status first_failure;
  for (size_t start = 0; start < batch.size();) {
    uint64_t bytes = 0;
    size_t end = start;
    while (end < batch.size() && (end == start || bytes < kPutGroupBytes)) {
      const Write& w = batch[end++];
      // Each shard image: its payload and at most one block of header and padding.
      bytes += (ShardLength(w.data.size(), w.layout.k) + ShardHeader::kAlignment) *
               static_cast<uint64_t>(w.layout.total());
    }
    Status st = PutGroup(
        batch.subspan(start, end - start),
        reports ? std::span(*reports).subspan(start, end - start) : std::span<BlobWriteReport>());
    if (first_failure.ok()) first_failure = st;
    start = end;
  }
  return first_failure;
}

Status BlobStore::PutGroup(std::span<const Write> batch, std::span<BlobWriteReport> reports) {
  std::vector<ShardImages> encoded;
  encoded.reserve(batch.size());
  std::vector<ShardWrite> shards;
  std::vector<BlobId> ids;
  std::vector<size_t> first_shard;
  for (const Write& w : batch) {
    encoded.push_back(Encode(w, CodecFor(w.layout)));
    first_shard.push_back(shards.size());
    for (int i = 0; i < w.layout.total(); ++i) {
      shards.push_back(encoded.back().Write(i, placement_.PathOf(w.id, i), w.defer_flush));
      ids.push_back(w.id);
    }
  }
  WriteShardSet(shards, ids);

  Status first_failure;
  for (size_t b = 0; b < batch.size(); ++b) {
    const Write& w = batch[b];
    BlobWriteReport report;
    int durable = 0;
    for (int i = 0; i < w.layout.total(); ++i) {
      const ShardWrite& s = shards[first_shard[b] + i];
      if (s.status.ok()) {
        ++durable;
        continue;
      }
      const int folder = placement_.FolderOf(w.id, i);
      report.failed_shards.push_back({i, folder, s.status});
      NoteFailure(folder, s.status);
    }
    if (durable >= w.layout.write_quorum()) {
      report.written = true;
      if (w.defer_flush) {
        NoteDeferred(w.id, w.layout, std::span(shards).subspan(first_shard[b], w.layout.total()));
      }
      counters_.blobs_written++;
      counters_.bytes_written += encoded[b].stride * static_cast<uint64_t>(durable);
    } else {
      // Below quorum: take back the shard files this write made, so no half blob stays
      // visible (files it did not make, e.g. of a blob that had this ID, stay).
      for (int i = 0; i < w.layout.total(); ++i) {
        if (shards[first_shard[b] + i].created) (void)env_->Unlink(placement_.PathOf(w.id, i));
      }
      if (first_failure.ok()) {
        first_failure =
            Status::Error(WriteFailureCode(report.failed_shards),
                          "blob " + w.id.ToHex() + ": only " + std::to_string(durable) + " of " +
                              std::to_string(w.layout.total()) + " shards durable, " +
                              std::to_string(w.layout.write_quorum()) +
                              " needed: " + DescribeProblems(report.failed_shards));
      }
    }
    if (!reports.empty()) reports[b] = std::move(report);
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
      if (!AcceptShard(r, &good, &blob_length)) {
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
  ShardImages rebuilt(s, decode ? n : 0);
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
    if (r.status.ok()) counters_.bytes_read += r.file.size;
  }
  return Assemble(id, layout, reads, report);
}

Result<uint64_t> BlobStore::PeekShardLength(const BlobId& id, ErasureLayout layout) {
  Status last;
  for (int i = 0; i < layout.k; ++i) {
    auto file = env_->Open(placement_.PathOf(id, i), {.mode = OpenMode::kRead});
    if (!file.ok()) {
      last = file.status();
      continue;
    }
    ShardHeader::Bytes bytes;
    iovec iov{bytes.data(), bytes.size()};
    IoOp op{.kind = IoKind::kRead, .file = file->get(), .iov = &iov, .iovcnt = 1};
    SOPFS_RETURN_IF_ERROR(env_->Submit({&op, 1}));
    auto header = op.Complete() ? ShardHeader::Parse(bytes) : std::nullopt;
    if (header && header->blob == id) return header->shard_length;
    last = Status::Error(EIO, "shard header of " + file->get()->path() + " unreadable");
  }
  return last;
}

Result<size_t> BlobStore::GetRangeByBlocks(const BlobId& id, ErasureLayout layout, uint64_t s,
                                           uint64_t offset, std::span<uint8_t> out,
                                           uint64_t* length_hint) {
  const int k = layout.k;
  *length_hint = 0;
  if (ShardHeader::BlockSizeFor(s) == 0) {
    *length_hint = s;  // compact shards have one checksum: read whole
    return Status::Error(EAGAIN, "compact shards");
  }
  // Saturating: a range near 2^64 must not wrap around to the start.
  const uint64_t last_byte =
      offset > UINT64_MAX - (out.size() - 1) ? UINT64_MAX : offset + (out.size() - 1);
  if (offset / s >= static_cast<uint64_t>(k)) return Status::Error(EAGAIN, "past the guess");
  const int first = static_cast<int>(offset / s);
  const int last = static_cast<int>(std::min<uint64_t>(last_byte / s, k - 1));
  std::vector<ShardRangeRead> reads;
  for (int i = first; i <= last; ++i) {
    const uint64_t begin = static_cast<uint64_t>(i) * s;
    ShardRangeRead& r = reads.emplace_back();
    r.index = i;
    r.path = placement_.PathOf(id, i);
    r.shard_length = s;
    r.from = std::max(begin, offset) - begin;
    r.to = std::min(begin + s - 1, last_byte) - begin + 1;
  }
  ReadShardRanges(env_, id, layout, reads, &tables_);
  for (const ShardRangeRead& r : reads) {
    if (r.status.code() == EAGAIN) *length_hint = r.header.shard_length;
    if (!r.status.ok()) return r.status;
    if (r.header.blob_length != reads[0].header.blob_length) {
      return Status::Error(EIO, "blob " + id.ToHex() + ": shards disagree on its length");
    }
    counters_.bytes_read += r.page.size + r.blocks.size;
  }
  const uint64_t length = reads[0].header.blob_length;
  if (offset >= length) return size_t{0};
  const uint64_t end = last_byte >= length ? length : last_byte + 1;
  for (const ShardRangeRead& r : reads) {
    const uint64_t begin = static_cast<uint64_t>(r.index) * s;
    const uint64_t from = std::max(begin, offset), to = std::min(begin + s, end);
    if (from < to) std::memcpy(out.data() + (from - offset), r.payload_at(from - begin), to - from);
  }
  counters_.blobs_read++;
  return static_cast<size_t>(end - offset);
}

Result<size_t> BlobStore::GetRange(const BlobId& id, ErasureLayout layout, uint64_t offset,
                                   std::span<uint8_t> out, BlobReadReport* report,
                                   std::optional<uint64_t> blob_length) {
  SOPFS_RETURN_IF_ERROR(layout.Validate(folder_count()));
  if (out.empty()) return size_t{0};
  const int k = layout.k;
  if (report) *report = {};
  // Which data shards hold the range depends on the shard length: from the caller's
  // blob length, or else a guess (the length the last range read of this k found: most
  // blobs are whole chunks), corrected by what the shards' headers say.
  uint64_t s = 0;
  if (blob_length) {
    if (offset >= *blob_length) return size_t{0};
    s = ShardLength(*blob_length, k);
  } else {
    s = typical_shard_length_[k].load(std::memory_order_relaxed);
  }
  bool peeked = blob_length.has_value();
  bool guessed = !blob_length.has_value();  // s is a guess, not a header's word
  for (int attempt = 0; attempt < 3; ++attempt) {
    if (s == 0 && !peeked) {
      peeked = true;
      guessed = false;
      if (auto length = PeekShardLength(id, layout); length.ok()) s = *length;
    }
    if (s == 0) break;
    uint64_t told = 0;
    Result<size_t> got = GetRangeByBlocks(id, layout, s, offset, out, &told);
    if (got.ok()) {
      typical_shard_length_[k].store(s, std::memory_order_relaxed);
      return got;
    }
    // A bad or missing shard: the general path finds good ones and decodes.
    if (got.status().code() != EAGAIN) return GetRangeOfWhole(id, layout, offset, out, report);
    // Shards of one checksum each (version 1, or compact ones) are read whole, once
    // their length is known; a guess of a compact length says nothing of this blob.
    if (told == s && !guessed) break;
    s = told == s ? 0 : told;  // 0: the guess did not reach the range, or was compact
    guessed = false;
    if (s == 0 && peeked) break;
  }
  // An unverified length past the range goes to the general path too: only verified
  // headers may say that the blob ends before it.
  if (s > 0 && offset / s < static_cast<uint64_t>(k)) {
    // Saturating: a range near 2^64 must not wrap around to the start.
    const uint64_t last_byte =
        offset > UINT64_MAX - (out.size() - 1) ? UINT64_MAX : offset + (out.size() - 1);
    const int first = static_cast<int>(offset / s);
    const int last = static_cast<int>(std::min<uint64_t>(last_byte / s, k - 1));
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
      const uint64_t length = reads[0].header.blob_length;
      if (offset >= length) return size_t{0};
      const uint64_t end = last_byte >= length ? length : last_byte + 1;
      for (const ShardRead& r : reads) {
        const uint64_t begin = static_cast<uint64_t>(r.index) * s;
        const uint64_t from = std::max(begin, offset), to = std::min(begin + s, end);
        if (from < to) {
          std::memcpy(out.data() + (from - offset), r.payload() + (from - begin), to - from);
        }
        counters_.bytes_read += r.file.size;
      }
      counters_.blobs_read++;
      // A compact length would make the next guess useless (see above).
      if (ShardHeader::BlockSizeFor(s) != 0) {
        typical_shard_length_[k].store(s, std::memory_order_relaxed);
      }
      return static_cast<size_t>(end - offset);
    }
  }
  return GetRangeOfWhole(id, layout, offset, out, report);
}

Result<size_t> BlobStore::GetRangeOfWhole(const BlobId& id, ErasureLayout layout, uint64_t offset,
                                          std::span<uint8_t> out, BlobReadReport* report) {
  auto blob = Get(id, layout, report);
  if (!blob.ok()) return blob.status();
  if (offset >= blob->size()) return size_t{0};
  const size_t n = std::min<size_t>(out.size(), blob->size() - offset);
  std::memcpy(out.data(), blob->data() + offset, n);
  return n;
}

Result<BlobRepairReport> BlobStore::Repair(const BlobId& id, ErasureLayout layout) {
  return InspectOrRepair(id, layout, /*rewrite=*/true);
}

Result<BlobRepairReport> BlobStore::Inspect(const BlobId& id, ErasureLayout layout) {
  return InspectOrRepair(id, layout, /*rewrite=*/false);
}

Result<BlobRepairReport> BlobStore::InspectOrRepair(const BlobId& id, ErasureLayout layout,
                                                    bool rewrite) {
  SOPFS_RETURN_IF_ERROR(layout.Validate(folder_count()));
  const int k = layout.k, n = layout.total();
  std::vector<ShardRead> reads(n);
  for (int i = 0; i < n; ++i) {
    reads[i].index = i;
    reads[i].path = placement_.PathOf(id, i);
  }
  ReadShards(env_, id, layout, reads);
  BlobRepairReport report;
  int good = 0, missing = 0;
  uint64_t blob_length = 0;
  // Only shards that are missing or corrupt are rewritten: one that could not be read
  // because of an I/O error may be fine on disk, and its folder is failing anyway.
  std::vector<uint8_t> rebuild(n);
  for (int i = 0; i < n; ++i) {
    ShardRead& r = reads[i];
    if (AcceptShard(r, &good, &blob_length)) continue;
    report.bad_shards.push_back({i, placement_.FolderOf(id, i), r.status, r.corrupt});
    missing += r.status.code() == ENOENT;
    rebuild[i] = r.corrupt || r.status.code() == ENOENT;
  }
  for (const ShardRead& r : reads) report.bytes_read += r.file.size;
  counters_.bytes_read += report.bytes_read;
  if (report.bad_shards.empty() || !rewrite) return report;
  if (good < k) {
    const bool gone = good == 0 && missing == static_cast<int>(report.bad_shards.size());
    return Status::Error(gone ? ENOENT : EIO,
                         "blob " + id.ToHex() + ": cannot repair, only " + std::to_string(good) +
                             " of the " + std::to_string(k) +
                             " shards needed are readable: " + DescribeProblems(report.bad_shards));
  }
  const uint64_t s = ShardLength(blob_length, k);
  ShardImages rebuilt(s, n);
  std::vector<uint8_t*> shards;
  SOPFS_RETURN_IF_ERROR(RebuildShards(CodecFor(layout), s, reads, rebuild, rebuilt, shards));
  std::vector<ShardWrite> writes;
  std::vector<BlobId> ids;
  for (int i = 0; i < n; ++i) {
    if (!rebuild[i]) continue;
    rebuilt.Seal(id, layout, blob_length, i);
    writes.push_back(rebuilt.Write(i, placement_.PathOf(id, i), false));
    writes.back().replace = true;
    ids.push_back(id);
  }
  WriteShardSet(writes, ids);
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
  ForgetDeferred(id);
  Status first_failure;
  for (int i = 0; i < layout.total(); ++i) {
    Status st = env_->Unlink(placement_.PathOf(id, i));
    if (!st.ok() && st.code() != ENOENT && first_failure.ok()) first_failure = st;
  }
  return first_failure;
}

Status BlobStore::RemoveDurably(std::span<const BlobId> ids, ErasureLayout layout) {
  SOPFS_RETURN_IF_ERROR(layout.Validate(folder_count()));
  Status first_failure;
  auto note = [&](const Status& st) {
    if (!st.ok() && st.code() != ENOENT && first_failure.ok()) first_failure = st;
  };
  std::set<std::string> dirs;
  for (const BlobId& id : ids) {
    ForgetDeferred(id);
    for (int i = 0; i < layout.total(); ++i) {
      Status st = env_->Unlink(placement_.PathOf(id, i));
      note(st);
      if (st.ok()) dirs.insert(placement_.DirOf(id, i));
    }
  }
  // In bounded groups: a big removal touches more directories than a process may open.
  constexpr size_t kDirsPerGroup = 64;
  std::vector<std::string> pending(dirs.begin(), dirs.end());
  for (size_t begin = 0; begin < pending.size(); begin += kDirsPerGroup) {
    const size_t end = std::min(pending.size(), begin + kDirsPerGroup);
    std::vector<std::unique_ptr<File>> files;
    std::vector<IoOp> syncs;
    for (size_t i = begin; i < end; ++i) {
      auto file = env_->Open(pending[i], {.mode = OpenMode::kDirectory});
      if (!file.ok()) {
        note(file.status());
        continue;
      }
      files.push_back(std::move(*file));
      syncs.push_back({.kind = IoKind::kFsync, .file = files.back().get()});
    }
    note(env_->Submit(syncs));
    for (const IoOp& op : syncs) {
      if (!op.Complete()) {
        note(Status::Error(op.result < 0 ? static_cast<int>(-op.result) : EIO,
                           "flushing " + op.file->path() + " after removing blobs"));
      }
    }
  }
  return first_failure;
}

}  // namespace sopfs
