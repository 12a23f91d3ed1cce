// ExecQueue on its own: order, the backlog flag, the exit waking every
// executor, and the extra executors handed back for joining.
#include "worker/exec_queue.h"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

namespace lumen::worker {
namespace {

ExecQueue::Task Named(const std::string &name, uint64_t call_id) {
  ExecQueue::Task t;
  t.call_id = call_id;
  t.spec.mutable_function()->set_function_name(name);
  return t;
}

TEST(ExecQueueTest, TasksComeOutInArrivalOrderAndSayWhetherOthersWait) {
  ExecQueue q;
  EXPECT_TRUE(q.Empty());
  EXPECT_FALSE(q.HasWork());
  q.Push(Named("a", 1));
  q.Push(Named("b", 2));
  EXPECT_FALSE(q.Empty());
  EXPECT_TRUE(q.HasWork());
  bool backlog = false;
  auto first = q.Next(&backlog);
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->spec.function().function_name(), "a");
  EXPECT_EQ(first->call_id, 1u);
  EXPECT_TRUE(backlog);
  auto second = q.Next(&backlog);
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->spec.function().function_name(), "b");
  EXPECT_FALSE(backlog);
  EXPECT_TRUE(q.Empty());
  EXPECT_FALSE(q.HasWork());
}

TEST(ExecQueueTest, AnExecutorWaitingForWorkTakesATaskPushedFromAnotherThread) {
  ExecQueue q;
  std::optional<ExecQueue::Task> got;
  std::thread executor([&] {
    bool backlog = false;
    got = q.Next(&backlog);
  });
  std::thread loop([&] { q.Push(Named("pushed", 7)); });
  loop.join();
  executor.join();
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->call_id, 7u);
}

TEST(ExecQueueTest, TheExitWakesEveryExecutorAndLeavesQueuedTasksUnrun) {
  ExecQueue q;
  constexpr int kExecutors = 4;
  std::atomic<int> ended{0};
  std::vector<std::thread> executors;
  for (int i = 0; i < kExecutors; i++) {
    executors.emplace_back([&] {
      bool backlog = false;
      while (q.Next(&backlog)) {
      }
      ended++;
    });
  }
  q.RequestExit();
  for (auto &t : executors) t.join();
  EXPECT_EQ(ended.load(), kExecutors);
  // After the exit, nothing more is handed out, even what is queued.
  q.Push(Named("late", 9));
  bool backlog = false;
  EXPECT_FALSE(q.Next(&backlog).has_value());
  EXPECT_TRUE(q.HasWork());  // the exit is work: an idle leader stops leading
}

TEST(ExecQueueTest, ExtraExecutorsAreHandedBackForJoiningWithTheExitOrWithout) {
  ExecQueue q;
  std::atomic<int> ran{0};
  for (int i = 0; i < 3; i++) {
    q.StartExecutor([&] {
      bool backlog = false;
      while (auto t = q.Next(&backlog)) ran++;
    });
  }
  for (uint64_t i = 1; i <= 30; i++) q.Push(Named("work", i));
  // Handed back without the exit (WaitForExecutors), they go on running.
  std::vector<std::thread> taken = q.TakeExecutors(/*exit=*/false);
  EXPECT_EQ(taken.size(), 3u);
  EXPECT_TRUE(q.TakeExecutors(/*exit=*/false).empty());
  // Once every task has been taken, a later executor is handed back with
  // the exit (Shutdown), which ends them all.
  while (!q.Empty()) std::this_thread::yield();
  q.StartExecutor([&] {
    bool backlog = false;
    while (q.Next(&backlog)) ran++;
  });
  std::vector<std::thread> last = q.TakeExecutors(/*exit=*/true);
  EXPECT_EQ(last.size(), 1u);
  for (auto &t : taken) t.join();
  for (auto &t : last) t.join();
  EXPECT_EQ(ran.load(), 30);
}

}  // namespace
}  // namespace lumen::worker
