// LocateInBtree (see btree_locate.h): a depth-first walk that carries each node's key
// bounds down from its parent's separators.
#include "engine/btree/btree_locate.h"

#include <memory>
#include <unordered_set>
#include <utility>

namespace sopfs {
namespace {

constexpr uint32_t kMaxDepth = 64;

class Locator {
 public:
  Locator(NodeStore* store, const std::unordered_set<LogicalId>& wanted)
      : store_(store), wanted_(wanted) {}

  void Walk(LogicalId id, uint32_t level, const std::optional<std::string>& low,
            const std::optional<std::string>& high) {
    if (level > kMaxDepth || !seen_.insert(id).second) return;  // a broken tree
    if (wanted_.count(id)) {
      places_.push_back({.id = id, .value = false, .level = level, .key = low, .end = high});
    }
    Result<std::shared_ptr<const BtreeNode>> loaded = store_->Load(id);
    if (!loaded.ok() || *loaded == nullptr) return;
    const BtreeNode& node = **loaded;
    for (size_t i = 0; i <= node.items.size(); ++i) {
      if (!node.leaf()) {
        // Child i holds the keys between item i - 1 and item i.
        const std::optional<std::string> child_low = i == 0 ? low : node.items[i - 1].key;
        const std::optional<std::string> child_high =
            i == node.items.size() ? high : node.items[i].key;
        Walk(node.children[i], level + 1, child_low, child_high);
      }
      if (i == node.items.size()) break;
      const BtreeItem& item = node.items[i];
      if (item.value_blob != 0 && wanted_.count(item.value_blob)) {
        places_.push_back({.id = item.value_blob,
                           .value = true,
                           .level = level,
                           .key = item.key,
                           .end = std::nullopt});
      }
    }
  }

  std::vector<BtreePlace> Take() { return std::move(places_); }

 private:
  NodeStore* store_;
  const std::unordered_set<LogicalId>& wanted_;
  std::unordered_set<LogicalId> seen_;
  std::vector<BtreePlace> places_;
};

}  // namespace

std::vector<BtreePlace> LocateInBtree(NodeStore* store, LogicalId root,
                                      const std::unordered_set<LogicalId>& wanted) {
  if (wanted.empty()) return {};
  Locator locator(store, wanted);
  locator.Walk(root, 0, std::nullopt, std::nullopt);
  return locator.Take();
}

}  // namespace sopfs
