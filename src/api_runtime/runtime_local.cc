// See runtime_local.h for the component and its threading model.
#include "api_runtime/runtime_local.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <functional>
#include <list>
#include <set>
#include <stdexcept>
#include <thread>
#include <utility>

#include <ray/api/ray_exception.h>
#include <ray/api/task_options.h>

#include "api_runtime/runtime_checks.h"
#include "api_runtime/runtime_invoke.h"
#include "base/join_threads.h"
#include "base/parallel_copy.h"
#include "base/status.h"

namespace lumen::api {

using ray::internal::RayException;
using ray::internal::TaskArg;
using Clock = std::chrono::steady_clock;

namespace {

const char kShutdownMessage[] = "ray::Shutdown() was called";

[[noreturn]] void ThrowStatus(const Status &st) {
  switch (st.code()) {
    case StatusCode::kTimedOut:
      throw ray::internal::RayTimeoutException(st.message());
    case StatusCode::kTaskError:
      throw ray::internal::RayTaskException(st.message());
    case StatusCode::kActorDied:
      throw ray::internal::RayActorException(st.message());
    case StatusCode::kObjectLost:
      throw ray::internal::UnreconstructableException(st.message());
    default:
      throw RayException(st.message());
  }
}

Clock::time_point DeadlineAfter(int64_t timeout_ms) {
  return timeout_ms < 0 ? Clock::time_point::max() : Clock::now() + std::chrono::milliseconds(timeout_ms);
}

class LocalBuffer : public ray::internal::Buffer {
 public:
  explicit LocalBuffer(std::shared_ptr<const std::string> bytes) : bytes_(std::move(bytes)) {}
  const char *Data() const override { return bytes_->data(); }
  size_t Size() const override { return bytes_->size(); }

 private:
  std::shared_ptr<const std::string> bytes_;
};

}  // namespace

// ---------------------------------------------------------------- task pool

/// The thread pool for normal tasks. Threads start on demand up to `size`
/// runnable ones; a thread blocked in Get/Wait (Blocked/Unblocked) does not
/// count, so another may start while work waits. That growth is why this is
/// not a fixed-size pool such as asio::thread_pool (the parallel copy's):
/// tasks that wait on their own nested tasks would take every thread and
/// deadlock it.
class LocalTaskPool {
 public:
  explicit LocalTaskPool(size_t size) : size_(size) {}
  ~LocalTaskPool() { Shutdown(); }

  void Post(std::function<void()> job) {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_) return;
    queue_.push_back(std::move(job));
    if (idle_ > 0) cv_.notify_one();
    if (queue_.size() > idle_) MaybeStartThreadLocked();
  }

  /// True on one of this pool's threads.
  bool OnPoolThread() const { return current_pool_ == this; }

  void Blocked() {
    std::lock_guard<std::mutex> lock(mu_);
    ++blocked_;
    if (queue_.size() > idle_) MaybeStartThreadLocked();
  }
  void Unblocked() {
    std::lock_guard<std::mutex> lock(mu_);
    --blocked_;
  }

  /// Drops queued jobs and joins every thread (not the calling one, should a
  /// task call ray::Shutdown()).
  void Shutdown() {
    std::deque<std::function<void()>> dropped;
    std::list<std::thread> threads;
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
      dropped.swap(queue_);
      threads.swap(threads_);
      cv_.notify_all();
    }
    dropped.clear();
    JoinAllButCaller(&threads);
  }

 private:
  void MaybeStartThreadLocked() {
    if (stop_ || running_ - blocked_ >= size_) return;
    // Reap threads that left the pool (they only unlock and return).
    for (auto it = threads_.begin(); it != threads_.end();) {
      if (std::find(exited_.begin(), exited_.end(), it->get_id()) != exited_.end()) {
        it->join();
        it = threads_.erase(it);
      } else {
        ++it;
      }
    }
    exited_.clear();
    ++running_;
    threads_.emplace_back([this] { Run(); });
  }

  void Run() {
    current_pool_ = this;
    std::unique_lock<std::mutex> lock(mu_);
    while (!stop_) {
      if (!queue_.empty()) {
        auto job = std::move(queue_.front());
        queue_.pop_front();
        lock.unlock();
        job();
        job = nullptr;  // the job's captures go before the lock is taken again
        lock.lock();
        continue;
      }
      if (running_ - blocked_ > size_) break;  // started while others were blocked
      ++idle_;
      cv_.wait(lock);
      --idle_;
    }
    --running_;
    if (!stop_) exited_.push_back(std::this_thread::get_id());
  }

  static thread_local const LocalTaskPool *current_pool_;
  const size_t size_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  size_t running_ = 0;  // threads inside Run()
  size_t blocked_ = 0;  // of those, blocked in Get/Wait
  size_t idle_ = 0;     // of those, waiting for work
  std::deque<std::function<void()>> queue_;
  std::list<std::thread> threads_;
  std::vector<std::thread::id> exited_;
};

