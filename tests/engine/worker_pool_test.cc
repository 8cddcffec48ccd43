// WorkerPool: jobs run on its threads, results come through futures, jobs run in the
// order posted, and the destructor runs what is queued before joining.
#include "engine/io/worker_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <thread>

namespace sopfs {
namespace {

TEST(WorkerPoolTest, JobsRunOnThePoolsThreadsAndTheirResultsComeBack) {
  WorkerPool pool(3);
  std::vector<std::future<std::thread::id>> ids;
  for (int i = 0; i < 50; ++i)
    ids.push_back(pool.Submit([] { return std::this_thread::get_id(); }));
  std::set<std::thread::id> seen;
  for (auto& id : ids) seen.insert(id.get());
  EXPECT_EQ(seen.count(std::this_thread::get_id()), 0u);
  EXPECT_LE(seen.size(), 3u);  // no thread per job
  auto failing = pool.Submit([]() -> int { throw std::runtime_error("boom"); });
  EXPECT_THROW(failing.get(), std::runtime_error);
}

TEST(WorkerPoolTest, OneThreadRunsJobsInTheOrderPosted) {
  std::vector<int> order;
  {
    WorkerPool pool(1);
    for (int i = 0; i < 100; ++i) pool.Post([&order, i] { order.push_back(i); });
  }  // the destructor runs every queued job before it joins
  ASSERT_EQ(order.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(order[i], i);
}

TEST(WorkerPoolTest, ManyPostersAtOnceLoseNoJob) {
  std::atomic<int> ran{0};
  {
    WorkerPool pool(4);
    std::vector<std::thread> posters;
    for (int t = 0; t < 4; ++t) {
      posters.emplace_back([&] {
        for (int i = 0; i < 1000; ++i) pool.Post([&ran] { ran.fetch_add(1); });
      });
    }
    for (auto& p : posters) p.join();
  }
  EXPECT_EQ(ran.load(), 4000);
}

}  // namespace
}  // namespace sopfs
