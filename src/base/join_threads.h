// JoinAllButCaller: ends a set of threads that were told to stop, from any
// thread, including one of them. Shutdown can be called from an actor
// method, which runs on one of the threads being stopped; a thread cannot join
// itself, so that one is detached instead and finishes as it returns.
//
// Threading: the caller owns `threads`; the function blocks until every other
// thread in it has ended.
#pragma once

#include <thread>

namespace lumen {

// `Threads`: any container of std::thread with clear() (vector, list, deque).
template <typename Threads>
void JoinAllButCaller(Threads *threads) {
  for (auto &t : *threads) {
    if (!t.joinable()) continue;
    if (t.get_id() == std::this_thread::get_id()) {
      t.detach();
    } else {
      t.join();
    }
  }
  threads->clear();
}

}  // namespace lumen