thread_local const LocalTaskPool *LocalTaskPool::current_pool_ = nullptr;

// -------------------------------------------------------------- object table

/// The in-memory object store with reference counts. An object stays while it
/// has local references (ObjectRef copies) or pins (calls that take it as an
/// argument, objects that contain it). Its entry is made when the object is
/// created (a Put, or a call's pending return) and goes when the last of these
/// references is dropped.
class LocalObjectTable {
 public:
  struct Object {
    std::shared_ptr<const std::string> bytes;  // set when error is OK
    Status error;
  };
  /// Called with +1 before a Get/Wait sleeps and -1 after.
  using BlockHook = std::function<void(int)>;

  explicit LocalObjectTable(BlockHook hook) : block_hook_(std::move(hook)) {}

  void CreatePending(const std::string &id) {
    std::lock_guard<std::mutex> lock(mu_);
    Entry &e = entries_[id];
    if (!closed_.ok()) {  // after Shutdown nothing would ever finish it
      e.object.error = closed_;
      e.ready = true;
    }
  }

  /// Makes a pending object ready. `nested` (the refs inside the value) must
  /// be pinned by the caller already; the object takes those pins over. The
  /// first result wins; a result for an object nobody references any more is
  /// dropped.
  void SetValue(const std::string &id, std::string bytes, const std::vector<std::string> &nested) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = entries_.find(id);
    if (it == entries_.end() || it->second.ready) {
      for (auto &n : nested) UnpinLocked(n);
      return;
    }
    it->second.object.bytes = std::make_shared<const std::string>(std::move(bytes));
    it->second.nested = nested;
    MarkReadyLocked(it->second);
  }
  void SetError(const std::string &id, const Status &error) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = entries_.find(id);
    if (it == entries_.end() || it->second.ready) return;
    it->second.object.error = error;
    MarkReadyLocked(it->second);
  }

  /// Fails every pending object (Shutdown), waking every Get and Wait.
  void FailAllPending(const Status &error) {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = error;
    for (auto &[id, e] : entries_) {
      if (e.ready) continue;
      e.object.error = error;
      e.ready = true;
    }
    cv_.notify_all();
  }

  Status Get(const std::vector<std::string> &ids, int timeout_ms, std::vector<Object> *out) {
    std::unique_lock<std::mutex> lock(mu_);
    auto all_ready = [&] {
      for (auto &id : ids) {
        auto it = entries_.find(id);
        if (it != entries_.end() && !it->second.ready) return false;
      }
      return true;
    };
    if (!all_ready() && !SleepUntil(lock, DeadlineAfter(timeout_ms), all_ready)) {
      for (auto &id : ids) {
        auto it = entries_.find(id);
        if (it != entries_.end() && !it->second.ready)
          return Status::TimedOut("Get object error: object " + ToHex(id) + " was not ready after " +
                                  std::to_string(timeout_ms) + " ms");
      }
    }
    out->clear();
    for (auto &id : ids) {
      auto it = entries_.find(id);
      out->push_back(it == entries_.end() ? LostObject(id) : it->second.object);
    }
    return Status::OK();
  }

  std::vector<bool> Wait(const std::vector<std::string> &ids, int num_objects, int timeout_ms) {
    std::vector<bool> ready(ids.size(), false);
    std::unique_lock<std::mutex> lock(mu_);
    auto enough = [&] {
      int n = 0;
      for (size_t i = 0; i < ids.size(); ++i) {
        auto it = entries_.find(ids[i]);
        ready[i] = it == entries_.end() || it->second.ready;  // a freed object reads as lost: ready
        n += ready[i];
      }
      return n >= num_objects;
    };
    if (!enough()) SleepUntil(lock, DeadlineAfter(timeout_ms), enough);
    enough();
    return ready;
  }

  void AddLocal(const std::string &id) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = entries_.find(id);
    if (it == entries_.end()) {
      // Freed, from an earlier session, or never existed: a ref to it reads as lost.
      it = entries_.emplace(id, Entry()).first;
      it->second.object = LostObject(id);
      it->second.ready = true;
    }
    it->second.local++;
  }
  void RemoveLocal(const std::string &id) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = entries_.find(id);
    if (it == entries_.end() || it->second.local == 0) return;
    it->second.local--;
    MaybeFreeLocked(id);
  }
  void Pin(const std::vector<std::string> &ids) {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto &id : ids) PinLocked(id);
  }
  void Unpin(const std::vector<std::string> &ids) {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto &id : ids) UnpinLocked(id);
  }

  /// While one lives on a thread, objects whose references that thread drops
  /// are freed only when it ends: a call's result may hold the last reference
  /// to an object its function created (returning ray::Put(x)), and the
  /// function's copy dies before the result is stored and pins it.
  class DeferFrees {
   public:
    explicit DeferFrees(LocalObjectTable *table) : table_(table), outer_(deferred_) { deferred_ = &ids_; }
    ~DeferFrees() {
      deferred_ = outer_;
      std::lock_guard<std::mutex> lock(table_->mu_);
      for (auto &id : ids_) table_->MaybeFreeLocked(id);
    }
    DeferFrees(const DeferFrees &) = delete;
    DeferFrees &operator=(const DeferFrees &) = delete;

   private:
    LocalObjectTable *table_;
    std::vector<std::string> *outer_;
    std::vector<std::string> ids_;
  };

 private:
  struct Entry {
    bool ready = false;
    Object object;
    int64_t local = 0;
    int64_t pins = 0;
    std::vector<std::string> nested;  // objects this one contains (pinned by it)
  };

  static Object LostObject(const std::string &id) {
    return {nullptr, Status(StatusCode::kObjectLost, "Object " + ToHex(id) +
                                                         " was freed (no reference to it remained) or "
                                                         "never existed.")};
  }

  void MarkReadyLocked(Entry &e) {
    e.ready = true;
    cv_.notify_all();
  }

  template <typename Pred>
  bool SleepUntil(std::unique_lock<std::mutex> &lock, Clock::time_point deadline, Pred pred) {
    block_hook_(+1);
    bool ok = true;
    if (deadline == Clock::time_point::max()) {
      cv_.wait(lock, pred);
    } else {
      ok = cv_.wait_until(lock, deadline, pred);
    }
    block_hook_(-1);
    return ok;
  }

  void PinLocked(const std::string &id) {
    auto it = entries_.find(id);
    if (it != entries_.end()) it->second.pins++;
  }
  void UnpinLocked(const std::string &id) {
    auto it = entries_.find(id);
    if (it == entries_.end() || it->second.pins == 0) return;
    it->second.pins--;
    MaybeFreeLocked(id);
  }

  void MaybeFreeLocked(const std::string &id) {
    auto it = entries_.find(id);
    if (it == entries_.end() || it->second.local > 0 || it->second.pins > 0) return;
    if (deferred_) {
      deferred_->push_back(id);
      return;
    }
    std::vector<std::string> nested = std::move(it->second.nested);
    entries_.erase(it);
    for (auto &n : nested) UnpinLocked(n);
  }

  static thread_local std::vector<std::string> *deferred_;
  const BlockHook block_hook_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::unordered_map<std::string, Entry> entries_;
  Status closed_;  // set by FailAllPending
};

