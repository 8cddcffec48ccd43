// TxnRecord's codec (engine/txn/txn_record.h): records of format versions 1 and 2 keep
// their bytes exactly (logs written before read the same), every kind with every field
// round-trips in format version 3, and damaged records (cut, a byte flipped, lengths
// past their limits, a cluster kind in an old format) are refused with EIO without
// reading out of bounds (run under the sanitizer build too). A standalone log refuses a
// cluster-only kind by name at recovery.
#include "engine/txn/txn_record.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "engine/io/fault_env.h"
#include "engine/txn/commit_log.h"
#include "tests/engine/engine_test_util.h"

namespace sopfs {
namespace {

using Kind = TxnRecord::Kind;
using testing::EngineOptionsUnder;

std::string Hex(const std::string& s) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    out += kDigits[c >> 4];
    out += kDigits[c & 15];
  }
  return out;
}

// A commit with every list of format version 1 filled.
TxnRecord OldCommit() {
  TxnRecord rec;
  rec.kind = Kind::kCommit;
  rec.stamp = 0x0102030405060708;
  rec.fence = 9;
  rec.next_id = 10;
  rec.trees = {3};
  RegistryEntry e;
  e.blob = BlobId{0x11, 0x22};
  e.version = 5;
  e.flags = RegistryEntry::kInUse;
  e.slot = 2;
  rec.updates = {{42, e}};
  rec.blobs = {BlobId{1, 2}};
  rec.frees = {BlobId{3, 4}};
  rec.released = {BlobId{5, 6}};
  return rec;
}

constexpr Kind kAllKinds[] = {
    Kind::kPrepare,      Kind::kCommit,          Kind::kCarry,         Kind::kSegmentRefs,
    Kind::kSessionBegin, Kind::kSessionEnd,      Kind::kRecovered,     Kind::kAllocate,
    Kind::kEpoch,        Kind::kCheckpointBegin, Kind::kCheckpointEnd,
};

// A record of `kind` with every field it can encode set (the codec checks structure,
// not which kind uses which field).
TxnRecord Full(Kind kind) {
  TxnRecord rec = OldCommit();
  rec.kind = kind;
  if (kind == Kind::kSegmentRefs) {
    rec.part = 1;
    rec.parts = 3;
    rec.segment_refs = {{BlobId{9, 10}, 3}, {BlobId{11, 12}, 1}};
  }
  if (kind == Kind::kCommit || kind == Kind::kCarry) {
    rec.carried.push_back({BlobId{7, 8}, ErasureLayout{2, 1}, "ab"});
  }
  rec.session = "host-a-1234";
  rec.fences = {{"tree:3", (uint64_t{2} << 40) | 17}, {"", 0}, {"inode:99", 1}};
  rec.notes = std::string("\0notes\xff", 7);
  rec.subject = "host-b-77";
  rec.space = TxnRecord::IdSpace::kInodes;
  rec.range_first = 65536;
  rec.range_count = 65536;
  rec.number = 12;
  return rec;
}

void ExpectRoundTrip(const TxnRecord& rec) {
  const std::string bytes = rec.Encode();
  Result<TxnRecord> back = TxnRecord::Decode(bytes);
  ASSERT_TRUE(back.ok()) << TxnRecord::KindName(rec.kind) << ": " << back.status().ToString();
  EXPECT_EQ(*back, rec) << TxnRecord::KindName(rec.kind);
}

// The expected bytes were produced by the encoder before format version 3 existed
// (commit 445ebe5): old logs must read, and standalone logs be written, the same.
TEST(TxnRecordFormatTest, TxnRecordOldFormatsKeepTheirBytes) {
  TxnRecord commit = OldCommit();
  EXPECT_EQ(Hex(commit.Encode()),
            "0201080706050403020109000000000000000a0000000000000001000000030000000000000001000000"
            "2a0000000000000011000000000000002200000000000000050000000000000001000000020000000100"
            "000001000000000000000200000000000000010000000300000000000000040000000000000001000000"
            "05000000000000000600000000000000");
  ExpectRoundTrip(commit);
  commit.carried.push_back({BlobId{7, 8}, ErasureLayout{2, 1}, "ab"});
  EXPECT_EQ(Hex(commit.Encode()),
            "0202080706050403020109000000000000000a0000000000000001000000030000000000000001000000"
            "2a0000000000000011000000000000002200000000000000050000000000000001000000020000000100"
            "000001000000000000000200000000000000010000000300000000000000040000000000000001000000"
            "050000000000000006000000000000000100000007000000000000000800000000000000020102000000"
            "6162");
  ExpectRoundTrip(commit);
  TxnRecord refs;
  refs.kind = Kind::kSegmentRefs;
  refs.part = 1;
  refs.parts = 2;
  refs.segment_refs = {{BlobId{9, 10}, 3}};
  EXPECT_EQ(Hex(refs.Encode()),
            "040100000000000000000000000000000000000000000000000000000000000000000000000000000000"
            "0000000001000000020000000100000009000000000000000a0000000000000003000000");
  ExpectRoundTrip(refs);
  TxnRecord prepare;
  prepare.blobs = {BlobId{1, 1}};
  EXPECT_EQ(Hex(prepare.Encode()),
            "010100000000000000000000000000000000000000000000000000000000000000000100000001000000"
            "0000000001000000000000000000000000000000");
  ExpectRoundTrip(prepare);
}

