#include "engine/btree/btree_cursor.h"

namespace sopfs {
namespace {

// Deeper than any real tree could be; reaching it means a cycle in a corrupt tree.
constexpr size_t kMaxDepth = 64;

}  // namespace

void BtreeCursor::Reset() {
  path_.clear();
  generation_ = tree_->generation_;
}

Result<std::shared_ptr<const BtreeNode>> BtreeCursor::Load(LogicalId id) const {
  if (path_.size() >= kMaxDepth) {
    return Status::Error(EIO, "B-Tree " + std::to_string(tree_->root_) +
                                  " is deeper than any "
                                  "B-Tree can be");
  }
  return tree_->LoadNode(id);
}

Status BtreeCursor::DescendToEdge(LogicalId id, bool last) {
  while (true) {
    Result<std::shared_ptr<const BtreeNode>> loaded = Load(id);
    if (!loaded.ok()) {
      path_.clear();
      return loaded.status();
    }
    std::shared_ptr<const BtreeNode> node = std::move(*loaded);
    if (node->leaf()) {
      // Only an empty root is an empty leaf (LoadNode refuses others).
      if (node->items.empty()) {
        path_.clear();
      } else {
        size_t index = last ? node->items.size() - 1 : 0;
        path_.push_back(Step{std::move(node), index});
      }
      return Status::Ok();
    }
    size_t index = last ? node->children.size() - 1 : 0;
    id = node->children[index];
    path_.push_back(Step{std::move(node), index});
  }
}

Status BtreeCursor::First() {
  Reset();
  SOPFS_RETURN_IF_ERROR(tree_->options_status_);
  return DescendToEdge(tree_->root_, /*last=*/false);
}

Status BtreeCursor::Last() {
  Reset();
  SOPFS_RETURN_IF_ERROR(tree_->options_status_);
  return DescendToEdge(tree_->root_, /*last=*/true);
}

Status BtreeCursor::Seek(std::string_view key) {
  Reset();
  SOPFS_RETURN_IF_ERROR(tree_->options_status_);
  LogicalId id = tree_->root_;
  while (true) {
    Result<std::shared_ptr<const BtreeNode>> node = Load(id);
    if (!node.ok()) {
      path_.clear();
      return node.status();
    }
    bool found;
    size_t index = tree_->LowerBound(**node, key, &found);
    path_.push_back(Step{std::move(*node), index});
    const BtreeNode& n = *path_.back().node;
    if (found) return Status::Ok();
    if (n.leaf()) {
      // Everything below the last ancestor we left on its left side is < key.
      if (index == n.items.size()) ClimbForNext();
      return Status::Ok();
    }
    id = n.children[index];
  }
}

Status BtreeCursor::SeekForPrev(std::string_view key) {
  Reset();
  SOPFS_RETURN_IF_ERROR(tree_->options_status_);
  LogicalId id = tree_->root_;
  while (true) {
    Result<std::shared_ptr<const BtreeNode>> node = Load(id);
    if (!node.ok()) {
      path_.clear();
      return node.status();
    }
    bool found;
    size_t index = tree_->LowerBound(**node, key, &found);  // when not found: first > key
    path_.push_back(Step{std::move(*node), index});
    const BtreeNode& n = *path_.back().node;
    if (found) return Status::Ok();
    if (n.leaf()) {
      if (index > 0) {
        --path_.back().index;
      } else {
        ClimbForPrev();
      }
      return Status::Ok();
    }
    id = n.children[index];
  }
}

void BtreeCursor::ClimbForNext() {
  path_.pop_back();
  // An ancestor that we entered through child c continues with its item c, if any.
  while (!path_.empty() && path_.back().index >= path_.back().node->items.size()) {
    path_.pop_back();
  }
}

void BtreeCursor::ClimbForPrev() {
  path_.pop_back();
  // An ancestor that we entered through child c continues with its item c - 1, if any.
  while (!path_.empty() && path_.back().index == 0) path_.pop_back();
  if (!path_.empty()) --path_.back().index;
}

Status BtreeCursor::Refresh(bool forward, bool* moved) {
  std::string at(key());
  SOPFS_RETURN_IF_ERROR(forward ? Seek(at) : SeekForPrev(at));
  *moved = !Valid() || tree_->Compare(key(), at) != 0;
  return Status::Ok();
}

Status BtreeCursor::Next() {
  if (!Valid()) return Status::Error(EINVAL, "Next on a cursor that is not positioned");
  if (Stale()) {
    bool moved;
    SOPFS_RETURN_IF_ERROR(Refresh(/*forward=*/true, &moved));
    if (moved) return Status::Ok();
  }
  Step& top = path_.back();
  if (!top.node->leaf()) {
    ++top.index;  // into the subtree right of the current item
    return DescendToEdge(top.node->children[top.index], /*last=*/false);
  }
  if (++top.index < top.node->items.size()) return Status::Ok();
  ClimbForNext();
  return Status::Ok();
}

Status BtreeCursor::Prev() {
  if (!Valid()) return Status::Error(EINVAL, "Prev on a cursor that is not positioned");
  if (Stale()) {
    bool moved;
    SOPFS_RETURN_IF_ERROR(Refresh(/*forward=*/false, &moved));
    if (moved) return Status::Ok();
  }
  Step& top = path_.back();
  if (!top.node->leaf()) {
    // Into the subtree left of the current item; the index now names that child.
    return DescendToEdge(top.node->children[top.index], /*last=*/true);
  }
  if (top.index > 0) {
    --top.index;
    return Status::Ok();
  }
  ClimbForPrev();
  return Status::Ok();
}

Result<std::string> BtreeCursor::value() const {
  if (!Valid()) return Status::Error(EINVAL, "value of a cursor that is not positioned");
  if (Stale()) return tree_->Find(key());
  return tree_->ValueOf(item());
}

}  // namespace sopfs