thread_local std::vector<std::string> *LocalObjectTable::deferred_ = nullptr;

// -------------------------------------------------------------- calls, actors

struct LocalCall {
  InvokeKind kind = InvokeKind::kTask;
  std::string function_name;
  std::vector<TaskArg> args;
  std::vector<std::string> pinned;  // by-reference and nested argument ids
  TaskID task_id;
  std::string return_id;  // empty for a constructor
  ResourceMap resources;  // what a task asked for (a method: none of its own)
};

struct LocalActor {
  enum class State { kCreating, kAlive, kDead };
  std::string id;
  std::string name;  // empty when unnamed
  std::string ray_namespace;
  int max_concurrency = 1;
  ResourceMap resources;  // what it asked to hold for its life
  // Guarded by LocalModeRuntime::mu_.
  State state = State::kCreating;
  std::string death_cause;
  // What the factory made; destroyed by the last of the actor's threads to
  // leave (no method runs then), outside mu_: the destructor is user code
  // that may call the API.
  uint64_t instance = 0;
  ray::internal::ActorDeleter deleter = nullptr;
  std::deque<std::shared_ptr<LocalCall>> queue;
  std::vector<std::shared_ptr<LocalCall>> running;
  // max_concurrency threads on this actor's queue, not a pool's: they end
  // with the actor, and a method may shut the runtime down from one of them
  // (which is then detached, not joined).
  std::vector<std::thread> threads;
  int live_threads = 0;
  std::condition_variable cv;
};

