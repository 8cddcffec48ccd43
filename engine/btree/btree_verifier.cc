#include "engine/btree/btree_verifier.h"

#include <optional>
#include <set>
#include <string>

namespace sopfs {
namespace {

constexpr size_t kMaxDepth = 64;

class Verifier {
 public:
  Verifier(NodeStore* store, LogicalId root, const BtreeOptions& options)
      : store_(store), root_(root), options_(options), tree_(store, root, options) {}

  Status Walk(LogicalId id, size_t depth) {
    if (depth > kMaxDepth) return Bad(id, "deeper than any B-Tree can be");
    if (!seen_.insert(id).second) return Bad(id, "reached twice");
    Result<std::shared_ptr<const BtreeNode>> loaded = store_->Load(id);
    if (!loaded.ok()) {
      if (loaded.status().code() == ENOENT) return Bad(id, "missing");
      return loaded.status();
    }
    std::shared_ptr<const BtreeNode> node = std::move(*loaded);
    if (!node || node->id != id) return Bad(id, "the store returned another node");
    shape_.nodes.push_back(id);
    SOPFS_RETURN_IF_ERROR(CheckCounts(*node));

    if (node->leaf()) {
      if (!leaf_depth_) leaf_depth_ = depth;
      if (*leaf_depth_ != depth) return Bad(id, "leaf at another depth than the first leaf");
    }
    for (size_t i = 0; i < node->items.size(); ++i) {
      if (!node->leaf()) SOPFS_RETURN_IF_ERROR(Walk(node->children[i], depth + 1));
      SOPFS_RETURN_IF_ERROR(CheckItem(id, node->items[i]));
    }
    if (!node->leaf()) SOPFS_RETURN_IF_ERROR(Walk(node->children.back(), depth + 1));
    return Status::Ok();
  }

  Result<BtreeShape> Run() {
    SOPFS_RETURN_IF_ERROR(options_.Validate());
    SOPFS_RETURN_IF_ERROR(Walk(root_, 1));
    shape_.depth = leaf_depth_.value_or(0);
    return std::move(shape_);
  }

 private:
  static Status Bad(LogicalId id, const std::string& what) {
    return Status::Error(EIO, "B-Tree node " + std::to_string(id) + ": " + what);
  }

  Status CheckCounts(const BtreeNode& node) {
    const size_t n = node.items.size();
    const size_t max_items = options_.slot_length;
    if (!node.leaf() && node.children.size() != n + 1) {
      return Bad(node.id, "child count does not match item count");
    }
    if (n > max_items) return Bad(node.id, std::to_string(n) + " items, more than slot_length");
    if (node.id == root_) {
      if (!node.leaf() && n == 0) return Bad(node.id, "internal root without items");
    } else if (n < max_items / 2) {
      return Bad(node.id, std::to_string(n) + " items, less than half of slot_length");
    }
    return Status::Ok();
  }

  Status CheckItem(LogicalId id, const BtreeItem& item) {
    if (last_key_ && tree_.Compare(*last_key_, item.key) >= 0) {
      return Bad(id, "keys out of order");
    }
    last_key_ = item.key;
    ++shape_.items;
    if (item.value_blob != 0) {
      if (!blobs_.insert(item.value_blob).second) {
        return Bad(id, "value blob " + std::to_string(item.value_blob) + " referenced twice");
      }
      shape_.value_blobs.push_back(item.value_blob);
    }
    return Status::Ok();
  }

  NodeStore* store_;
  LogicalId root_;
  const BtreeOptions& options_;
  Btree tree_;  // for its comparator
  BtreeShape shape_;
  std::set<LogicalId> seen_;
  std::set<LogicalId> blobs_;
  std::optional<size_t> leaf_depth_;
  std::optional<std::string> last_key_;
};

}  // namespace

Result<BtreeShape> VerifyBtree(NodeStore* store, LogicalId root, const BtreeOptions& options) {
  return Verifier(store, root, options).Run();
}

}  // namespace sopfs
