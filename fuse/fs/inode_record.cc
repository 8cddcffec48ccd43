#include "fuse/fs/inode_record.h"

#include <time.h>

#include <cstring>

namespace sopfs {
namespace {

constexpr uint8_t kRecordFormat = 1;

template <class T>
void Put(std::string& out, T v) {
  char bytes[sizeof(T)];
  std::memcpy(bytes, &v, sizeof(T));
  out.append(bytes, sizeof(T));
}

void PutString(std::string& out, std::string_view s) {
  Put<uint32_t>(out, static_cast<uint32_t>(s.size()));
  out.append(s);
}

// Reads fields in order; any read past the end marks the whole decode as failed.
class Reader {
 public:
  explicit Reader(std::string_view bytes) : bytes_(bytes) {}
  template <class T>
  T Get() {
    T v{};
    if (bytes_.size() < sizeof(T)) {
      failed_ = true;
      return v;
    }
    std::memcpy(&v, bytes_.data(), sizeof(T));
    bytes_.remove_prefix(sizeof(T));
    return v;
  }
  std::string GetString() {
    const uint32_t n = Get<uint32_t>();
    if (failed_ || bytes_.size() < n) {
      failed_ = true;
      return {};
    }
    std::string s(bytes_.substr(0, n));
    bytes_.remove_prefix(n);
    return s;
  }
  bool ok() const { return !failed_ && bytes_.empty(); }
  bool more() const { return !failed_ && !bytes_.empty(); }

 private:
  std::string_view bytes_;
  bool failed_ = false;
};

}  // namespace

std::string InodeRecord::Encode() const {
  std::string out;
  out.reserve(96 + symlink.size());
  Put<uint8_t>(out, kRecordFormat);
  Put(out, mode);
  Put(out, uid);
  Put(out, gid);
  Put(out, nlink);
  Put(out, rdev);
  Put(out, size);
  Put(out, stored_chunks);
  Put(out, atime_ns);
  Put(out, mtime_ns);
  Put(out, ctime_ns);
  Put(out, version);
  PutString(out, symlink);
  Put<uint32_t>(out, static_cast<uint32_t>(xattrs.size()));
  for (const auto& [name, value] : xattrs) {
    PutString(out, name);
    PutString(out, value);
  }
  if (store != 0 || intent_seq != 0) Put(out, store);
  if (intent_seq != 0) Put(out, intent_seq);
  return out;
}

Result<InodeRecord> InodeRecord::Decode(std::string_view bytes, uint64_t ino) {
  Reader in(bytes);
  InodeRecord r;
  const uint8_t format = in.Get<uint8_t>();
  r.mode = in.Get<uint32_t>();
  r.uid = in.Get<uint32_t>();
  r.gid = in.Get<uint32_t>();
  r.nlink = in.Get<uint32_t>();
  r.rdev = in.Get<uint64_t>();
  r.size = in.Get<uint64_t>();
  r.stored_chunks = in.Get<uint64_t>();
  r.atime_ns = in.Get<int64_t>();
  r.mtime_ns = in.Get<int64_t>();
  r.ctime_ns = in.Get<int64_t>();
  r.version = in.Get<uint64_t>();
  r.symlink = in.GetString();
  const uint32_t nx = in.Get<uint32_t>();
  for (uint32_t i = 0; i < nx && i < (1u << 16); ++i) {
    std::string name = in.GetString();
    r.xattrs[std::move(name)] = in.GetString();
  }
  if (in.more()) r.store = in.Get<uint32_t>();
  if (in.more()) r.intent_seq = in.Get<uint64_t>();
  if (format != kRecordFormat || !in.ok()) {
    return Status::Error(EIO, "inode " + std::to_string(ino) + ": record is damaged");
  }
  return r;
}

int64_t NowNs() {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

void AppendBigEndian64(std::string& out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>(v >> shift));
}

uint64_t ReadBigEndian64(std::string_view bytes) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8 && i < bytes.size(); ++i) {
    v = (v << 8) | static_cast<uint8_t>(bytes[i]);
  }
  return v;
}

std::string InodeKey(uint64_t ino) {
  std::string key;
  AppendBigEndian64(key, ino);
  return key;
}

std::string OrphanPrefix() { return std::string(8, '\xff'); }

std::string OrphanKey(uint64_t ino) {
  std::string key = OrphanPrefix();
  AppendBigEndian64(key, ino);
  return key;
}

std::string DirPrefix(uint64_t parent) { return InodeKey(parent); }

std::string DirEntryKey(uint64_t parent, std::string_view name) {
  std::string key = DirPrefix(parent);
  key.append(name);
  return key;
}

std::string EncodeNameEntry(const NameEntry& entry) {
  std::string out;
  Put(out, entry.ino);
  Put(out, entry.type);
  return out;
}

std::optional<NameEntry> DecodeNameEntry(std::string_view bytes) {
  Reader in(bytes);
  NameEntry e;
  e.ino = in.Get<uint64_t>();
  e.type = in.Get<uint32_t>();
  if (!in.ok()) return std::nullopt;
  return e;
}

}  // namespace sopfs