namespace {
// The actor whose method this thread runs (for ray::ExitActor()).
thread_local LocalActor *t_current_actor = nullptr;
// The call this thread runs, for the runtime context.
thread_local const LocalCall *t_current_call = nullptr;
}  // namespace

// ------------------------------------------------------------------ runtime

LocalModeRuntime::LocalModeRuntime(std::string ray_namespace, ResourceMap resources)
    : namespace_(std::move(ray_namespace)),
      resources_(std::move(resources)),
      pool_(std::make_unique<LocalTaskPool>(kTaskThreads)) {
  LocalTaskPool *pool = pool_.get();
  objects_ = std::make_unique<LocalObjectTable>([pool](int delta) {
    if (!pool->OnPoolThread()) return;
    if (delta > 0) {
      pool->Blocked();
    } else {
      pool->Unblocked();
    }
  });
}

LocalModeRuntime::~LocalModeRuntime() { Shutdown(); }

void LocalModeRuntime::Shutdown() {
  std::vector<std::thread> actor_threads;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (shut_down_) return;
    shut_down_ = true;
    for (auto &[id, actor] : actors_) {
      if (actor->state != LocalActor::State::kDead) MarkActorDeadLocked(*actor, kShutdownMessage);
      for (auto &t : actor->threads) actor_threads.push_back(std::move(t));
      actor->threads.clear();
    }
  }
  objects_->FailAllPending(Status(StatusCode::kCancelled, kShutdownMessage));
  pool_->Shutdown();
  JoinAllButCaller(&actor_threads);  // ray::Shutdown() may run in an actor method
}

void LocalModeRuntime::CheckRunning() const {
  std::lock_guard<std::mutex> lock(mu_);
  if (shut_down_) throw RayException(std::string("Local mode: ") + kShutdownMessage);
}

TaskID LocalModeRuntime::NewTaskId() {
  std::lock_guard<std::mutex> lock(mu_);
  return TaskID::Of(driver_id_, ++next_seq_);
}

std::string LocalModeRuntime::NewObjectId() { return ObjectID::ForTaskReturn(NewTaskId(), 1).Binary(); }

// ---- objects

std::string LocalModeRuntime::Put(std::shared_ptr<msgpack::sbuffer> data,
                                  const std::vector<std::string> &nested_ids) {
  return PutSerialized(
      data->size(), [&data](char *dst) { lumen::ParallelCopy(dst, data->data(), data->size()); }, nested_ids);
}

std::string LocalModeRuntime::PutSerialized(size_t size, const SerializedWriter &write,
                                            const std::vector<std::string> &nested_ids) {
  std::string bytes(size, '\0');
  write(&bytes[0]);  // may throw: nothing is stored then
  std::string id = NewObjectId();
  objects_->CreatePending(id);
  objects_->Pin(nested_ids);
  objects_->SetValue(id, std::move(bytes), nested_ids);
  return id;
}

std::shared_ptr<ray::internal::Buffer> LocalModeRuntime::Get(const std::string &id, int timeout_ms) {
  return Get(std::vector<std::string>{id}, timeout_ms)[0];
}

