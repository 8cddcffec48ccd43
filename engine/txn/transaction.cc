#include "engine/txn/transaction.h"

#include <algorithm>
#include <cstring>
#include <utility>

namespace sopfs {

// The NodeStore a transaction reads its snapshot through (read-only): committed nodes
// as of the snapshot, the empty roots of trees the transaction created, and its own
// staged values. While a cursor moves it records the versions of the nodes it loads.
class SnapshotStore : public ReadOnlyNodeStore {
 public:
  explicit SnapshotStore(Transaction* txn) : txn_(txn) {}

  Result<std::shared_ptr<const BtreeNode>> Load(LogicalId id) override {
    auto tree = txn_->trees_.find(id);
    if (tree != txn_->trees_.end() && tree->second->created_) {
      auto root = std::make_shared<BtreeNode>();
      root->id = id;
      return std::shared_ptr<const BtreeNode>(std::move(root));
    }
    RegistryEntry entry;
    auto node = txn_->engine_->LoadNode(id, txn_->snapshot_, &entry);
    if (node.ok() && txn_->tracking_) {
      txn_->tracking_tree_->scanned_nodes_.try_emplace(id, entry.version);
    }
    return node;
  }
  Result<std::string> LoadValue(LogicalId id) override {
    auto staged = txn_->staged_values_.find(id);
    auto value = staged != txn_->staged_values_.end()
                     ? txn_->engine_->LoadValueBlob(staged->second.blob, staged->second.layout)
                     : txn_->engine_->LoadValue(id, txn_->snapshot_);
    if (!value.ok()) return value.status();
    return **value;
  }

