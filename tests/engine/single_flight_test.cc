// SingleFlight: callers of a key being loaded wait for that load instead of loading again.
#include "engine/cache/single_flight.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <thread>

namespace sopfs {
namespace {

TEST(SingleFlightTest, ConcurrentCallersOfOneKeyShareOneLoadAndJoinWaitsForIt) {
  SingleFlight<int, int> flight;
  EXPECT_FALSE(flight.Join(1).has_value());  // nothing under way
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<int> loads{0};
  std::promise<void> started;
  auto slow_load = [&]() -> Result<int> {
    ++loads;
    started.set_value();
    released.wait();
    return 42;
  };
  std::thread leader([&] { EXPECT_EQ(*flight.Do(1, slow_load), 42); });
  started.get_future().wait();
  // Callers arriving now wait for the leader's load instead of running theirs.
  std::thread follower([&] {
    EXPECT_EQ(*flight.Do(1,
                         [&]() -> Result<int> {
                           ++loads;
                           return 7;
                         }),
              42);
  });
  std::thread joiner([&] {
    std::optional<Result<int>> joined = flight.Join(1);
    ASSERT_TRUE(joined.has_value());
    EXPECT_EQ(**joined, 42);
  });
  // Another key does not wait for key 1.
  EXPECT_EQ(*flight.Do(2, [] { return Result<int>(5); }), 5);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the two are waiting
  release.set_value();
  leader.join();
  follower.join();
  joiner.join();
  EXPECT_EQ(loads.load(), 1);
  // Once done, the key loads afresh, and a failure is handed to its waiters as is.
  Result<int> failed = flight.Do(1, [] { return Result<int>(Status::Error(EIO, "disk")); });
  EXPECT_EQ(failed.status().code(), EIO);
  EXPECT_FALSE(flight.Join(1).has_value());
}

}  // namespace
}  // namespace sopfs