std::vector<std::shared_ptr<ray::internal::Buffer>> LocalModeRuntime::Get(const std::vector<std::string> &ids,
                                                                          int timeout_ms) {
  CheckObjectIds(ids, "Get");
  std::vector<LocalObjectTable::Object> objects;
  Status st = objects_->Get(ids, timeout_ms, &objects);
  if (!st.ok()) ThrowStatus(st);
  std::vector<std::shared_ptr<ray::internal::Buffer>> out;
  out.reserve(objects.size());
  for (auto &o : objects) {
    if (!o.error.ok()) ThrowStatus(o.error);
    out.push_back(std::make_shared<LocalBuffer>(std::move(o.bytes)));
  }
  return out;
}

std::vector<bool> LocalModeRuntime::Wait(const std::vector<std::string> &ids, int num_objects,
                                         int timeout_ms) {
  CheckWaitArgs(ids, num_objects);
  auto ready = objects_->Wait(ids, num_objects, timeout_ms);
  KeepFirstReady(num_objects, &ready);
  return ready;
}

void LocalModeRuntime::AddLocalReference(const std::string &id) { objects_->AddLocal(id); }
void LocalModeRuntime::RemoveLocalReference(const std::string &id) { objects_->RemoveLocal(id); }

// ---- calls

std::shared_ptr<LocalCall> LocalModeRuntime::MakeCall(InvokeKind kind,
                                                      const ray::internal::RemoteFunctionHolder &fn,
                                                      std::vector<TaskArg> &args) {
  CheckRunning();
  auto call = std::make_shared<LocalCall>();
  call->kind = kind;
  call->function_name = fn.function_name;
  call->args = std::move(args);
  for (auto &a : call->args) {
    if (!a.object_id.empty()) call->pinned.push_back(a.object_id);
    for (auto &n : a.nested_ids) call->pinned.push_back(n);
  }
  objects_->Pin(call->pinned);
  call->task_id = NewTaskId();
  if (call->kind != InvokeKind::kActorCreation) {
    call->return_id = ObjectID::ForTaskReturn(call->task_id, 1).Binary();
    objects_->CreatePending(call->return_id);
  }
  return call;
}

void LocalModeRuntime::RunCall(LocalCall &call, uint64_t actor_instance, InvokeOutcome *out) {
  // Resolve by-reference arguments; a failed one fails the call with its error.
  std::vector<LocalObjectTable::Object> resolved(call.args.size());
  std::vector<ray::internal::ArgView> views;
  views.reserve(call.args.size());
  Status failed;
  for (size_t i = 0; i < call.args.size() && failed.ok(); ++i) {
    const TaskArg &a = call.args[i];
    if (a.object_id.empty()) {
      views.push_back({a.value->data(), a.value->size(), {}, nullptr});
      continue;
    }
    std::vector<LocalObjectTable::Object> got;
    failed = objects_->Get({a.object_id}, -1, &got);
    if (failed.ok()) failed = got[0].error;
    if (failed.ok()) {
      resolved[i] = std::move(got[0]);
      views.push_back({resolved[i].bytes->data(), resolved[i].bytes->size(), a.object_id, resolved[i].bytes});
    }
  }
  {
    LocalObjectTable::DeferFrees defer(objects_.get());
    if (failed.ok()) {
      t_current_call = &call;
      InvokeRegisteredFunction(call.kind, call.function_name, actor_instance, views, out);
      t_current_call = nullptr;
      // Pin the refs inside the result before the function's own copies go.
      if (out->code == InvokeOutcome::kOk) objects_->Pin(out->nested);
    }
    resolved.clear();
    objects_->Unpin(call.pinned);
  }
  // The arguments are released before the result shows, so whoever sees the
  // result sees them gone.
  if (!failed.ok()) {
    out->code = InvokeOutcome::kUserException;  // the dependency's error, passed on
    out->message = failed.message();
    objects_->SetError(call.return_id, failed);
    return;
  }
  switch (out->code) {
    case InvokeOutcome::kOk:
      if (call.return_id.empty()) {
        objects_->Unpin(out->nested);
      } else {
        // A large result is serialized here, as a cluster worker serializes
        // it into the store: user adaptors run again and may throw.
        std::string bytes(out->data.size(), '\0');
        try {
          out->data.WriteTo(bytes.data());
          objects_->SetValue(call.return_id, std::move(bytes), out->nested);
        } catch (const std::exception &e) {
          objects_->Unpin(out->nested);
          objects_->SetError(call.return_id,
                             Status(StatusCode::kTaskError,
                                    "Failed to store the result of " + call.function_name + ": " + e.what()));
        }
      }
      break;
    case InvokeOutcome::kNotFound:
    case InvokeOutcome::kUserException:
      objects_->SetError(call.return_id, Status(StatusCode::kTaskError, out->message));
      break;
    case InvokeOutcome::kActorExited:
      objects_->SetError(call.return_id, Status(StatusCode::kActorDied, out->message));
      break;
  }
}

