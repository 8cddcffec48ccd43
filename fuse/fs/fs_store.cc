#include "fuse/fs/fs_store.h"

#include <cstdio>

#include "fuse/fs/inode_record.h"
#include "fuse/volume/layout_arg.h"
#include "fuse/volume/size_arg.h"
#include "streaming/chunk_file.h"

namespace sopfs {
namespace {

constexpr std::string_view kStorePrefix = "store/";

std::string StoreKey(uint32_t id) {
  std::string key(kStorePrefix);
  for (int shift = 24; shift >= 0; shift -= 8) key.push_back(static_cast<char>(id >> shift));
  return key;
}

// chunk tree (8) | chunk size (4) | k (1) | m (1) | first folder (1) | folders (1, 0: all)
// | name
std::string EncodeStore(const FsStore& s) {
  std::string out;
  AppendBigEndian64(out, s.chunk_tree);
  for (int shift = 24; shift >= 0; shift -= 8) {
    out.push_back(static_cast<char>(s.chunk_size >> shift));
  }
  out.push_back(static_cast<char>(s.layout->k));
  out.push_back(static_cast<char>(s.layout->m));
  out.push_back(static_cast<char>(s.folders.first));
  out.push_back(static_cast<char>(s.folders.count));
  out += s.name;
  return out;
}

Result<FsStore> DecodeStore(std::string_view key, std::string_view bytes) {
  if (key.size() != kStorePrefix.size() + 4 || bytes.size() < 16) {
    return Status::Error(EIO, "volume tree: a store record is damaged");
  }
  FsStore s;
  for (size_t i = kStorePrefix.size(); i < key.size(); ++i) {
    s.id = s.id << 8 | static_cast<uint8_t>(key[i]);
  }
  s.chunk_tree = ReadBigEndian64(bytes.substr(0, 8));
  for (size_t i = 8; i < 12; ++i) s.chunk_size = s.chunk_size << 8 | static_cast<uint8_t>(bytes[i]);
  s.layout =
      ErasureLayout{.k = static_cast<uint8_t>(bytes[12]), .m = static_cast<uint8_t>(bytes[13])};
  s.folders = {.first = static_cast<uint8_t>(bytes[14]), .count = static_cast<uint8_t>(bytes[15])};
  s.name = std::string(bytes.substr(16));
  if (s.chunk_tree == 0 || s.chunk_size == 0 || s.layout->k == 0) {
    return Status::Error(EIO, "volume tree: store " + std::to_string(s.id) + " record is damaged");
  }
  return s;
}

}  // namespace

std::string StoreSpec::ToString() const {
  std::string size = std::to_string(chunk_size);
  if (chunk_size % (1u << 20) == 0) {
    size = std::to_string(chunk_size >> 20) + "M";
  } else if (chunk_size % 1024 == 0) {
    size = std::to_string(chunk_size >> 10) + "K";
  }
  return layout.ToString() + ":" + size + (folders.all() ? "" : "@" + folders.ToString());
}

Result<StoreSpec> ParseStoreSpec(std::string_view text, uint32_t default_chunk, int folders) {
  std::string s(text);
  const auto bad = [&] {
    return Status::Error(EINVAL, "store layout '" + std::string(text) +
                                     "': expected K+M[:CHUNKSIZE][@FIRST-LAST] (8+3:4M@0-10)");
  };
  FolderSpan span;
  if (const size_t at = s.find('@'); at != std::string::npos) {
    int first = -1, last = -1;
    char dash = 0, extra = 0;
    if (std::sscanf(s.c_str() + at + 1, "%d%c%d%c", &first, &dash, &last, &extra) != 3 ||
        dash != '-' || first < 0 || last < first) {
      return bad();
    }
    span = {.first = first, .count = last - first + 1};
    s.resize(at);
  }
  const size_t colon = s.find(':');
  std::optional<ErasureLayout> layout = ParseLayout(s.substr(0, colon));
  if (!layout) return bad();
  SOPFS_RETURN_IF_ERROR(layout->Validate(folders));
  SOPFS_RETURN_IF_ERROR(span.Validate(folders, *layout));
  if (span.count == folders) span = {};  // every folder: the same as none given
  StoreSpec spec{*layout, default_chunk, span};
  if (colon != std::string::npos) {
    std::optional<uint64_t> size = ParseSize(s.substr(colon + 1));
    if (!size || *size < (64u << 10) || *size > (64u << 20) || (*size & (*size - 1)) != 0) {
      return Status::Error(EINVAL, "store chunk size '" + s.substr(colon + 1) +
                                       "': must be a power of two from 64K to 64M");
    }
    spec.chunk_size = static_cast<uint32_t>(*size);
  }
  return spec;
}

BtreeOptions FsStore::chunk_options() const {
  BtreeOptions options = ChunkFile::TreeOptions();
  options.value_layout = layout;
  options.value_folders = folders;
  return options;
}

Result<std::vector<FsStore>> ReadStores(TxnTree& volume) {
  std::vector<FsStore> stores;
  auto cursor = volume.NewCursor();
  SOPFS_RETURN_IF_ERROR(cursor->Seek(kStorePrefix));
  for (; cursor->Valid() && cursor->key().starts_with(kStorePrefix);) {
    Result<std::string> value = cursor->value();
    if (!value.ok()) return value.status();
    Result<FsStore> store = DecodeStore(cursor->key(), *value);
    if (!store.ok()) return store.status();
    stores.push_back(std::move(*store));
    SOPFS_RETURN_IF_ERROR(cursor->Next());
  }
  return stores;
}

Result<FsStore> CreateStore(Transaction& txn, LogicalId volume_tree, const StoreSpec& spec,
                            std::string_view name) {
  Result<TxnTree*> volume = txn.Tree(volume_tree);
  if (!volume.ok()) return volume.status();
  Result<std::vector<FsStore>> existing = ReadStores(**volume);
  if (!existing.ok()) return existing.status();
  FsStore store;
  store.id = existing->empty() ? 1 : existing->back().id + 1;
  store.name = std::string(name);
  store.chunk_size = spec.chunk_size;
  store.layout = spec.layout;
  store.folders = spec.folders;
  Result<LogicalId> tree = txn.CreateTree(store.chunk_options());
  if (!tree.ok()) return tree.status();
  store.chunk_tree = *tree;
  SOPFS_RETURN_IF_ERROR((*volume)->Add(StoreKey(store.id), EncodeStore(store)));
  return store;
}

}  // namespace sopfs
