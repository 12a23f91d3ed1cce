#include "actor_reaper.h"

#include <algorithm>
#include <limits>
#include <utility>

namespace ray {
namespace tune {
namespace internal {
namespace {

// While stops are running, the reaper looks for new actors at least this
// often. A stop that ends wakes it at once; this bounds only how long a new
// actor waits behind a trainable that ignores its stop.
constexpr std::chrono::milliseconds kNewWorkCheck{20};

int Ms(std::chrono::steady_clock::duration d) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
  return static_cast<int>(std::clamp<decltype(ms)>(ms, 0, std::numeric_limits<int>::max()));
}

void End(ray::ActorHandle<TrialActor> &actor, const std::string &group_id) {
  try {
    actor.Kill();
  } catch (const std::exception &) {
    // Already gone, or the runtime is shutting down: nothing is left to end.
  }
  if (group_id.empty()) return;
  try {
    ray::RemovePlacementGroup(group_id);
  } catch (const std::exception &) {
    // The runtime is shutting down: the group goes with the job.
  }
}

}  // namespace

ActorReaper::ActorReaper(std::chrono::milliseconds stop_grace)
    : grace_(stop_grace), thread_([this] { Loop(); }) {}

ActorReaper::~ActorReaper() {
  Drain();
  {
    std::lock_guard<std::mutex> lock(mu_);
    closing_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void ActorReaper::Reap(ray::ActorHandle<TrialActor> actor, bool graceful, std::string group_id) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    handed_.push_back(Handed{std::move(actor), graceful, std::move(group_id)});
    ++unfinished_;
  }
  cv_.notify_all();
}

void ActorReaper::Drain() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return unfinished_ == 0; });
}

void ActorReaper::TakeNew(std::vector<Doomed> &stopping, std::vector<Doomed> &to_kill) {
  std::deque<Handed> handed;
  {
    std::lock_guard<std::mutex> lock(mu_);
    handed.swap(handed_);
  }
  for (Handed &h : handed) {
    Doomed d{std::move(h.actor), std::move(h.group_id), std::nullopt,
             std::chrono::steady_clock::now() + grace_};
    if (h.graceful) {
      try {
        d.stop = d.actor.Task(&TrialActor::Stop).Remote();
      } catch (const std::exception &) {
        // Could not even ask: the kill ends it.
      }
    }
    (d.stop ? stopping : to_kill).push_back(std::move(d));
  }
}

void ActorReaper::WaitForStops(std::vector<Doomed> &stopping, std::vector<Doomed> &to_kill) {
  if (stopping.empty()) return;
  auto now = std::chrono::steady_clock::now();
  auto nearest = std::min_element(stopping.begin(), stopping.end(), [](const Doomed &a, const Doomed &b) {
                   return a.deadline < b.deadline;
                 })->deadline;
  std::vector<ray::ObjectRef<bool>> refs;
  for (const Doomed &d : stopping) refs.push_back(*d.stop);
  int wait_ms = std::min(Ms(nearest - now), static_cast<int>(kNewWorkCheck.count()));
  std::vector<std::string> ready_ids;
  try {
    for (const auto &ref : ray::Wait(refs, 1, wait_ms).ready) ready_ids.push_back(ref.ID());
  } catch (const std::exception &) {
    // The runtime cannot wait (shutting down): end them all now.
    for (auto &d : stopping) to_kill.push_back(std::move(d));
    stopping.clear();
    return;
  }
  now = std::chrono::steady_clock::now();
  for (auto it = stopping.begin(); it != stopping.end();) {
    bool ready = std::find(ready_ids.begin(), ready_ids.end(), it->stop->ID()) != ready_ids.end();
    if (ready || now >= it->deadline) {
      // Past the grace: user code that ignores the stop; the kill ends it.
      to_kill.push_back(std::move(*it));
      it = stopping.erase(it);
    } else {
      ++it;
    }
  }
}

void ActorReaper::Loop() {
  std::vector<Doomed> stopping;
  while (true) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      if (stopping.empty()) cv_.wait(lock, [&] { return !handed_.empty() || closing_; });
      if (closing_ && handed_.empty() && stopping.empty()) return;
    }
    std::vector<Doomed> to_kill;
    TakeNew(stopping, to_kill);
    WaitForStops(stopping, to_kill);
    for (Doomed &d : to_kill) End(d.actor, d.group_id);
    if (!to_kill.empty()) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        unfinished_ -= to_kill.size();
      }
      cv_.notify_all();
    }
  }
}

}  // namespace internal
}  // namespace tune
}  // namespace ray