std::string LocalModeRuntime::Call(const ray::internal::RemoteFunctionHolder &fn, std::vector<TaskArg> &args,
                                   const ray::internal::CallOptions &options) {
  // Resources, names, runtime_env and placement groups do not apply here,
  // but are checked as on a cluster.
  CheckCppFunction(fn, "calls");
  CheckTaskCall(args, options);
  auto call = MakeCall(InvokeKind::kTask, fn, args);
  call->resources.insert(options.resources.begin(), options.resources.end());
  if (call->resources.empty()) call->resources["CPU"] = 1;  // a task's default, as on a cluster
  std::string id = call->return_id;
  pool_->Post([this, call] {
    InvokeOutcome out;
    RunCall(*call, 0, &out);
  });
  return id;
}

// ---- actors

std::string LocalModeRuntime::CreateActor(const ray::internal::RemoteFunctionHolder &fn,
                                          std::vector<TaskArg> &args,
                                          const ray::internal::ActorCreationOptions &options) {
  CheckCppFunction(fn, "actors");
  CheckActorCreation(args, options);
  auto actor = std::make_shared<LocalActor>();
  actor->id = ActorID::FromRandom().Binary();
  actor->name = options.name;
  actor->ray_namespace = options.ray_namespace.empty() ? namespace_ : options.ray_namespace;
  actor->max_concurrency = options.max_concurrency;
  actor->resources.insert(options.resources.begin(), options.resources.end());
  auto creation = MakeCall(InvokeKind::kActorCreation, fn, args);
  std::vector<std::thread> reaped;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (shut_down_) {
      objects_->Unpin(creation->pinned);
      throw RayException(std::string("Local mode: ") + kShutdownMessage);
    }
    if (!actor->name.empty()) {
      auto key = std::make_pair(actor->ray_namespace, actor->name);
      if (actor_names_.count(key)) {
        objects_->Unpin(creation->pinned);
        throw RayException("Failed to create actor: An actor named '" + actor->name +
                           "' already exists in namespace '" + actor->ray_namespace + "'");
      }
      actor_names_[key] = actor->id;
    }
    // Dead actors whose threads have all left: join those threads now.
    for (auto &[id, a] : actors_) {
      if (a->state != LocalActor::State::kDead || a->live_threads > 0) continue;
      for (auto &t : a->threads) reaped.push_back(std::move(t));
      a->threads.clear();
    }
    actors_[actor->id] = actor;
    actor->live_threads = 1;
    actor->threads.emplace_back([this, actor, creation] { RunActor(actor, creation); });
  }
  for (auto &t : reaped) t.join();
  return actor->id;
}

void LocalModeRuntime::RunActor(const std::shared_ptr<LocalActor> &actor,
                                const std::shared_ptr<LocalCall> &creation) {
  t_current_actor = actor.get();
  std::unique_lock<std::mutex> lock(mu_);
  if (creation && actor->state == LocalActor::State::kDead) {
    objects_->Unpin(creation->pinned);  // killed before it was constructed
  } else if (creation) {
    lock.unlock();
    InvokeOutcome out;
    RunCall(*creation, 0, &out);
    lock.lock();
    if (out.code == InvokeOutcome::kOk) {
      // Kept even when the actor was killed meanwhile: it is destroyed below.
      actor->instance = out.actor_instance;
      actor->deleter = out.actor_deleter;
    }
    if (actor->state == LocalActor::State::kCreating) {
      if (out.code == InvokeOutcome::kOk) {
        actor->state = LocalActor::State::kAlive;
        for (int i = 1; i < actor->max_concurrency; ++i) {
          actor->live_threads++;
          actor->threads.emplace_back([this, actor] { RunActor(actor, nullptr); });
        }
      } else {
        MarkActorDeadLocked(*actor, "The actor died because its constructor failed: " + out.message);
      }
    }
  }
  while (true) {
    actor->cv.wait(lock, [&] { return actor->state == LocalActor::State::kDead || !actor->queue.empty(); });
    if (actor->state == LocalActor::State::kDead) break;
    auto call = std::move(actor->queue.front());
    actor->queue.pop_front();
    actor->running.push_back(call);
    const uint64_t instance = actor->instance;
    lock.unlock();
    InvokeOutcome out;
    RunCall(*call, instance, &out);
    lock.lock();
    actor->running.erase(std::find(actor->running.begin(), actor->running.end(), call));
    if (out.code == InvokeOutcome::kActorExited && actor->state != LocalActor::State::kDead)
      MarkActorDeadLocked(*actor, out.message);
  }
  t_current_actor = nullptr;
  if (actor->live_threads == 1 && actor->instance != 0) {
    // The last thread out: no method runs any more. Still counted while the
    // destructor runs, so that no one reaps (joins) this thread meanwhile.
    const uint64_t instance = std::exchange(actor->instance, 0);
    const ray::internal::ActorDeleter deleter = actor->deleter;
    lock.unlock();
    if (deleter != nullptr) deleter(instance);
    lock.lock();
  }
  actor->live_threads--;
}