TEST(TxnRecordFormatTest, TxnRecordEveryKindRoundTripsWithEveryField) {
  for (Kind kind : kAllKinds) {
    const TxnRecord rec = Full(kind);
    EXPECT_EQ(rec.Encode()[1], TxnRecord::kClusterFormatVersion) << TxnRecord::KindName(kind);
    ExpectRoundTrip(rec);
    // A cluster kind alone, with nothing else set, is version 3 too.
    TxnRecord bare;
    bare.kind = kind;
    if (kind == Kind::kSegmentRefs) bare.parts = 1;  // part 0 of 0 is refused
    EXPECT_EQ(bare.Encode()[1], TxnRecord::ClusterOnly(kind) ? TxnRecord::kClusterFormatVersion
                                                             : TxnRecord::kFormatVersion)
        << TxnRecord::KindName(kind);
    ExpectRoundTrip(bare);
  }
}

TEST(TxnRecordFormatTest, TxnRecordAnyClusterFieldMakesFormatVersion3) {
  using Set = void (*)(TxnRecord&);
  const Set setters[] = {
      [](TxnRecord& r) { r.session = "s"; },
      [](TxnRecord& r) {
        r.fences = {{"k", 0}};
      },
      [](TxnRecord& r) { r.notes = "n"; },
      [](TxnRecord& r) { r.subject = "s"; },
      [](TxnRecord& r) { r.space = TxnRecord::IdSpace::kLogicalIds; },
      [](TxnRecord& r) { r.range_first = 1; },
      [](TxnRecord& r) { r.range_count = 1; },
      [](TxnRecord& r) { r.number = 1; },
  };
  for (size_t i = 0; i < std::size(setters); ++i) {
    for (bool carrying : {false, true}) {
      TxnRecord rec = OldCommit();
      if (carrying) rec.carried.push_back({BlobId{7, 8}, ErasureLayout{1, 0}, "x"});
      setters[i](rec);
      EXPECT_EQ(rec.Encode()[1], TxnRecord::kClusterFormatVersion) << i;
      ExpectRoundTrip(rec);  // a v3 commit carrying nothing has a carried count of 0
    }
  }
}

TEST(TxnRecordFormatTest, TxnRecordEveryCutOfAVersion3RecordIsRefused) {
  for (Kind kind : kAllKinds) {
    const std::string bytes = Full(kind).Encode();
    for (size_t cut = 0; cut < bytes.size(); ++cut) {
      EXPECT_EQ(TxnRecord::Decode(bytes.substr(0, cut)).status().code(), EIO)
          << TxnRecord::KindName(kind) << " cut to " << cut;
    }
    EXPECT_EQ(TxnRecord::Decode(bytes + '\0').status().code(), EIO) << "trailing byte";
  }
}

// Every byte flipped in several ways: refused with EIO, or read into a record that
// encodes back to exactly those bytes (one encoding per record: nothing was misread).
TEST(TxnRecordFormatTest, TxnRecordFlippedBytesAreRefusedOrReadExactly) {
  for (Kind kind : kAllKinds) {
    const std::string bytes = Full(kind).Encode();
    for (size_t at = 0; at < bytes.size(); ++at) {
      for (uint8_t flip : {0x01, 0x02, 0x10, 0x80, 0xff}) {
        std::string damaged = bytes;
        damaged[at] = static_cast<char>(damaged[at] ^ flip);
        Result<TxnRecord> rec = TxnRecord::Decode(damaged);
        if (rec.ok()) {
          EXPECT_EQ(rec->Encode(), damaged) << TxnRecord::KindName(kind) << " byte " << at;
        } else {
          EXPECT_EQ(rec.status().code(), EIO);
        }
      }
    }
  }
}

