// LruCache: a memory-bounded cache of immutable values (B-Tree nodes, values, registry
// blocks), evicting the least recently used entries once the charged bytes pass the
// capacity.
//
// Values are shared_ptr<const V>: an entry evicted (or replaced) while a reader still
// holds it stays valid for that reader and is freed when the last holder lets go, so
// the bound is on what the cache keeps alive, not on what callers hold.
//
// Threads: every method may be called concurrently (one mutex guards the entries).
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <utility>

namespace sopfs {

struct CacheStats {
  uint64_t hits = 0;
  uint64_t misses = 0;
  uint64_t evictions = 0;
  size_t entries = 0;
  size_t charge = 0;  // bytes currently charged
};

template <class K, class V, class Hash = std::hash<K>>
class LruCache {
 public:
  explicit LruCache(size_t capacity_bytes) : capacity_(capacity_bytes) {}
  LruCache(const LruCache&) = delete;
  LruCache& operator=(const LruCache&) = delete;

  // Adds or replaces `key`, charged `charge` bytes, then evicts from the cold end
  // until the total fits. An entry larger than the whole capacity is not kept.
  void Insert(const K& key, std::shared_ptr<const V> value, size_t charge) {
    std::lock_guard<std::mutex> lock(entries_mu_);
    EraseLocked(key);
    if (charge > capacity_) return;
    order_.push_front(Entry{key, std::move(value), charge});
    index_[key] = order_.begin();
    charge_ += charge;
    while (charge_ > capacity_) {
      EraseLocked(order_.back().key);
      ++evictions_;
    }
  }

  // The value, made the most recently used; null when absent.
  std::shared_ptr<const V> Lookup(const K& key) {
    std::lock_guard<std::mutex> lock(entries_mu_);
    auto it = index_.find(key);
    if (it == index_.end()) {
      ++misses_;
      return nullptr;
    }
    ++hits_;
    order_.splice(order_.begin(), order_, it->second);
    return it->second->value;
  }

  void Erase(const K& key) {
    std::lock_guard<std::mutex> lock(entries_mu_);
    EraseLocked(key);
  }

  void Clear() {
    std::lock_guard<std::mutex> lock(entries_mu_);
    index_.clear();
    order_.clear();
    charge_ = 0;
  }

  CacheStats Stats() const {
    std::lock_guard<std::mutex> lock(entries_mu_);
    return {hits_, misses_, evictions_, index_.size(), charge_};
  }

  size_t capacity() const { return capacity_; }

 private:
  struct Entry {
    K key;
    std::shared_ptr<const V> value;
    size_t charge;
  };

  void EraseLocked(const K& key) {
    auto it = index_.find(key);
    if (it == index_.end()) return;
    charge_ -= it->second->charge;
    order_.erase(it->second);
    index_.erase(it);
  }

  const size_t capacity_;
  mutable std::mutex entries_mu_;  // guards everything below
  std::list<Entry> order_;         // most recently used first
  std::unordered_map<K, typename std::list<Entry>::iterator, Hash> index_;
  size_t charge_ = 0;
  uint64_t hits_ = 0, misses_ = 0, evictions_ = 0;
};

}  // namespace sopfs