void LocalModeRuntime::MarkActorDeadLocked(LocalActor &actor, const std::string &cause) {
  actor.state = LocalActor::State::kDead;
  actor.death_cause = cause;
  if (!actor.name.empty()) {
    auto it = actor_names_.find({actor.ray_namespace, actor.name});
    if (it != actor_names_.end() && it->second == actor.id) actor_names_.erase(it);
  }
  Status died(StatusCode::kActorDied, cause);
  // Running calls fail now too (as a killed actor's process would); their
  // threads finish the call and leave, and their results are dropped.
  for (auto &call : actor.running) objects_->SetError(call->return_id, died);
  for (auto &call : actor.queue) {
    if (!call->return_id.empty()) objects_->SetError(call->return_id, died);
    objects_->Unpin(call->pinned);
  }
  actor.queue.clear();
  actor.cv.notify_all();
}

std::string LocalModeRuntime::CallActor(const ray::internal::RemoteFunctionHolder &fn,
                                        const std::string &actor_id, std::vector<TaskArg> &args,
                                        const ray::internal::CallOptions &options) {
  CheckCppFunction(fn, "actor calls");
  CheckActorId(actor_id, "Calling an actor");
  CheckTaskCall(args, options);
  auto call = MakeCall(InvokeKind::kActorMethod, fn, args);
  std::lock_guard<std::mutex> lock(mu_);
  auto it = actors_.find(actor_id);
  if (it == actors_.end() || it->second->state == LocalActor::State::kDead) {
    std::string cause = it == actors_.end()
                            ? "No actor with id " + ToHex(actor_id) + " exists in this process."
                            : it->second->death_cause;
    objects_->SetError(call->return_id, Status(StatusCode::kActorDied, cause));
    objects_->Unpin(call->pinned);
  } else {
    it->second->queue.push_back(call);
    it->second->cv.notify_one();
  }
  return call->return_id;
}

std::string LocalModeRuntime::GetActorId(const std::string &actor_name, const std::string &ray_namespace) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = actor_names_.find({ray_namespace.empty() ? namespace_ : ray_namespace, actor_name});
  return it == actor_names_.end() ? std::string() : it->second;
}

void LocalModeRuntime::KillActor(const std::string &actor_id, bool) {
  // There are no restarts in local mode: a kill is always for good.
  CheckActorId(actor_id, "Kill");
  std::lock_guard<std::mutex> lock(mu_);
  auto it = actors_.find(actor_id);
  if (it == actors_.end()) throw RayException("Kill failed: no actor with id " + ToHex(actor_id));
  if (it->second->state != LocalActor::State::kDead)
    MarkActorDeadLocked(*it->second, "The actor was killed by ray::ActorHandle::Kill.");
}

void LocalModeRuntime::ExitActor() {
  if (!t_current_actor) throw std::logic_error("ray::ExitActor() can only be called from an actor method");
  throw IntentionalActorExit{};
}

// ---- runtime context and cluster views: this process is the one node

