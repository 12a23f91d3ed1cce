#include "base/join_threads.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <memory>
#include <thread>
#include <vector>

namespace lumen {
namespace {

TEST(JoinAllButCallerTest, JoinsEveryThread) {
  std::atomic<int> finished{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) threads.emplace_back([&] { finished++; });
  JoinAllButCaller(&threads);
  EXPECT_EQ(finished.load(), 4);
  EXPECT_TRUE(threads.empty());
}

// One of the threads stops the set (Shutdown from an actor method): it joins
// the others and detaches itself rather than joining itself (which throws).
TEST(JoinAllButCallerTest, ACallerInTheSetJoinsTheOthersAndDetachesItself) {
  // Shared, since the detached thread may still be returning when the test ends.
  struct State {
    std::atomic<int> finished{0};
    std::vector<std::thread> threads;
    std::promise<void> go;
    std::shared_future<void> started{go.get_future().share()};
    std::promise<int> seen;
  };
  auto state = std::make_shared<State>();
  std::future<int> seen = state->seen.get_future();
  for (int i = 0; i < 3; ++i) {
    state->threads.emplace_back([state] {
      state->started.wait();
      state->finished++;
    });
  }
  state->threads.emplace_back([state] {
    state->started.wait();
    JoinAllButCaller(&state->threads);
    state->seen.set_value(state->finished.load());
  });
  state->go.set_value();
  EXPECT_EQ(seen.get(), 3);  // the other three had ended
}

TEST(JoinAllButCallerTest, SkipsThreadsAlreadyJoinedOrDetached) {
  std::vector<std::thread> threads;
  threads.emplace_back([] {});
  threads.back().join();
  threads.emplace_back();
  JoinAllButCaller(&threads);
  EXPECT_TRUE(threads.empty());
}

}  // namespace
}  // namespace lumen
