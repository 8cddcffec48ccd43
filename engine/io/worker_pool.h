// WorkerPool: a fixed set of threads that run jobs in the order they were posted.
//
// For work handed off many times a second (a chunk's blob written while the next one
// fills): starting a thread per job costs a stack mapping and a clone each time, which
// on a virtual machine is most of the job. Jobs must not wait for other jobs of the
// same pool (they could all be waiting); the callers here only do I/O and coding.
//
// Threads: every method may be called concurrently. The destructor runs the jobs
// queued, then joins.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace sopfs {

class WorkerPool {
 public:
  explicit WorkerPool(size_t threads);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Runs `job` on one of the threads; its result (or exception) comes through the future.
  template <class F>
  auto Submit(F job) -> std::future<decltype(job())> {
    using R = decltype(job());
    auto task = std::make_shared<std::packaged_task<R()>>(std::move(job));
    std::future<R> result = task->get_future();
    Post([task] { (*task)(); });
    return result;
  }
  void Post(std::function<void()> job);

  // The process's pool for chunk writes: created on first use, never destroyed (jobs may
  // be under way while the process exits).
  static WorkerPool& Shared();

 private:
  void Loop();

  std::mutex mu_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> jobs_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace sopfs
