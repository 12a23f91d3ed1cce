// Blocking reads: Get and Wait, and how a blocked caller waits (polling for a
// short adaptive budget, leading the event loop while the result is on its
// way, then sleeping on ready_cv_). Threading: called from any user thread;
// each takes mu_ and releases it while it sleeps or leads the loop.
#include "base/cpu_relax.h"
#include "base/logging.h"
#include "base/settings.h"
#include "protocol/control.pb.h"
#include "worker/core_worker_internal.h"

namespace lumen::worker {

namespace {

// Polling before sleeping. A blocking call's answer usually comes back within
// tens of microseconds, and sleeping costs the caller a futex or epoll wait
// and its waker a wake-up of an idle CPU, which on virtual machines (the host
// must schedule the vCPU again) costs as much as the round trip between the
// processes itself: measured on the 2-core VM this suite runs on,
// single_client_tasks_sync went from ~12.7k to ~23k tasks/s and
// 1_1_actor_calls_sync from ~13.5k to ~18.7k calls/s with a 100 us budget,
// and a Get that slept in the reactor instead of polling it doubled the sync
// actor-call latency. The budget adapts, so that waits on long tasks do not
// burn CPU: a spin that ends without the result halves the next one (down to
// none), a spin that gets it restores the full budget, and with no budget
// left every 16th wait probes with the full one again.
// LUMEN_GET_SPIN_US sets the full budget (0 turns spinning off; 100 us by
// default, base/settings.h).
constexpr int kMinSpinUs = 5;
constexpr uint32_t kSpinProbeEvery = 16;

int FullSpinBudgetUs() { return CurrentSettings().get_spin_us; }

}  // namespace

int AdaptiveSpin::Next() {
  const int full = FullSpinBudgetUs();
  int budget = budget_us_.load(std::memory_order_relaxed);
  if (budget < 0) budget = full;
  if (budget == 0) {
    if (full == 0 || skips_.fetch_add(1, std::memory_order_relaxed) % kSpinProbeEvery != kSpinProbeEvery - 1)
      return 0;
    budget = full;
  }
  return budget;
}

void AdaptiveSpin::Report(int used_us, bool hit) {
  int next = hit ? FullSpinBudgetUs() : used_us / 2;
  budget_us_.store(next < kMinSpinUs ? 0 : next, std::memory_order_relaxed);
}

template <typename Done>
void CoreWorker::SpinBeforeBlockingLocked(std::unique_lock<std::mutex> &lock, Done done) {
  const int budget = get_spin_.Next();
  if (budget == 0) return;
  // Spinning is bounded in CPU time, not a decision: the steady clock.
  const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(budget);
  uint64_t seen = ready_seq_.load(std::memory_order_acquire);
  bool got = false;
  lock.unlock();
  for (;;) {
    for (int i = 0; i < 64 && ready_seq_.load(std::memory_order_relaxed) == seen; ++i) CpuRelax();
    if (ready_seq_.load(std::memory_order_acquire) != seen) {
      lock.lock();
      if (done()) {
        got = true;
        break;
      }
      seen = ready_seq_.load(std::memory_order_acquire);
      lock.unlock();
    }
    if (std::chrono::steady_clock::now() >= until) {
      lock.lock();
      got = done();
      break;
    }
  }
  get_spin_.Report(budget, got);
}

template <typename Done>
void CoreWorker::LeadLoopLocked(std::unique_lock<std::mutex> &lock, Done done, Clock::TimePoint deadline) {
  const int budget = get_spin_.Next();
  const auto start = std::chrono::steady_clock::now();
  lock.unlock();
  bool led = loop_.Lead(
      [&] {
        if (clock_.Now() >= deadline) return true;
        std::lock_guard<std::mutex> hold(mu_);
        return done();
      },
      clock_.WakeAt(deadline), std::chrono::microseconds(budget));
  lock.lock();
  if (led && budget > 0)
    get_spin_.Report(budget,
                     done() && std::chrono::steady_clock::now() - start <= std::chrono::microseconds(budget));
}

Status CoreWorker::Get(const std::vector<ObjectID> &ids, int64_t timeout_ms, std::vector<RayObjectPtr> *out) {
  auto deadline =
      timeout_ms < 0 ? Clock::TimePoint::max() : clock_.Now() + std::chrono::milliseconds(timeout_ms);
  std::unique_lock<std::mutex> lock(mu_);
  After after;
  for (auto &id : ids) {
    auto it = objects_.find(id);
    if (it == objects_.end() && id.Owner() == options_.worker_id) MarkFreedLocked(id, &after);
    auto &e = EntryLocked(id);
    RequestFromOwnerLocked(id, e);
  }
  // An object becomes unready again only when it was lost and is being made
  // again (RecoverFromFailedReadLocked), which starts the wait over: so one
  // pass over `ids` per wait suffices. `next` is the first id not yet seen
  // ready. Only that id's entry counts this caller as blocked, so
  // SetReadyLocked wakes us for it alone.
  size_t next = 0;
  auto all_ready = [&] {
    for (; next < ids.size(); ++next) {
      auto it = objects_.find(ids[next]);
      if (it == objects_.end() || !it->second->ready) return false;
    }
    return true;
  };
  auto set_blocked_on = [&](size_t i, int delta) {
    if (i >= ids.size()) return;
    auto it = objects_.find(ids[i]);
    if (it != objects_.end()) it->second->blocked_waiters += delta;
  };
  for (;;) {
    bool blocked = false;
    // A normal task blocked in Get must tell the node (it lends its CPU back),
    // so it waits below. Other callers waiting for the result of a task or an
    // actor call pushed from here serve the loop meanwhile, so the reply is read
    // by the thread that waits for it: one wake-up instead of two (with task
    // workers leading their own loop too, sync_task_latency_us p50 34 -> 12 us
    // and single_client_tasks_sync 20k -> 64k tasks/s here).
    if (!all_ready() && timeout_ms != 0 && !in_task_ && LendLoopEnabled()) {
      auto it = objects_.find(ids[next]);
      if (it != objects_.end() && it->second->pushed_result) LeadLoopLocked(lock, all_ready, deadline);
    }
    std::optional<rpc::EventLoop::WaitScope> waiting;
    if (!all_ready() && timeout_ms != 0 && clock_.Now() < deadline) {
      waiting.emplace(loop_);  // results arrive through the loop
      SpinBeforeBlockingLocked(lock, all_ready);
    }
    if (!all_ready()) {
      if (in_task_) {
        blocked = true;
        node_->Notify(proto::NOTIFY_BLOCKED, proto::BlockedNotice());
      }
      while (!all_ready()) {
        size_t waiting_on = next;
        set_blocked_on(waiting_on, +1);
        ++wait_sleeps_;
        bool timed_out = WaitUntil(clock_, ready_cv_, lock, deadline);
        set_blocked_on(waiting_on, -1);
        if (timed_out && !all_ready()) break;
      }
      if (blocked) node_->Notify(proto::NOTIFY_UNBLOCKED, proto::BlockedNotice());
    }
    if (!all_ready()) {
      // Drop the placeholder entries Get made for ids nobody references.
      for (auto &id : ids) MaybeFreeLocked(id, &after);
      lock.unlock();
      RunAll(after);
      return Status::TimedOut("Get timed out: some object(s) not ready after " + std::to_string(timeout_ms) +
                              " ms");
    }
    out->clear();
    out->reserve(ids.size());
    Status result;
    bool again = false;
    for (auto &id : ids) {
      auto it = objects_.find(id);
      if (it == objects_.end()) {
        result = Status(StatusCode::kObjectLost, "object " + id.Hex() + " was freed");
        break;
      }
      auto obj = MaterializeLocked(id, *it->second, lock);
      if (!obj.ok()) {
        // Every copy failed to pull: made again if their nodes died.
        const StatusCode code = obj.status().code();
        again = (code == StatusCode::kObjectLost || code == StatusCode::kDisconnected) &&
                RecoverFromFailedReadLocked(id, code == StatusCode::kDisconnected, lock, &after);
        result = code == StatusCode::kDisconnected ? Status(StatusCode::kObjectLost, obj.status().message())
                                                   : obj.status();
        break;
      }
      out->push_back(obj.value());
    }
    if (again) {
      next = 0;
      continue;
    }
    // Every way out runs what became runnable meanwhile (tasks whose
    // arguments were marked ready above): dropped, they would never run.
    lock.unlock();
    RunAll(after);
    return result;
  }
}

std::vector<bool> CoreWorker::Wait(const std::vector<ObjectID> &ids, int num_objects, int64_t timeout_ms) {
  auto deadline =
      timeout_ms < 0 ? Clock::TimePoint::max() : clock_.Now() + std::chrono::milliseconds(timeout_ms);
  std::vector<bool> ready(ids.size(), false);
  std::unique_lock<std::mutex> lock(mu_);
  // The first count reads the entries just looked up (one lookup per id: a
  // Wait is often called once per ready object on lists of thousands). Once
  // the lock has been let go an entry may have been freed, so later counts
  // look each id up again.
  int first = 0;
  for (size_t i = 0; i < ids.size(); ++i) {
    auto &e = EntryLocked(ids[i]);
    RequestFromOwnerLocked(ids[i], e);
    ready[i] = e.ready;
    first += ready[i];
  }
  auto count = [&] {
    int n = 0;
    for (size_t i = 0; i < ids.size(); ++i) {
      auto it = objects_.find(ids[i]);
      ready[i] = it != objects_.end() && it->second->ready;
      n += ready[i];
    }
    return n;
  };
  if (first >= num_objects) return ready;
  bool blocked = false;
  std::optional<rpc::EventLoop::WaitScope> waiting;
  if (timeout_ms != 0) waiting.emplace(loop_);
  while (count() < num_objects) {
    if (in_task_ && !blocked) {
      blocked = true;
      node_->Notify(proto::NOTIFY_BLOCKED, proto::BlockedNotice());
    }
    // Any of the unready ids becoming ready may be enough: wait on them all.
    auto set_blocked = [&](int delta) {
      for (size_t i = 0; i < ids.size(); ++i) {
        if (ready[i]) continue;
        auto it = objects_.find(ids[i]);
        if (it != objects_.end()) it->second->blocked_waiters += delta;
      }
    };
    set_blocked(+1);
    ++wait_sleeps_;
    bool timed_out = WaitUntil(clock_, ready_cv_, lock, deadline);
    set_blocked(-1);  // `ready` is unchanged since set_blocked(+1)
    if (timed_out) {
      count();
      break;
    }
  }
  if (blocked) node_->Notify(proto::NOTIFY_UNBLOCKED, proto::BlockedNotice());
  return ready;
}

}  // namespace lumen::worker
