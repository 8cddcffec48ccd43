// SingleFlight: one load per key at a time; callers that ask for a key already being
// loaded wait for that load and share its result instead of loading it again.
//
// The read-ahead of a file and the reader it works for ask for the same chunk blobs at
// nearly the same time; without this each would read and decode the shards itself.
//
// Threads: every method may be called concurrently. `load` runs on the calling thread
// without the lock held.
#pragma once

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>

#include "engine/status.h"

namespace sopfs {

template <class K, class V, class Hash = std::hash<K>>
class SingleFlight {
 public:
  // Runs `load` for `key`, or waits for the run of another caller that is under way.
  Result<V> Do(const K& key, const std::function<Result<V>()>& load) {
    std::shared_ptr<Call> call;
    {
      std::unique_lock lock(mu_);
      auto [it, leader] = calls_.try_emplace(key, nullptr);
      if (!leader) return Wait(lock, it->second);
      call = it->second = std::make_shared<Call>();
    }
    Result<V> result = load();
    {
      std::lock_guard lock(mu_);
      call->result.emplace(result);
      calls_.erase(key);
    }
    call->done.notify_all();
    return result;
  }

  // The result of a load of `key` under way, waited for; nullopt when none is.
  std::optional<Result<V>> Join(const K& key) {
    std::unique_lock lock(mu_);
    auto it = calls_.find(key);
    if (it == calls_.end()) return std::nullopt;
    return Wait(lock, it->second);
  }

 private:
  struct Call {
    std::condition_variable done;
    std::optional<Result<V>> result;  // set once, under mu_
  };

  Result<V> Wait(std::unique_lock<std::mutex>& lock, std::shared_ptr<Call> call) {
    call->done.wait(lock, [&] { return call->result.has_value(); });
    return *call->result;
  }

  std::mutex mu_;
  std::unordered_map<K, std::shared_ptr<Call>, Hash> calls_;
};

}  // namespace sopfs
