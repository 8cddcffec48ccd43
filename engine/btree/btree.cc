#include "engine/btree/btree.h"

#include <iterator>
#include <optional>
#include <utility>

namespace sopfs {
namespace {

// Deeper than any real tree could be; reaching it means a cycle in a corrupt tree.
constexpr size_t kMaxDepth = 64;

Status Corrupt(LogicalId id, const std::string& what) {
  return Status::Error(EIO, "B-Tree node " + std::to_string(id) + ": " + what);
}

template <class T>
void MoveAppend(std::vector<T>& to, std::vector<T>& from, size_t begin) {
  to.insert(to.end(), std::make_move_iterator(from.begin() + begin),
            std::make_move_iterator(from.end()));
  from.erase(from.begin() + begin, from.end());
}

}  // namespace

// One level of the path from the root to the node an operation works on.
struct Btree::PathStep {
  // As loaded; null once edited (it may be the object the edit was moved out of).
  std::shared_ptr<const BtreeNode> node;
  size_t index = 0;               // the child descended into; at the bottom, the item in question
  std::optional<BtreeNode> edit;  // the changed version, made on the first change

  const BtreeNode& current() const { return edit ? *edit : *node; }
  // On the first change: the node's contents moved out of the store's own object when
  // the store hands it over (O(1)), else a copy. Read the node through current() only.
  BtreeNode& Edit(NodeStore& store) {
    if (!edit) {
      if (std::shared_ptr<BtreeNode> own = store.TakeStaged(node)) {
        edit.emplace(std::move(*own));
      } else {
        edit.emplace(*node);
      }
      node.reset();
    }
    return *edit;
  }
};

Status BtreeOptions::Validate() const {
  if (slot_length < kMinSlotLength || slot_length > kMaxSlotLength) {
    return Status::Error(EINVAL, "B-Tree slot_length " + std::to_string(slot_length) +
                                     " is outside " + std::to_string(kMinSlotLength) + ".." +
                                     std::to_string(kMaxSlotLength));
  }
  return Status::Ok();
}

Result<LogicalId> Btree::Create(NodeStore* store, const BtreeOptions& options) {
  SOPFS_RETURN_IF_ERROR(options.Validate());
  Result<LogicalId> id = store->Allocate();
  if (!id.ok()) return id.status();
  auto root = std::make_shared<BtreeNode>();
  root->id = *id;
  SOPFS_RETURN_IF_ERROR(store->Stage(std::move(root)));
  return *id;
}

Btree::Btree(NodeStore* store, LogicalId root, BtreeOptions options)
    : store_(store),
      root_(root),
      options_(std::move(options)),
      options_status_(options_.Validate()) {}

Status Btree::Add(std::string_view key, std::string_view value) {
  return Put(key, value, PutMode::kAdd).status();
}

Result<bool> Btree::AddIfNotExist(std::string_view key, std::string_view value) {
  return Put(key, value, PutMode::kAddIfNotExist);
}

Status Btree::Update(std::string_view key, std::string_view value) {
  return Put(key, value, PutMode::kUpdate).status();
}

Status Btree::Upsert(std::string_view key, std::string_view value) {
  return Put(key, value, PutMode::kUpsert).status();
}

Result<bool> Btree::UpsertStaged(std::string_view key, std::string_view value,
                                 LogicalId value_blob) {
  return Put(key, value, PutMode::kUpsert, value_blob);
}

Result<std::string> Btree::Find(std::string_view key) const {
  Result<BtreeItem> item = FindItem(key);
  if (!item.ok()) return item.status();
  if (item->value_blob == 0) return std::move(item->value);
  return store_->LoadValue(item->value_blob);
}

Result<BtreeItem> Btree::FindItem(std::string_view key) const {
  SOPFS_RETURN_IF_ERROR(CheckKey(key));
  Path path;
  Result<bool> found = Descend(key, &path);
  if (!found.ok()) return found.status();
  if (!*found) return Status::Error(ENOENT, "key not found");
  return path.back().current().items[path.back().index];
}

Status Btree::CheckKey(std::string_view key) const {
  SOPFS_RETURN_IF_ERROR(options_status_);
  if (key.size() > kMaxKeyLength) {
    return Status::Error(EINVAL, "key of " + std::to_string(key.size()) + " bytes is longer than " +
                                     std::to_string(kMaxKeyLength));
  }
  return Status::Ok();
}

size_t Btree::LowerBound(const BtreeNode& node, std::string_view key, bool* found) const {
  size_t lo = 0, hi = node.items.size();
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = Compare(node.items[mid].key, key);
    if (c == 0) {
      *found = true;
      return mid;
    }
    if (c < 0) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  *found = false;
  return lo;
}

Result<std::shared_ptr<const BtreeNode>> Btree::LoadNode(LogicalId id) const {
  Result<std::shared_ptr<const BtreeNode>> node = store_->Load(id);
  if (!node.ok()) {
    // A node the tree points to must exist; ENOENT from this class means "no such key".
    if (node.status().code() == ENOENT) return Corrupt(id, node.status().message());
    return node.status();
  }
  const BtreeNode* n = node->get();
  if (n == nullptr || n->id != id) return Corrupt(id, "the store returned another node");
  if (!n->leaf() && n->children.size() != n->items.size() + 1) {
    return Corrupt(id, "child count does not match item count");
  }
  if (id != root_ && n->items.empty()) return Corrupt(id, "empty node below the root");
  return node;
}

Result<std::string> Btree::ValueOf(const BtreeItem& item) const {
  if (item.value_blob == 0) return item.value;
  return store_->LoadValue(item.value_blob);
}

Result<bool> Btree::Descend(std::string_view key, Path* path) const {
  path->clear();
  LogicalId id = root_;
  while (true) {
    if (path->size() == kMaxDepth) return Corrupt(root_, "tree deeper than any B-Tree can be");
    Result<std::shared_ptr<const BtreeNode>> node = LoadNode(id);
    if (!node.ok()) return node.status();
    bool found;
    size_t index = LowerBound(**node, key, &found);
    path->push_back(PathStep{std::move(*node), index, std::nullopt});
    const BtreeNode& n = *path->back().node;
    if (found) return true;
    if (n.leaf()) return false;
    id = n.children[index];
  }
}

Result<BtreeItem> Btree::MakeItem(std::string_view key, std::string_view value,
                                  std::optional<LogicalId> staged_blob) {
  BtreeItem item;
  item.key.assign(key);
  item.version = write_version_;
  if (staged_blob) {
    if (*staged_blob != 0) {
      item.value_blob = *staged_blob;
    } else {
      item.value.assign(value);
    }
  } else if (!options_.values_in_node || value.size() > options_.value_blob_threshold) {
    Result<LogicalId> blob = store_->StageValue(value);
    if (!blob.ok()) return blob.status();
    item.value_blob = *blob;
  } else {
    item.value.assign(value);
  }
  return item;
}

std::shared_ptr<BtreeNode> Btree::Mutable(std::shared_ptr<const BtreeNode> node) {
  if (std::shared_ptr<BtreeNode> own = store_->TakeStaged(node)) return own;
  return std::make_shared<BtreeNode>(*node);
}

Result<bool> Btree::Put(std::string_view key, std::string_view value, PutMode mode,
                        std::optional<LogicalId> staged_blob) {
  SOPFS_RETURN_IF_ERROR(CheckKey(key));
  ++generation_;
  Path path;
  Result<bool> found = Descend(key, &path);
  if (!found.ok()) return found.status();
  if (*found) {
    if (mode == PutMode::kAdd) return Status::Error(EEXIST, "key already exists");
    if (mode == PutMode::kAddIfNotExist) return false;
  } else if (mode == PutMode::kUpdate) {
    return Status::Error(ENOENT, "key not found");
  }

  Result<BtreeItem> item = MakeItem(key, value, staged_blob);
  if (!item.ok()) return item.status();
  PathStep& bottom = path.back();
  BtreeNode& node = bottom.Edit(*store_);
  if (*found) {
    // Keep the stored key bytes (a custom comparator may call other bytes equal).
    BtreeItem& slot = node.items[bottom.index];
    const LogicalId old_blob = slot.value_blob;
    const LogicalId new_blob = item->value_blob;
    slot.value = std::move(item->value);
    slot.value_blob = new_blob;
    slot.version = item->version;
    SOPFS_RETURN_IF_ERROR(StageEdited(path));
    if (old_blob != 0 && old_blob != new_blob) {
      SOPFS_RETURN_IF_ERROR(store_->FreeValue(old_blob));
    }
    return false;
  }
  node.items.insert(node.items.begin() + bottom.index, std::move(*item));
  SOPFS_RETURN_IF_ERROR(SplitOverfull(path));
  SOPFS_RETURN_IF_ERROR(StageEdited(path));
  return true;
}

Status Btree::SplitOverfull(Path& path) {
  const size_t max_items = options_.slot_length;
  for (size_t level = path.size() - 1;; --level) {
    if (path[level].current().items.size() <= max_items) return Status::Ok();
    BtreeNode& node = path[level].Edit(*store_);
    if (level == 0) return SplitRoot(node);

    // The node keeps its ID and the lower half; the upper half moves to a new node
    // and the median goes up into the parent between the two.
    Result<LogicalId> right_id = store_->Allocate();
    if (!right_id.ok()) return right_id.status();
    auto right = std::make_shared<BtreeNode>();
    right->id = *right_id;
    size_t mid = node.items.size() / 2;
    MoveAppend(right->items, node.items, mid + 1);
    BtreeItem median = std::move(node.items.back());
    node.items.pop_back();
    if (!node.leaf()) MoveAppend(right->children, node.children, mid + 1);
    SOPFS_RETURN_IF_ERROR(store_->Stage(std::move(right)));

    PathStep& up = path[level - 1];
    BtreeNode& parent = up.Edit(*store_);
    parent.items.insert(parent.items.begin() + up.index, std::move(median));
    parent.children.insert(parent.children.begin() + up.index + 1, *right_id);
  }
}

Status Btree::SplitRoot(BtreeNode& root) {
  Result<LogicalId> left_id = store_->Allocate();
  if (!left_id.ok()) return left_id.status();
  Result<LogicalId> right_id = store_->Allocate();
  if (!right_id.ok()) return right_id.status();
  auto left = std::make_shared<BtreeNode>();
  auto right = std::make_shared<BtreeNode>();
  left->id = *left_id;
  right->id = *right_id;

  size_t mid = root.items.size() / 2;
  MoveAppend(right->items, root.items, mid + 1);
  BtreeItem median = std::move(root.items.back());
  root.items.pop_back();
  MoveAppend(left->items, root.items, 0);
  if (!root.leaf()) {
    MoveAppend(right->children, root.children, mid + 1);
    MoveAppend(left->children, root.children, 0);
  }
  root.items.push_back(std::move(median));
  root.children = {*left_id, *right_id};
  SOPFS_RETURN_IF_ERROR(store_->Stage(std::move(left)));
  return store_->Stage(std::move(right));
}

Status Btree::Remove(std::string_view key) {
  SOPFS_RETURN_IF_ERROR(CheckKey(key));
  ++generation_;
  Path path;
  Result<bool> found = Descend(key, &path);
  if (!found.ok()) return found.status();
  if (!*found) return Status::Error(ENOENT, "key not found");

  const size_t level = path.size() - 1;
  const size_t index = path[level].index;
  const LogicalId old_blob = path[level].current().items[index].value_blob;
  if (path[level].current().leaf()) {
    BtreeNode& node = path[level].Edit(*store_);
    node.items.erase(node.items.begin() + index);
  } else {
    // Put the predecessor (the last item of the left subtree) in the item's place.
    LogicalId id = path[level].current().children[index];
    while (true) {
      if (path.size() == kMaxDepth) return Corrupt(root_, "tree deeper than any B-Tree can be");
      Result<std::shared_ptr<const BtreeNode>> loaded = LoadNode(id);
      if (!loaded.ok()) return loaded.status();
      std::shared_ptr<const BtreeNode> node = std::move(*loaded);
      bool leaf = node->leaf();
      size_t last = leaf ? node->items.size() - 1 : node->children.size() - 1;
      id = leaf ? 0 : node->children.back();
      path.push_back(PathStep{std::move(node), last, std::nullopt});
      if (leaf) break;
    }
    BtreeNode& leaf = path.back().Edit(*store_);
    BtreeItem predecessor = std::move(leaf.items.back());
    leaf.items.pop_back();
    path[level].Edit(*store_).items[index] = std::move(predecessor);
  }
  SOPFS_RETURN_IF_ERROR(Rebalance(path));
  SOPFS_RETURN_IF_ERROR(StageEdited(path));
  if (old_blob != 0) SOPFS_RETURN_IF_ERROR(store_->FreeValue(old_blob));
  return Status::Ok();
}

Status Btree::Rebalance(Path& path) {
  const size_t min_items = options_.slot_length / 2;
  for (size_t level = path.size() - 1; level > 0; --level) {
    if (path[level].current().items.size() >= min_items) break;
    PathStep& up = path[level - 1];
    BtreeNode& parent = up.Edit(*store_);
    BtreeNode& node = path[level].Edit(*store_);
    const size_t ci = up.index;

    auto load_sibling = [&](size_t at) -> Result<std::shared_ptr<const BtreeNode>> {
      Result<std::shared_ptr<const BtreeNode>> sibling = LoadNode(parent.children[at]);
      if (sibling.ok() && (*sibling)->leaf() != node.leaf()) {
        return Corrupt(parent.children[at], "leaves at different depths");
      }
      return sibling;
    };
    std::shared_ptr<const BtreeNode> left, right;
    if (ci > 0) {
      Result<std::shared_ptr<const BtreeNode>> loaded = load_sibling(ci - 1);
      if (!loaded.ok()) return loaded.status();
      left = std::move(*loaded);
      if (left->items.size() > min_items) {  // borrow through the parent
        std::shared_ptr<BtreeNode> donor = Mutable(std::move(left));
        node.items.insert(node.items.begin(), std::move(parent.items[ci - 1]));
        parent.items[ci - 1] = std::move(donor->items.back());
        donor->items.pop_back();
        if (!donor->leaf()) {
          node.children.insert(node.children.begin(), donor->children.back());
          donor->children.pop_back();
        }
        return store_->Stage(std::move(donor));
      }
    }
    if (ci + 1 < parent.children.size()) {
      Result<std::shared_ptr<const BtreeNode>> loaded = load_sibling(ci + 1);
      if (!loaded.ok()) return loaded.status();
      right = std::move(*loaded);
      if (right->items.size() > min_items) {
        std::shared_ptr<BtreeNode> donor = Mutable(std::move(right));
        node.items.push_back(std::move(parent.items[ci]));
        parent.items[ci] = std::move(donor->items.front());
        donor->items.erase(donor->items.begin());
        if (!donor->leaf()) {
          node.children.push_back(donor->children.front());
          donor->children.erase(donor->children.begin());
        }
        return store_->Stage(std::move(donor));
      }
    }

    // Merge: the node keeps its ID and absorbs a sibling, which is freed. Both hold at
    // most min_items, so the result (with the separator) fits in a node.
    if (left) {
      std::shared_ptr<BtreeNode> absorbed = Mutable(std::move(left));
      std::vector<BtreeItem> items = std::move(absorbed->items);
      items.push_back(std::move(parent.items[ci - 1]));
      MoveAppend(items, node.items, 0);
      node.items = std::move(items);
      std::vector<LogicalId> children = std::move(absorbed->children);
      MoveAppend(children, node.children, 0);
      node.children = std::move(children);
      parent.items.erase(parent.items.begin() + (ci - 1));
      parent.children.erase(parent.children.begin() + (ci - 1));
      up.index = ci - 1;
      SOPFS_RETURN_IF_ERROR(store_->Free(absorbed->id));
    } else if (right) {
      std::shared_ptr<BtreeNode> absorbed = Mutable(std::move(right));
      node.items.push_back(std::move(parent.items[ci]));
      MoveAppend(node.items, absorbed->items, 0);
      MoveAppend(node.children, absorbed->children, 0);
      parent.items.erase(parent.items.begin() + ci);
      parent.children.erase(parent.children.begin() + (ci + 1));
      SOPFS_RETURN_IF_ERROR(store_->Free(absorbed->id));
    } else {
      return Corrupt(parent.id, "internal node with a single child");
    }
  }

  // A root left with no item and one child takes over that child's contents.
  PathStep& top = path[0];
  if (top.current().items.empty() && !top.current().leaf()) {
    if (path.size() < 2 || top.current().children[0] != path[1].current().id) {
      return Corrupt(root_, "root with a single unexpected child");
    }
    BtreeNode& root = top.Edit(*store_);
    BtreeNode& child = path[1].Edit(*store_);
    const LogicalId child_id = child.id;
    root.items = std::move(child.items);
    root.children = std::move(child.children);
    path[1].edit.reset();  // freed, not staged; nothing reads path[1] any more
    SOPFS_RETURN_IF_ERROR(store_->Free(child_id));
  }
  return Status::Ok();
}

Status Btree::StageEdited(Path& path) {
  for (PathStep& step : path) {
    if (!step.edit) continue;
    SOPFS_RETURN_IF_ERROR(store_->Stage(std::make_shared<BtreeNode>(std::move(*step.edit))));
    step.edit.reset();
  }
  return Status::Ok();
}

}  // namespace sopfs