 private:
  Transaction* txn_;
};

// --- TxnTree ---

TxnTree::TxnTree(Transaction* txn, LogicalId root, BtreeOptions options, bool created)
    : txn_(txn),
      root_(root),
      options_(options),
      created_(created),
      base_(txn->store_.get(), root, options),
      overlay_(OverlayLess{options.compare}),
      versions_(OverlayLess{options.compare}) {}

Result<std::optional<OverlayEntry>> TxnTree::Current(std::string_view key) {
  SOPFS_RETURN_IF_ERROR(txn_->CheckOpen());
  if (key.size() > Btree::kMaxKeyLength) {
    return Status::Error(EINVAL, "key of " + std::to_string(key.size()) + " bytes is longer than " +
                                     std::to_string(Btree::kMaxKeyLength));
  }
  auto pending = overlay_.find(key);
  if (pending != overlay_.end()) {
    if (!pending->second.present) return std::optional<OverlayEntry>();
    return std::optional<OverlayEntry>(pending->second);
  }
  if (created_) return std::optional<OverlayEntry>();
  Result<BtreeItem> item = base_.FindItem(key);
  if (!item.ok()) {
    if (item.status().code() != ENOENT) return item.status();
    versions_.try_emplace(std::string(key), 0);
    return std::optional<OverlayEntry>();
  }
  versions_.try_emplace(std::string(key), item->version);
  return std::optional<OverlayEntry>(OverlayEntry{true, std::move(item->value), item->value_blob});
}

void TxnTree::Unwatch(std::string_view key) {
  auto it = versions_.find(key);
  if (it != versions_.end()) versions_.erase(it);
}

Status TxnTree::Write(std::string_view key, std::optional<std::string_view> value,
                      const BlobId* staged_blob, Placement placement) {
  OverlayEntry entry;
  if (staged_blob != nullptr) {
    entry.present = true;
    entry.value_blob = txn_->engine_->AllocateId();
    txn_->staged_values_[entry.value_blob] = {*staged_blob, txn_->engine_->ValueLayout(options_)};
  } else if (value) {
    entry.present = true;
    const bool own_blob = !options_.values_in_node || value->size() > options_.value_blob_threshold;
    if (placement == Placement::kByOptions && own_blob) {
      const ErasureLayout layout = txn_->engine_->ValueLayout(options_);
      Result<BlobId> blob = txn_->engine_->StageValue(*value, layout, options_.value_folders);
      if (!blob.ok()) return blob.status();
      entry.value_blob = txn_->engine_->AllocateId();
      txn_->staged_values_[entry.value_blob] = {*blob, layout};
    } else {
      entry.value.assign(*value);
    }
  }
  auto it = overlay_.find(key);
  if (it == overlay_.end()) {
    overlay_.emplace(std::string(key), std::move(entry));
    return Status::Ok();
  }
  // A value this transaction staged and now replaces will never be committed.
  auto staged = txn_->staged_values_.find(it->second.value_blob);
  if (it->second.value_blob != 0 && staged != txn_->staged_values_.end()) {
    txn_->engine_->Discard({&staged->second.blob, 1});
    txn_->staged_values_.erase(staged);
  }
  it->second = std::move(entry);
  return Status::Ok();
}

Status TxnTree::Add(std::string_view key, std::string_view value) {
  SOPFS_RETURN_IF_ERROR(txn_->CheckWritable());
  auto current = Current(key);
  if (!current.ok()) return current.status();
  if (*current) return Status::Error(EEXIST, "key already exists");
  return Write(key, value);
}

Result<bool> TxnTree::AddIfNotExist(std::string_view key, std::string_view value) {
  SOPFS_RETURN_IF_ERROR(txn_->CheckWritable());
  auto current = Current(key);
  if (!current.ok()) return current.status();
  if (*current) return false;
  SOPFS_RETURN_IF_ERROR(Write(key, value));
  return true;
}

Status TxnTree::Update(std::string_view key, std::string_view value) {
  SOPFS_RETURN_IF_ERROR(txn_->CheckWritable());
  auto current = Current(key);
  if (!current.ok()) return current.status();
  if (!*current) return Status::Error(ENOENT, "key not found");
  return Write(key, value);
}

Status TxnTree::Upsert(std::string_view key, std::string_view value) {
  SOPFS_RETURN_IF_ERROR(txn_->CheckWritable());
  auto current = Current(key);
  if (!current.ok()) return current.status();
  return Write(key, value);
}

Status TxnTree::Remove(std::string_view key) {
  SOPFS_RETURN_IF_ERROR(txn_->CheckWritable());
  auto current = Current(key);
  if (!current.ok()) return current.status();
  if (!*current) return Status::Error(ENOENT, "key not found");
  return Write(key, std::nullopt);
}

Result<BlobId> TxnTree::StageBlob(std::string_view bytes, Room room) {
  return txn_->engine_->StageValue(bytes, txn_->engine_->ValueLayout(options_),
                                   options_.value_folders, room);
}

Result<std::vector<BlobId>> TxnTree::StageBlobs(std::span<const std::string_view> values,
                                                Room room) {
  return txn_->engine_->StageValues(values, txn_->engine_->ValueLayout(options_),
                                    options_.value_folders, room);
}

Status TxnTree::UpsertStaged(std::string_view key, const BlobId& blob) {
  Status st = txn_->CheckWritable();
  if (st.ok()) {
    auto current = Current(key);
    st = current.ok() ? Write(key, std::nullopt, &blob) : current.status();
  }
  if (!st.ok()) txn_->engine_->Discard({&blob, 1});  // nobody else will own it
  return st;
}

Status TxnTree::UpsertInNode(std::string_view key, std::string_view value) {
  SOPFS_RETURN_IF_ERROR(txn_->CheckWritable());
  auto current = Current(key);
  if (!current.ok()) return current.status();
  return Write(key, value, nullptr, Placement::kInNode);
}

Status TxnTree::Erase(std::string_view key) {
  SOPFS_RETURN_IF_ERROR(txn_->CheckWritable());
  auto current = Current(key);
  if (!current.ok()) return current.status();
  return Write(key, std::nullopt);
}

Result<std::string> TxnTree::Find(std::string_view key) {
  auto current = Current(key);
  if (!current.ok()) return current.status();
  if (!*current) return Status::Error(ENOENT, "key not found");
  if ((*current)->value_blob == 0) return std::move((*current)->value);
  return txn_->store_->LoadValue((*current)->value_blob);
}

Result<size_t> TxnTree::ReadValue(std::string_view key, uint64_t offset, std::span<uint8_t> out) {
  auto current = Current(key);
  if (!current.ok()) return current.status();
  if (!*current) return Status::Error(ENOENT, "key not found");
  const OverlayEntry& entry = **current;
  if (entry.value_blob == 0) {
    if (offset >= entry.value.size()) return size_t{0};
    const size_t n = std::min<size_t>(out.size(), entry.value.size() - offset);
    std::memcpy(out.data(), entry.value.data() + offset, n);
    return n;
  }
  auto staged = txn_->staged_values_.find(entry.value_blob);
  if (staged != txn_->staged_values_.end()) {
    return txn_->engine_->ReadValueBlob(staged->second.blob, staged->second.layout, offset, out);
  }
  Result<RegistryEntry> where = txn_->engine_->entries_->Get(entry.value_blob, txn_->snapshot_);
  if (!where.ok()) return where.status();
  return txn_->engine_->ReadValueBlob(where->blob, txn_->engine_->LayoutOf(*where), offset, out);
}

std::unique_ptr<TxnCursor> TxnTree::NewCursor() {
  return std::unique_ptr<TxnCursor>(new TxnCursor(this));
}

// --- TxnCursor ---

TxnCursor::TxnCursor(TxnTree* tree) : tree_(tree), cursor_(&tree->base_, &tree->overlay_) {}

template <class F>
Status TxnCursor::Tracked(F move) {
  Transaction* txn = tree_->txn_;
  SOPFS_RETURN_IF_ERROR(txn->CheckOpen());
  txn->tracking_ = tree_->check_ranges_;
  txn->tracking_tree_ = tree_;
  Status st = move();
  txn->tracking_ = false;
  txn->tracking_tree_ = nullptr;
  return st;
}

Status TxnCursor::First() {
  return Tracked([&] { return cursor_.First(); });
}
Status TxnCursor::Last() {
  return Tracked([&] { return cursor_.Last(); });
}
Status TxnCursor::Seek(std::string_view key) {
  return Tracked([&] { return cursor_.Seek(key); });
}
Status TxnCursor::SeekForPrev(std::string_view key) {
  return Tracked([&] { return cursor_.SeekForPrev(key); });
}
Status TxnCursor::Next() {
  return Tracked([&] { return cursor_.Next(); });
}
Status TxnCursor::Prev() {
  return Tracked([&] { return cursor_.Prev(); });
}

Result<std::string> TxnCursor::value() const {
  SOPFS_RETURN_IF_ERROR(tree_->txn_->CheckOpen());
  return cursor_.value();
}

// --- Transaction ---

Transaction::Transaction(Engine* engine, TxnMode mode, uint64_t id)
    : engine_(engine),
      mode_(mode),
      id_(id),
      snapshot_(engine->entries_->Acquire()),
      store_(std::make_unique<SnapshotStore>(this)) {}

Transaction::~Transaction() { Rollback(); }

Status Transaction::CheckOpen() const {
  if (!open_) return Status::Error(EINVAL, "the transaction has ended");
  return Status::Ok();
}

Status Transaction::CheckWritable() const {
  SOPFS_RETURN_IF_ERROR(CheckOpen());
  if (mode_ == TxnMode::kReader) return Status::Error(EROFS, "a reader transaction cannot write");
  return Status::Ok();
}

Result<LogicalId> Transaction::CreateTree(const BtreeOptions& options) {
  SOPFS_RETURN_IF_ERROR(CheckWritable());
  SOPFS_RETURN_IF_ERROR(options.Validate());
  const LogicalId root = engine_->AllocateId();
  trees_[root].reset(new TxnTree(this, root, options, /*created=*/true));
  return root;
}

Result<TxnTree*> Transaction::Tree(LogicalId root, const BtreeOptions& options) {
  SOPFS_RETURN_IF_ERROR(CheckOpen());
  auto it = trees_.find(root);
  if (it != trees_.end()) {
    const BtreeOptions& had = it->second->options_;
    if (had.slot_length != options.slot_length || had.values_in_node != options.values_in_node ||
        had.value_blob_threshold != options.value_blob_threshold) {
      return Status::Error(EINVAL,
                           "tree " + std::to_string(root) + " opened again with other options");
    }
    return it->second.get();
  }
  SOPFS_RETURN_IF_ERROR(options.Validate());
  Result<RegistryEntry> entry = engine_->entries_->Get(root, snapshot_);
  if (!entry.ok()) {
    if (entry.status().code() != ENOENT) return entry.status();
    return Status::Error(ENOENT, "no tree is rooted at " + std::to_string(root));
  }
  auto* tree = new TxnTree(this, root, options, /*created=*/false);
  trees_[root].reset(tree);
  return tree;
}

Status Transaction::Commit() {
  SOPFS_RETURN_IF_ERROR(CheckOpen());
  return engine_->Commit(*this);
}

void Transaction::Rollback() { Finish(false); }

void Transaction::Finish(bool committed) {
  if (!open_) return;
  open_ = false;
  engine_->entries_->Release(snapshot_);
  if (!committed) {
    std::vector<BlobId> unused;
    for (const auto& [id, staged] : staged_values_) unused.push_back(staged.blob);
    engine_->Discard(unused);
  }
  staged_values_.clear();
}

}  // namespace sopfs