ray::internal::ContextIds LocalModeRuntime::GetContextIds() {
  ray::internal::ContextIds ids;
  ids.job_id = JobIdHex(kLocalJobId);
  ids.node_id = node_id_.Hex();
  if (t_current_call) ids.task_id = t_current_call->task_id.Hex();
  if (t_current_actor) ids.actor_id = ActorID::FromBinary(t_current_actor->id).Hex();
  ids.worker_id = driver_id_.Hex();
  return ids;
}

ResourceMap LocalModeRuntime::GetAssignedResources() {
  if (!t_current_call) return {};
  return t_current_actor ? t_current_actor->resources : t_current_call->resources;
}

std::vector<ray::NodeInfo> LocalModeRuntime::GetNodes() {
  ray::NodeInfo node;
  node.node_id = node_id_.Hex();
  node.alive = true;
  node.address = "127.0.0.1";
  node.resources = resources_;
  return {node};
}

// Nothing is taken from the node in local mode (tasks run on the pool
// whatever they ask for), so all of it is always free.
ResourceMap LocalModeRuntime::GetAvailableResources() {
  ResourceMap available;
  for (auto &[name, amount] : resources_)
    if (amount > 0) available[name] = amount;
  return available;
}

// ---- the internal KV store: a table in this process

bool LocalModeRuntime::KvPut(const std::string &ns, const std::string &key, const std::string &value,
                             bool overwrite) {
  std::lock_guard<std::mutex> lock(mu_);
  auto [it, added] = kv_.try_emplace({ns, key}, value);
  if (!added && overwrite) it->second = value;
  return added;
}

std::optional<std::string> LocalModeRuntime::KvGet(const std::string &ns, const std::string &key) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = kv_.find({ns, key});
  if (it == kv_.end()) return std::nullopt;
  return it->second;
}

int LocalModeRuntime::KvDel(const std::string &ns, const std::string &key) {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int>(kv_.erase({ns, key}));
}

std::vector<std::string> LocalModeRuntime::KvKeys(const std::string &ns, const std::string &prefix) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> keys;
  for (auto it = kv_.lower_bound({ns, prefix});
       it != kv_.end() && it->first.first == ns && it->first.second.compare(0, prefix.size(), prefix) == 0;
       ++it)
    keys.push_back(it->first.second);
  return keys;
}

// ---- placement groups (a table only: nothing is reserved in local mode)

ray::PlacementGroup LocalModeRuntime::CreatePlacementGroup(
    const ray::PlacementGroupCreationOptions &options) {
  CheckPlacementGroup(options);
  std::lock_guard<std::mutex> lock(mu_);
  if (shut_down_) throw RayException(std::string("Local mode: ") + kShutdownMessage);
  if (!options.name.empty()) {
    for (auto &[id, g] : groups_) {
      if (g.GetName() == options.name && g.GetState() != ray::PlacementGroupState::REMOVED)
        throw RayException("Failed to create placement group: " + PlacementGroupNameTaken(options.name));
    }
  }
  std::string id = NewPlacementGroupId();
  ray::PlacementGroup group(id, options, ray::PlacementGroupState::CREATED);
  groups_[id] = group;
  return group;
}

void LocalModeRuntime::RemovePlacementGroup(const std::string &group_id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = groups_.find(group_id);
  if (it == groups_.end()) return;  // as the control service: removing an unknown group does nothing
  it->second =
      ray::PlacementGroup(group_id, {it->second.GetName(), it->second.GetBundles(), it->second.GetStrategy()},
                          ray::PlacementGroupState::REMOVED);
}

bool LocalModeRuntime::WaitPlacementGroupReady(const std::string &group_id, int64_t) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = groups_.find(group_id);
  return it != groups_.end() && it->second.GetState() == ray::PlacementGroupState::CREATED;
}

std::vector<ray::PlacementGroup> LocalModeRuntime::GetAllPlacementGroups() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<ray::PlacementGroup> out;
  for (auto &[id, g] : groups_) out.push_back(g);
  return out;
}

ray::PlacementGroup LocalModeRuntime::GetPlacementGroupById(const std::string &id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = groups_.find(id);
  return it == groups_.end() ? ray::PlacementGroup() : it->second;
}

ray::PlacementGroup LocalModeRuntime::GetPlacementGroup(const std::string &name) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto &[id, g] : groups_)
    if (g.GetName() == name && g.GetState() != ray::PlacementGroupState::REMOVED) return g;
  return ray::PlacementGroup();
}

}  // namespace lumen::api