// Lengths the reader must not trust: each string at its limit reads, one byte more is
// refused (and Fits() says so before writing); a huge length is refused, not allocated.
TEST(TxnRecordFormatTest, TxnRecordStringsPastTheirLimitsAreRefused) {
  using Set = void (*)(TxnRecord&, size_t);
  const std::pair<Set, size_t> fields[] = {
      {[](TxnRecord& r, size_t n) { r.session.assign(n, 's'); }, TxnRecord::kMaxNameBytes},
      {[](TxnRecord& r, size_t n) { r.subject.assign(n, 's'); }, TxnRecord::kMaxNameBytes},
      {[](TxnRecord& r, size_t n) {
         r.fences = {{std::string(n, 'k'), 1}};
       },
       TxnRecord::kMaxNameBytes},
      {[](TxnRecord& r, size_t n) { r.notes.assign(n, 'n'); }, TxnRecord::kMaxNotesBytes},
  };
  for (size_t i = 0; i < std::size(fields); ++i) {
    TxnRecord rec;
    rec.kind = Kind::kCommit;
    fields[i].first(rec, fields[i].second);
    EXPECT_TRUE(rec.Fits().ok()) << i;
    ExpectRoundTrip(rec);
    fields[i].first(rec, fields[i].second + 1);
    EXPECT_EQ(rec.Fits().code(), EINVAL) << i;
    EXPECT_EQ(TxnRecord::Decode(rec.Encode()).status().code(), EIO) << i;
  }
  // The session length of a v3 prepare (after the fixed part and five empty lists) set
  // to 4 GiB - 1: refused without allocating it.
  TxnRecord rec;
  rec.kind = Kind::kEpoch;
  std::string bytes = rec.Encode();
  const size_t session_at = 2 + 3 * 8 + 5 * 4;
  ASSERT_EQ(bytes.substr(session_at, 4), std::string(4, '\0'));
  bytes.replace(session_at, 4, std::string(4, '\xff'));
  EXPECT_EQ(TxnRecord::Decode(bytes).status().code(), EIO);
}

TEST(TxnRecordFormatTest, TxnRecordUnknownKindsVersionsAndSpacesAreRefused) {
  // A cluster kind in a record of version 1 (a prepare) or 2 (a carrying commit).
  TxnRecord carrying = OldCommit();
  carrying.carried.push_back({BlobId{7, 8}, ErasureLayout{1, 0}, "x"});
  for (const std::string& old : {TxnRecord().Encode(), carrying.Encode()}) {
    for (int kind = 5; kind <= 11; ++kind) {
      std::string bytes = old;
      bytes[0] = static_cast<char>(kind);
      Result<TxnRecord> rec = TxnRecord::Decode(bytes);
      EXPECT_EQ(rec.status().code(), EIO) << kind;
      EXPECT_NE(rec.status().message().find("cluster kind in an old format"), std::string::npos)
          << rec.status().message();
    }
  }
  const std::string v3 = Full(Kind::kEpoch).Encode();
  for (int kind : {0, 12, 255}) {
    std::string bytes = v3;
    bytes[0] = static_cast<char>(kind);
    EXPECT_EQ(TxnRecord::Decode(bytes).status().code(), EIO) << kind;
  }
  for (int version : {0, 4, 255}) {
    std::string bytes = v3;
    bytes[1] = static_cast<char>(version);
    EXPECT_EQ(TxnRecord::Decode(bytes).status().code(), EIO) << version;
  }
  // The ID space byte sits before the three u64s at the end.
  std::string bytes = v3;
  const size_t space_at = bytes.size() - 3 * 8 - 1;
  ASSERT_EQ(bytes[space_at], static_cast<char>(TxnRecord::IdSpace::kInodes));
  bytes[space_at] = 3;
  EXPECT_EQ(TxnRecord::Decode(bytes).status().code(), EIO);
  EXPECT_EQ(TxnRecord::KindName(Kind::kCheckpointEnd), "kCheckpointEnd");
  EXPECT_EQ(TxnRecord::KindName(static_cast<Kind>(42)), "kind 42");
}

// A standalone log never holds a cluster-only kind: recovery refuses one, naming it,
// rather than skipping it as it would an unknown prepare.
TEST(TxnRecordFormatTest, TxnStandaloneRecoveryRefusesAClusterKind) {
  for (Kind kind : {Kind::kEpoch, Kind::kAllocate, Kind::kSessionEnd}) {
    FaultEnv env;
    EngineOptions options = EngineOptionsUnder("/vol");
    {
      auto engine = Engine::Open(&env, options);
      ASSERT_TRUE(engine.ok()) << engine.status().ToString();
    }
    {
      auto log = CommitLog::Open(&env, options.log_folder);
      ASSERT_TRUE(log.ok()) << log.status().ToString();
      TxnRecord rec;
      rec.kind = kind;
      rec.number = 2;
      ASSERT_TRUE((*log)->Append(rec.Encode()).ok());
    }
    auto engine = Engine::Open(&env, options);
    ASSERT_FALSE(engine.ok());
    EXPECT_EQ(engine.status().code(), EIO);
    EXPECT_NE(engine.status().message().find(TxnRecord::KindName(kind)), std::string::npos)
        << engine.status().message();
  }
}

}  // namespace
}  // namespace sopfs
