// Unit tests for SerialExecutor: closures run in order on one thread other
// than the caller's, Stop drops what has not started and waits for what has,
// and posting after Stop is refused.
#include "base/serial_executor.h"

#include <gtest/gtest.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <future>
#include <memory>
#include <set>
#include <thread>
#include <vector>

namespace lumen {
namespace {

// Long enough that only a hang reaches it.
constexpr auto kHangDeadline = std::chrono::seconds(60);

TEST(SerialExecutorTest, RunsClosuresInPostOrderOnOneOtherThread) {
  SerialExecutor ex("test-serial");
  std::vector<int> order;  // touched only on the executor's thread until `done`
  std::set<std::thread::id> threads;
  std::promise<void> done;
  constexpr int kCount = 1000;
  for (int i = 0; i < kCount; ++i) {
    ASSERT_TRUE(ex.Post([&, i] {
      order.push_back(i);
      threads.insert(std::this_thread::get_id());
      if (i == kCount - 1) done.set_value();
    }));
  }
  ASSERT_EQ(done.get_future().wait_for(kHangDeadline), std::future_status::ready);
  ASSERT_EQ(order.size(), static_cast<size_t>(kCount));
  for (int i = 0; i < kCount; ++i) EXPECT_EQ(order[i], i);
  ASSERT_EQ(threads.size(), 1u);
  EXPECT_NE(*threads.begin(), std::this_thread::get_id());
}

TEST(SerialExecutorTest, ClosuresNeverOverlapWhenPostedFromManyThreads) {
  SerialExecutor ex("test-serial");
  std::atomic<int> running{0}, max_running{0}, ran{0};
  constexpr int kThreads = 4, kEach = 200;
  std::vector<std::thread> posters;
  for (int t = 0; t < kThreads; ++t) {
    posters.emplace_back([&] {
      for (int i = 0; i < kEach; ++i) {
        ex.Post([&] {
          int now = ++running;
          int seen = max_running.load();
          while (now > seen && !max_running.compare_exchange_weak(seen, now)) {
          }
          std::this_thread::yield();
          --running;
          ++ran;
        });
      }
    });
  }
  for (auto &t : posters) t.join();
  std::promise<void> done;
  ex.Post([&] { done.set_value(); });
  ASSERT_EQ(done.get_future().wait_for(kHangDeadline), std::future_status::ready);
  EXPECT_EQ(ran.load(), kThreads * kEach);
  EXPECT_EQ(max_running.load(), 1);
}

TEST(SerialExecutorTest, StopWaitsForTheRunningClosureAndDropsTheQueued) {
  SerialExecutor ex("test-serial");
  std::promise<void> started, release, dropped;
  std::shared_future<void> release_f = release.get_future().share();
  std::atomic<bool> first_finished{false}, second_ran{false}, stop_returned{false};
  ex.Post([&] {
    started.set_value();
    release_f.wait();
    first_finished = true;
  });
  {
    // Destroyed, capture and all, when Stop drops the closure unrun.
    std::shared_ptr<void> witness(nullptr, [&](void *) { dropped.set_value(); });
    ex.Post([&, witness] { second_ran = true; });
  }
  ASSERT_EQ(started.get_future().wait_for(kHangDeadline), std::future_status::ready);

  std::thread stopper([&] {
    ex.Stop();
    stop_returned = true;
  });
  ASSERT_EQ(dropped.get_future().wait_for(kHangDeadline), std::future_status::ready);
  // The queue is gone, the first closure still runs: Stop has not returned.
  EXPECT_FALSE(stop_returned);
  release.set_value();
  stopper.join();
  EXPECT_TRUE(first_finished);
  EXPECT_FALSE(second_ran);

  bool ran_after_stop = false;
  EXPECT_FALSE(ex.Post([&] { ran_after_stop = true; }));
  ex.Stop();  // idempotent
  EXPECT_FALSE(ran_after_stop);
}

TEST(SerialExecutorTest, AClosureMayStopItsOwnExecutor) {
  auto ex = std::make_unique<SerialExecutor>("test-serial");
  std::promise<void> stopped;
  ex->Post([&] {
    ex->Stop();  // must not try to join its own thread
    stopped.set_value();
  });
  ASSERT_EQ(stopped.get_future().wait_for(kHangDeadline), std::future_status::ready);
  EXPECT_FALSE(ex->Post([] {}));
  ex.reset();  // joins the thread from here
}

// The ids of this process's threads. Compared as sets, not counted: a
// sanitizer's runtime starts threads of its own (TSan's background thread
// comes with the first pthread_create).
std::set<pid_t> ThreadsInThisProcess() {
  std::set<pid_t> tids;
  for (auto &entry : std::filesystem::directory_iterator("/proc/self/task"))
    tids.insert(static_cast<pid_t>(std::stol(entry.path().filename().string())));
  return tids;
}

TEST(SerialExecutorTest, StartsItsThreadAtTheFirstPostOnly) {
  // A process may make one before it forks: until it has work it has no thread.
  const std::set<pid_t> before = ThreadsInThisProcess();
  SerialExecutor ex("test-serial");
  EXPECT_EQ(ThreadsInThisProcess(), before);
  std::promise<pid_t> running;
  std::promise<void> release;
  ex.Post([&] {
    running.set_value(static_cast<pid_t>(syscall(SYS_gettid)));
    release.get_future().wait();
  });
  auto ran = running.get_future();
  ASSERT_EQ(ran.wait_for(kHangDeadline), std::future_status::ready);
  const pid_t worker = ran.get();
  EXPECT_EQ(before.count(worker), 0u) << "the closure ran on a thread that existed before the Post";
  EXPECT_EQ(ThreadsInThisProcess().count(worker), 1u);
  release.set_value();
  ex.Stop();
  EXPECT_EQ(ThreadsInThisProcess().count(worker), 0u) << "Stop left the executor's thread running";
}

TEST(SerialExecutorTest, StoppingOneThatNeverRanJoinsNothing) {
  SerialExecutor ex("test-serial");
  ex.Stop();
  EXPECT_FALSE(ex.Post([] {}));
}

}  // namespace
}  // namespace lumen
