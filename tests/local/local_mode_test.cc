// Local mode (RayConfig::local_mode = true) through the public API only:
// tasks, objects, ObjectRef arguments and parameters, actors, placement
// groups, Init/Shutdown, and that everything runs inside this process.
#include <dirent.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <fstream>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <gtest/gtest.h>
#include <ray/api.h>

namespace {

using ray::internal::RayActorException;
using ray::internal::RayException;
using ray::internal::RayTaskException;
using ray::internal::RayTimeoutException;
using ray::internal::UnreconstructableException;
// How long a test waits for something that must happen: only a hang reaches it.
constexpr std::chrono::seconds kHangLimit{60};

// A gate that tasks wait on; tests open it. Waits are bounded so that a
// failing test cannot hang the suite, and long enough that only a hang ends one.
class Gate {
 public:
  void Open() {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  // Closes the gate for the next test. Whoever still waits from an earlier
  // one (a task that an opened gate had notified but that had not yet woken)
  // is let through rather than shut in again.
  void Reset() {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = false;
    ++round_;
    cv_.notify_all();
  }
  bool WaitOpen() {
    std::unique_lock<std::mutex> lock(mu_);
    const int round = round_;
    return cv_.wait_for(lock, kHangLimit, [&] { return open_ || round_ != round; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
  int round_ = 0;
};
Gate g_gate;

// A barrier only work running in parallel passes: each caller waits until
// `n` callers are inside at once, and says whether that happened.
class Rendezvous {
 public:
  bool Arrive(int n) {
    std::unique_lock<std::mutex> lock(mu_);
    ++inside_;
    cv_.notify_all();
    return cv_.wait_for(lock, kHangLimit, [&] { return inside_ >= n; });
  }
  void Reset() {
    std::lock_guard<std::mutex> lock(mu_);
    inside_ = 0;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int inside_ = 0;
};
Rendezvous g_rendezvous;

int Return1() { return 1; }
int Plus1(int x) { return x + 1; }
int Plus(int a, int b) { return a + b; }
int GetPid() { return static_cast<int>(getpid()); }
int Throws(int) { throw std::logic_error("deliberate failure"); }
int WaitGate(int x) { return g_gate.WaitOpen() ? x : -1; }
bool Rendezvous4() { return g_rendezvous.Arrive(4); }
int SleepMs(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return ms;
}
std::string GetVal(ray::ObjectRef<std::string> ref) { return *ref.Get(); }
int GetIntVal(ray::ObjectRef<ray::ObjectRef<int>> ref) { return *ref.Get()->Get(); }
int GetList(int base, std::vector<ray::ObjectRef<int>> refs) {
  int sum = base;
  for (auto &v : ray::Get(refs)) sum += *v;
  return sum;
}
// Waits briefly on a ref the test keeps blocked: nothing is ready yet.
int ReadyCount(ray::ObjectRef<int> ref) {
  std::vector<ray::ObjectRef<int>> refs{ref};
  return static_cast<int>(ray::Wait(refs, 1, 50).ready.size());
}
// Each level waits on the next: deeper than the pool's 10 threads.
int Depth(int n) { return n == 0 ? 0 : *ray::Task(Depth).Remote(n - 1).Get() + 1; }
int SumOfChildren(int n) {
  std::vector<ray::ObjectRef<int>> refs;
  for (int i = 0; i < n; ++i) refs.push_back(ray::Task(Plus1).Remote(i));
  int sum = 0;
  for (auto &v : ray::Get(refs)) sum += *v;
  return sum;
}
// The returned ref is the only reference to the Put object.
ray::ObjectRef<int> MakeRef(int x) { return ray::Put(x); }
std::string Namespace() { return ray::GetNamespace(); }
void ExitOutsideActor() { ray::ExitActor(); }

class Counter {
 public:
  explicit Counter(int init) : count_(init) {}
  static Counter *FactoryCreate(int init) { return new Counter(init); }
  static Counter *FactoryThrows(int) { throw std::runtime_error("no counter today"); }
  int Add(int x) {
    count_ += x;
    return count_;
  }
  int Get() { return count_; }
  int AddRef(ray::ObjectRef<int> ref) { return Add(*ref.Get()); }
  int Exit() {
    ray::ExitActor();
    return 0;
  }
  int Pid() { return GetPid(); }
  std::string Ns() { return ray::GetNamespace(); }
  bool Restarted() { return ray::WasCurrentActorRestarted(); }
  // Meets the test (Rendezvous of two), then blocks on the gate.
  int Gated() {
    g_rendezvous.Arrive(2);
    return WaitGate(1);
  }
  // Returns true only if `n` calls are inside at the same time.
  bool Latch(int n) {
    std::unique_lock<std::mutex> lock(mu_);
    ++inside_;
    cv_.notify_all();
    return cv_.wait_for(lock, kHangLimit, [&] { return inside_ >= n; });
  }
  int CallOther(ray::ActorHandle<Counter> other) { return *other.Task(&Counter::Add).Remote(1).Get(); }

 private:
  int count_;
  std::mutex mu_;
  std::condition_variable cv_;
  int inside_ = 0;
};

// Which Tracked actors were destroyed, and what their destructor's call
// into the API returned (-1: it threw).
class Destroyed {
 public:
  void Note(const std::string &name, int api_result) {
    std::lock_guard<std::mutex> lock(mu_);
    results_[name] = api_result;
    cv_.notify_all();
  }
  bool Has(const std::string &name) {
    std::lock_guard<std::mutex> lock(mu_);
    return results_.count(name) > 0;
  }
  // Waits until `name` was destroyed; its API result, or -2 if it never was.
  int Wait(const std::string &name) {
    std::unique_lock<std::mutex> lock(mu_);
    if (!cv_.wait_for(lock, kHangLimit, [&] { return results_.count(name) > 0; })) return -2;
    return results_[name];
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, int> results_;
};
Destroyed g_destroyed;

// An actor whose destructor says so, after using the API (it is user code
// like any other: the runtime must not hold its own locks around it).
class Tracked {
 public:
  explicit Tracked(std::string name) : name_(std::move(name)) {}
  ~Tracked() {
    int api_result;
    try {
      api_result = *ray::Task(Plus1).Remote(1).Get();
    } catch (const std::exception &) {
      api_result = -1;
    }
    g_destroyed.Note(name_, api_result);
  }
  static Tracked *Make(std::string name) { return new Tracked(std::move(name)); }
  std::string Name() { return name_; }
  void Exit() { ray::ExitActor(); }

 private:
  std::string name_;
};

RAY_REMOTE(Return1, Plus1, Plus, GetPid, Throws, WaitGate, Rendezvous4, SleepMs, GetVal, GetIntVal, GetList,
           ReadyCount, Depth, SumOfChildren, MakeRef, Namespace, ExitOutsideActor);
RAY_REMOTE(Counter::FactoryCreate, Counter::FactoryThrows, &Counter::Add, &Counter::Get, &Counter::AddRef,
           &Counter::Exit, &Counter::Pid, &Counter::Ns, &Counter::Restarted, &Counter::Gated, &Counter::Latch,
           &Counter::CallOther);
RAY_REMOTE(Tracked::Make, &Tracked::Name, &Tracked::Exit);

void InitLocal() {
  ray::RayConfig config;
  config.local_mode = true;
  ray::Init(config);
}

// Child processes of this process, from /proc.
int CountChildren() {
  int count = 0;
  const std::string me = std::to_string(getpid());
  DIR *dir = opendir("/proc");
  while (auto *entry = dir ? readdir(dir) : nullptr) {
    std::ifstream stat(std::string("/proc/") + entry->d_name + "/stat");
    std::string line;
    if (!std::getline(stat, line)) continue;
    // Fields after the parenthesised command: state ppid ...
    std::istringstream rest(line.substr(line.rfind(')') + 1));
    std::string state, ppid;
    rest >> state >> ppid;
    if (ppid == me) ++count;
  }
  if (dir) closedir(dir);
  return count;
}

class LocalModeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    InitLocal();
    g_gate.Reset();
    g_rendezvous.Reset();
  }
};

TEST_F(LocalModeTest, IsLocalModeAndInitTwiceIsANoOp) {
  auto runtime = ray::internal::GetRayRuntime();
  ASSERT_TRUE(runtime);
  EXPECT_TRUE(runtime->IsLocalMode());
  InitLocal();
  EXPECT_EQ(ray::internal::GetRayRuntime(), runtime);
  EXPECT_TRUE(ray::IsInitialized());
}

TEST_F(LocalModeTest, TheInternalKvStoreIsATableInTheProcess) {
  namespace kv = ray::experimental;
  EXPECT_TRUE(kv::InternalKvPut("a/1", "x", true, "local"));
  EXPECT_FALSE(kv::InternalKvPut("a/1", "y", false, "local"));
  EXPECT_EQ(kv::InternalKvGet("a/1", "local").value_or(""), "x");
  kv::InternalKvPut("a/2", "z", true, "local");
  kv::InternalKvPut("b/1", "z", true, "local");
  EXPECT_EQ(kv::InternalKvList("a/", "local").size(), 2u);
  EXPECT_FALSE(kv::InternalKvExists("a/1", "elsewhere"));
  EXPECT_EQ(kv::InternalKvDel("a/1", "local"), 1);
  EXPECT_FALSE(kv::InternalKvGet("a/1", "local").has_value());
  kv::InternalKvDel("a/2", "local");
  kv::InternalKvDel("b/1", "local");
}

TEST_F(LocalModeTest, PutGetAndStaticGet) {
  auto ref = ray::Put(1);
  EXPECT_EQ(*ref.Get(), 1);
  EXPECT_EQ(*ray::Get(ref), 1);
  auto s = ray::Put(std::string("hello"));
  auto value = ray::Get(s);
  *value = "changed";  // a fresh copy each time
  EXPECT_EQ(*ray::Get(s), "hello");
  EXPECT_EQ(*ref.Get(5), 1);
}

TEST_F(LocalModeTest, TasksWithValuesAndObjectRefChains) {
  EXPECT_EQ(*ray::Task(Return1).Remote().Get(), 1);
  EXPECT_EQ(*ray::Task(Plus1).Remote(1).Get(), 2);
  EXPECT_EQ(*ray::Task(Plus).Remote(1, 2).Get(), 3);
  auto r3 = ray::Task(Plus1).Remote(ray::Put(2));
  auto r4 = ray::Task(Plus1).Remote(r3);
  auto r5 = ray::Task(Plus).Remote(r4, r3);
  auto r6 = ray::Task(Plus).Remote(r5, 10);
  EXPECT_EQ(*r6.Get(), 17);
  std::vector<ray::ObjectRef<int>> refs{r3, r4, r5};
  auto values = ray::Get(refs);
  EXPECT_EQ(*values[0], 3);
  EXPECT_EQ(*values[1], 4);
  EXPECT_EQ(*values[2], 7);
}

TEST_F(LocalModeTest, RemoteReturnsAtOnceAndGetTimesOut) {
  // Remote returns while the task is blocked on the closed gate.
  auto ref = ray::Task(WaitGate).Remote(7);
  EXPECT_THROW(ref.Get(5), RayTimeoutException);
  try {
    ray::Get(ref, 2);
    FAIL() << "no timeout";
  } catch (const RayException &e) {  // RayTimeoutException is a RayException
    EXPECT_NE(std::string(e.what()).find("not ready"), std::string::npos) << e.what();
  }
  std::vector<ray::ObjectRef<int>> refs{ref};
  auto waited = ray::Wait(refs, 1, 20);
  EXPECT_EQ(waited.ready.size(), 0u);
  EXPECT_EQ(waited.unready.size(), 1u);
  g_gate.Open();
  EXPECT_EQ(*ref.Get(), 7);
}

TEST_F(LocalModeTest, WaitReturnsReadyInOrder) {
  std::vector<ray::ObjectRef<int>> refs{ray::Task(Plus1).Remote(1), ray::Task(Plus1).Remote(2),
                                        ray::Task(Plus1).Remote(3)};
  auto waited = ray::Wait(refs, 3, 1000);
  ASSERT_EQ(waited.ready.size(), 3u);
  EXPECT_EQ(waited.unready.size(), 0u);
  auto values = ray::Get(refs);
  EXPECT_EQ(*values[0], 2);
  EXPECT_EQ(*values[2], 4);
  EXPECT_THROW(ray::Wait(refs, 4, 10), RayException);
}

TEST_F(LocalModeTest, WaitReturnsAtMostNumObjectsReady) {
  std::vector<ray::ObjectRef<int>> refs{ray::Put(1), ray::Put(2), ray::Put(3)};
  auto waited = ray::Wait(refs, 1, 1000);
  ASSERT_EQ(waited.ready.size(), 1u);
  EXPECT_EQ(waited.ready.front().ID(), refs[0].ID());
  ASSERT_EQ(waited.unready.size(), 2u);
  EXPECT_EQ(waited.unready.front().ID(), refs[1].ID());
  EXPECT_EQ(waited.unready.back().ID(), refs[2].ID());
  EXPECT_EQ(ray::Wait(refs, 2, 1000).ready.size(), 2u);
}

TEST_F(LocalModeTest, EmptyObjectRefIsAnError) {
  ray::ObjectRef<int> empty;
  try {
    empty.Get(1000);
    FAIL() << "Get on an empty ObjectRef returned";
  } catch (const RayException &e) {
    EXPECT_NE(std::string(e.what()).find("empty"), std::string::npos) << e.what();
  }
  std::vector<ray::ObjectRef<int>> refs{empty};
  EXPECT_THROW(ray::Wait(refs, 1, 1000), RayException);
  EXPECT_THROW(ray::Task(Plus1).Remote(empty), RayException);
}

TEST_F(LocalModeTest, TasksRunInParallel) {
  // Each task returns true only if all four were running at once.
  std::vector<ray::ObjectRef<bool>> refs;
  for (int i = 0; i < 4; ++i) refs.push_back(ray::Task(Rendezvous4).Remote());
  for (auto &ran_together : ray::Get(refs)) EXPECT_TRUE(*ran_together);
}

TEST_F(LocalModeTest, TaskExceptionBecomesRayTaskException) {
  auto ref = ray::Task(Throws).Remote(1);
  try {
    ref.Get();
    FAIL() << "no exception";
  } catch (const RayTaskException &e) {
    std::string what = e.what();
    EXPECT_NE(what.find("Throws"), std::string::npos) << what;
    EXPECT_NE(what.find("std::logic_error"), std::string::npos) << what;
    EXPECT_NE(what.find("deliberate failure"), std::string::npos) << what;
  }
  // Every Get throws, and a dependent task fails with the same error.
  EXPECT_THROW(ref.Get(), RayTaskException);
  EXPECT_THROW(ray::Task(Plus1).Remote(ref).Get(), RayTaskException);
}

TEST_F(LocalModeTest, UnregisteredFunctionThrowsAtOnce) {
  auto unregistered = [](int x) { return x; };
  EXPECT_THROW(ray::Task(+unregistered), RayException);
}

TEST_F(LocalModeTest, ResourcesAreValidatedButIgnored) {
  EXPECT_THROW(ray::Task(Plus1).SetResource("CPU", 2.5).Remote(1), RayException);
  EXPECT_THROW(ray::Task(Plus1).SetResource("", 1).Remote(1), RayException);
  EXPECT_EQ(*ray::Task(Plus1).SetResource("CPU", 10000).SetName("big").Remote(1).Get(), 2);
}

TEST_F(LocalModeTest, ObjectRefParameters) {
  EXPECT_EQ(*ray::Task(GetVal).Remote(ray::Put(std::string("value"))).Get(), "value");
  auto inner = ray::Put(5);
  EXPECT_EQ(*ray::Task(GetIntVal).Remote(ray::Put(inner)).Get(), 5);
  std::vector<ray::ObjectRef<int>> list{ray::Put(1), ray::Put(2), ray::Task(Plus1).Remote(2)};
  EXPECT_EQ(*ray::Task(GetList).Remote(10, list).Get(), 16);
  // A task waiting on a blocked ref sees nothing ready.
  auto blocked = ray::Task(WaitGate).Remote(1);
  EXPECT_EQ(*ray::Task(ReadyCount).Remote(blocked).Get(), 0);
  g_gate.Open();
  EXPECT_EQ(*ray::Task(ReadyCount).Remote(blocked).Get(), 1);
}

TEST_F(LocalModeTest, NestedTasks) {
  EXPECT_EQ(*ray::Task(SumOfChildren).Remote(5).Get(), 15);
  // 30 levels each blocked on the next: the pool grows past its 10 threads.
  EXPECT_EQ(*ray::Task(Depth).Remote(30).Get(30000), 30);
}

TEST_F(LocalModeTest, ObjectsAreFreedWithTheirLastReference) {
  std::string id;
  {
    auto ref = ray::Put(3);
    id = ref.ID();
    auto copy = ref;
    EXPECT_EQ(*ray::ObjectRef<int>(id).Get(), 3);
  }
  EXPECT_THROW(ray::ObjectRef<int>(id).Get(), UnreconstructableException);

  // A pending task keeps its argument alive after the caller's ref is gone.
  std::string arg_id;
  ray::ObjectRef<int> result;
  {
    auto arg = ray::Put(41);
    arg_id = arg.ID();
    result = ray::Task(Plus).Remote(arg, ray::Task(WaitGate).Remote(0));
  }
  g_gate.Open();
  EXPECT_EQ(*result.Get(), 41);
  EXPECT_THROW(ray::ObjectRef<int>(arg_id).Get(), UnreconstructableException);

  // A ref returned by a task keeps the object it names alive, until the
  // result goes.
  std::string inner_id;
  {
    auto outer = ray::Task(MakeRef).Remote(42);
    auto inner = *outer.Get();
    inner_id = inner.ID();
    EXPECT_EQ(*inner.Get(), 42);
    EXPECT_EQ(*outer.Get()->Get(), 42);
  }
  EXPECT_THROW(ray::ObjectRef<int>(inner_id).Get(), UnreconstructableException);
}

TEST_F(LocalModeTest, ActorCallsRunInOrderAndKeepState) {
  auto counter = ray::Actor(Counter::FactoryCreate).Remote(10);
  auto a = counter.Task(&Counter::Add).Remote(5);
  auto b = counter.Task(&Counter::Add).Remote(1);
  auto c = counter.Task(&Counter::Add).Remote(3);
  auto d = counter.Task(&Counter::Add).Remote(8);
  EXPECT_EQ(*d.Get(), 27);
  EXPECT_EQ(*a.Get(), 15);
  EXPECT_EQ(*b.Get(), 16);
  EXPECT_EQ(*c.Get(), 19);
  // Arguments that are earlier results of the same actor.
  auto r1 = counter.Task(&Counter::Add).Remote(1);                               // 28
  auto r2 = counter.Task(&Counter::Add).Remote(r1);                              // 56
  auto r3 = counter.Task(&Counter::Add).Remote(ray::Task(Plus).Remote(r1, -1));  // 83
  auto r4 = counter.Task(&Counter::AddRef).Remote(r3);                           // 166
  EXPECT_EQ(*r4.Get(), 166);
  EXPECT_EQ(*r2.Get(), 56);
  // Constructor arguments may be refs too.
  auto other = ray::Actor(Counter::FactoryCreate).Remote(ray::Task(Plus1).Remote(9));
  EXPECT_EQ(*other.Task(&Counter::Get).Remote().Get(), 10);
  // Handles passed to another actor reach the same state.
  EXPECT_EQ(*other.Task(&Counter::CallOther).Remote(counter).Get(), 167);
  EXPECT_FALSE(*counter.Task(&Counter::Restarted).Remote().Get());
}

TEST_F(LocalModeTest, ActorMaxConcurrency) {
  auto actor = ray::Actor(Counter::FactoryCreate).SetMaxConcurrency(3).Remote(0);
  std::vector<ray::ObjectRef<bool>> refs;
  for (int i = 0; i < 3; ++i) refs.push_back(actor.Task(&Counter::Latch).Remote(3));
  for (auto &v : ray::Get(refs)) EXPECT_TRUE(*v);
  EXPECT_THROW(ray::Actor(Counter::FactoryCreate).SetMaxConcurrency(0).Remote(0), RayException);
}

TEST_F(LocalModeTest, NamedActorsAndNamespaces) {
  auto named = ray::Actor(Counter::FactoryCreate).SetName("named_actor").Remote(1);
  auto found = ray::GetActor<Counter>("named_actor");
  ASSERT_TRUE(found);
  EXPECT_EQ(*found->Task(&Counter::Add).Remote(1).Get(), 2);
  EXPECT_EQ(*named.Task(&Counter::Get).Remote().Get(), 2);
  EXPECT_FALSE(ray::GetActor<Counter>("no_such_actor"));
  EXPECT_THROW(ray::Actor(Counter::FactoryCreate).SetName("named_actor").Remote(1), RayException);

  // Namespaces are honoured: a name lives in one namespace only.
  auto elsewhere = ray::Actor(Counter::FactoryCreate).SetName("named_actor", "other_ns").Remote(100);
  auto other = ray::GetActor<Counter>("named_actor", "other_ns");
  ASSERT_TRUE(other);
  EXPECT_EQ(*other->Task(&Counter::Get).Remote().Get(), 100);
  EXPECT_EQ(*ray::GetActor<Counter>("named_actor")->Task(&Counter::Get).Remote().Get(), 2);

  // Kill frees the name, and later calls fail.
  named.Kill();
  EXPECT_FALSE(ray::GetActor<Counter>("named_actor"));
  EXPECT_THROW(named.Task(&Counter::Get).Remote().Get(), RayActorException);
  auto reused = ray::Actor(Counter::FactoryCreate).SetName("named_actor").Remote(7);
  EXPECT_EQ(*ray::GetActor<Counter>("named_actor")->Task(&Counter::Get).Remote().Get(), 7);
  reused.Kill();
  elsewhere.Kill();
}

TEST_F(LocalModeTest, KillFailsQueuedCalls) {
  auto actor = ray::Actor(Counter::FactoryCreate).Remote(0);
  auto running = actor.Task(&Counter::Gated).Remote();
  auto queued = actor.Task(&Counter::Add).Remote(1);
  ASSERT_TRUE(g_rendezvous.Arrive(2));  // `running` is running
  actor.Kill();
  EXPECT_THROW(queued.Get(), RayActorException);
  g_gate.Open();
  EXPECT_THROW(running.Get(), RayActorException);
  EXPECT_THROW(actor.Task(&Counter::Add).Remote(1).Get(), RayActorException);
  actor.Kill();  // twice is harmless
}

TEST_F(LocalModeTest, ConstructorFailureMakesCallsFail) {
  auto actor = ray::Actor(Counter::FactoryThrows).Remote(1);
  try {
    actor.Task(&Counter::Get).Remote().Get();
    FAIL() << "no exception";
  } catch (const RayActorException &e) {
    EXPECT_NE(std::string(e.what()).find("no counter today"), std::string::npos) << e.what();
  }
}

TEST_F(LocalModeTest, ExitActorEndsTheActor) {
  auto actor = ray::Actor(Counter::FactoryCreate).SetName("exiting").Remote(0);
  EXPECT_EQ(*actor.Task(&Counter::Add).Remote(1).Get(), 1);
  auto exit = actor.Task(&Counter::Exit).Remote();
  auto after = actor.Task(&Counter::Add).Remote(1);
  EXPECT_THROW(exit.Get(), RayActorException);
  EXPECT_THROW(after.Get(), RayActorException);
  EXPECT_FALSE(ray::GetActor<Counter>("exiting"));
  // Outside an actor, ExitActor is an error of the calling task.
  EXPECT_THROW(ray::Task(ExitOutsideActor).Remote().Get(), RayTaskException);
}

// The instance a factory made is destroyed when its actor ends, once no
// method of it runs: ExitActor, Kill (in this process there is no process to
// kill with it) and Shutdown.
TEST_F(LocalModeTest, AnActorsInstanceIsDestroyedWhenTheActorEnds) {
  auto exiting = ray::Actor(Tracked::Make).Remote(std::string("exiting"));
  auto killed = ray::Actor(Tracked::Make).Remote(std::string("killed"));
  auto kept = ray::Actor(Tracked::Make).Remote(std::string("kept"));
  EXPECT_EQ(*exiting.Task(&Tracked::Name).Remote().Get(), "exiting");
  EXPECT_EQ(*killed.Task(&Tracked::Name).Remote().Get(), "killed");
  EXPECT_EQ(*kept.Task(&Tracked::Name).Remote().Get(), "kept");

  EXPECT_THROW(exiting.Task(&Tracked::Exit).Remote().Get(), RayActorException);
  EXPECT_EQ(g_destroyed.Wait("exiting"), 2) << "-2: never destroyed; -1: the API failed in its destructor";
  killed.Kill();
  EXPECT_EQ(g_destroyed.Wait("killed"), 2) << "-2: never destroyed; -1: the API failed in its destructor";
  EXPECT_FALSE(g_destroyed.Has("kept"));
  // Shutdown returns once its actors' threads have left, the instance destroyed.
  ray::Shutdown();
  EXPECT_TRUE(g_destroyed.Has("kept"));
  InitLocal();
}

TEST_F(LocalModeTest, PlacementGroups) {
  ray::PlacementGroupCreationOptions options{
      "local_pg", {{{"CPU", 1}}, {{"CPU", 2}}}, ray::PlacementStrategy::PACK};
  auto group = ray::CreatePlacementGroup(options);
  EXPECT_FALSE(group.GetID().empty());
  EXPECT_TRUE(group.Wait(10));
  EXPECT_THROW(ray::CreatePlacementGroup(options), RayException);  // duplicate name
  EXPECT_EQ(ray::GetPlacementGroup("local_pg").GetID(), group.GetID());
  EXPECT_EQ(ray::GetPlacementGroupById(group.GetID()).GetState(), ray::PlacementGroupState::CREATED);
  EXPECT_TRUE(ray::GetPlacementGroup("missing").GetID().empty());
  bool listed = false;
  for (auto &g : ray::GetAllPlacementGroups()) listed |= g.GetID() == group.GetID();
  EXPECT_TRUE(listed);
  // Scheduling into a group is accepted and ignored.
  EXPECT_EQ(*ray::Task(Plus1).SetPlacementGroup(group, 0).Remote(1).Get(), 2);
  ray::RemovePlacementGroup(group.GetID());
  ray::RemovePlacementGroup(group.GetID());  // twice is harmless
  EXPECT_EQ(ray::GetPlacementGroupById(group.GetID()).GetState(), ray::PlacementGroupState::REMOVED);
  EXPECT_TRUE(ray::GetPlacementGroup("local_pg").GetID().empty());
  EXPECT_THROW(ray::CreatePlacementGroup({"bad", {{{"CPU", 2.5}}}, ray::PlacementStrategy::PACK}),
               RayException);
}

// Local mode ignores runtime_env and placement, but rejects what a cluster
// rejects, with the cluster's words (one implementation: runtime_checks.h).
TEST_F(LocalModeTest, ChecksMatchClusterMode) {
  ray::RuntimeEnv pip;
  pip.Set("pip", std::vector<std::string>{"requests"});
  EXPECT_THROW(ray::Task(Plus1).SetRuntimeEnv(pip).Remote(1), ray::internal::RayRuntimeEnvException);
  EXPECT_THROW(ray::Actor(Counter::FactoryCreate).SetRuntimeEnv(pip).Remote(0),
               ray::internal::RayRuntimeEnvException);

  auto message = [](const ray::PlacementGroupCreationOptions &options) {
    try {
      ray::CreatePlacementGroup(options);
    } catch (const RayException &e) {
      return std::string(e.what());
    }
    return std::string("no exception");
  };
  EXPECT_EQ(message({"", {}, ray::PlacementStrategy::PACK}),
            "CreatePlacementGroup: a placement group needs at least one bundle");
  EXPECT_EQ(message({"", {{}}, ray::PlacementStrategy::PACK}),
            "CreatePlacementGroup: a bundle cannot be empty");
  EXPECT_EQ(message({"", {{{"CPU", 1}}}, ray::PlacementStrategy::UNRECOGNIZED}),
            "CreatePlacementGroup: unrecognized placement strategy");

  auto group = ray::CreatePlacementGroup({"ids", {{{"CPU", 1}}}, ray::PlacementStrategy::PACK});
  // The cluster's id format: 14 random bytes in hex.
  EXPECT_EQ(group.GetID().size(), 28u);
  EXPECT_EQ(group.GetID().find_first_not_of("0123456789abcdef"), std::string::npos) << group.GetID();
  EXPECT_EQ(message({"ids", {{{"CPU", 1}}}, ray::PlacementStrategy::PACK}),
            "Failed to create placement group: A placement group named 'ids' already exists");
  EXPECT_THROW(ray::Task(Plus1).SetPlacementGroup(group, 1).Remote(1), RayException);  // one bundle only
  ray::RemovePlacementGroup(group.GetID());
  ray::RemovePlacementGroup("no such group");  // as on a cluster: nothing to do
}

TEST_F(LocalModeTest, EverythingRunsInThisProcess) {
  EXPECT_EQ(*ray::Task(GetPid).Remote().Get(), getpid());
  auto actor = ray::Actor(Counter::FactoryCreate).Remote(0);
  EXPECT_EQ(*actor.Task(&Counter::Pid).Remote().Get(), getpid());
  EXPECT_EQ(CountChildren(), 0);
  actor.Kill();
}

TEST(LocalModeLifecycle, NamespaceAndInitShutdownInit) {
  ray::Shutdown();  // whatever an earlier test left
  ray::RayConfig config;
  config.local_mode = true;
  config.ray_namespace = "local_ns";
  ray::Init(config);
  EXPECT_EQ(ray::GetNamespace(), "local_ns");
  EXPECT_EQ(*ray::Task(Namespace).Remote().Get(), "local_ns");
  auto actor = ray::Actor(Counter::FactoryCreate).Remote(0);
  EXPECT_EQ(*actor.Task(&Counter::Ns).Remote().Get(), "local_ns");
  auto kept = ray::Put(9);  // outlives the session
  auto pending = ray::Task(SleepMs).Remote(1);
  ray::Shutdown();
  EXPECT_FALSE(ray::IsInitialized());
  ray::Shutdown();  // twice is harmless

  InitLocal();  // a fresh session with a generated namespace
  EXPECT_TRUE(ray::IsInitialized());
  std::string ns = ray::GetNamespace();
  EXPECT_FALSE(ns.empty());
  EXPECT_NE(ns, "local_ns");
  EXPECT_EQ(*ray::Task(Plus1).Remote(1).Get(), 2);
  EXPECT_THROW(kept.Get(), UnreconstructableException);  // objects do not survive Shutdown
  ray::Shutdown();
}

// ---- runtime context and cluster views (Lumen extensions)

// Where GetRuntimeContext() is called: ids and what is held there.
std::vector<std::string> ContextIds() {
  const ray::RuntimeContext c = ray::GetRuntimeContext();
  return {c.GetJobId(), c.GetNodeId(), c.GetTaskId(), c.GetActorId(), c.GetWorkerId(), c.GetNamespace()};
}
std::map<std::string, double> Assigned() {
  auto held = ray::GetRuntimeContext().GetAssignedResources();
  return std::map<std::string, double>(held.begin(), held.end());
}
RAY_REMOTE(ContextIds, Assigned);

class ContextProbe {
 public:
  ContextProbe() : constructed_(ContextIds()) {}
  static ContextProbe *Create() { return new ContextProbe(); }
  std::vector<std::string> Ids() { return ContextIds(); }
  std::vector<std::string> Constructed() { return constructed_; }
  std::map<std::string, double> Held() { return Assigned(); }

 private:
  std::vector<std::string> constructed_;
};
RAY_REMOTE(ContextProbe::Create, &ContextProbe::Ids, &ContextProbe::Constructed, &ContextProbe::Held);

enum { kJob, kNode, kTask, kActor, kWorker, kNamespace };

// One node, this process, with the config's resources; the driver's ids
// everywhere, and each task's and actor's own where it runs.
TEST(LocalModeContext, OneNodeWithTheConfigsResourcesAndTheDriversIds) {
  ray::Shutdown();  // whatever an earlier test left
  ray::RayConfig config;
  config.local_mode = true;
  config.head_args = {"--num-cpus=3", "--resources={\"slot\": 2}"};
  ray::Init(config);

  const auto driver = ContextIds();
  EXPECT_EQ(driver[kJob], "01000000");
  EXPECT_EQ(driver[kNode].size(), 32u);
  EXPECT_EQ(driver[kTask], "");
  EXPECT_EQ(driver[kActor], "");
  EXPECT_EQ(driver[kWorker].size(), 32u);
  EXPECT_EQ(driver[kNamespace], ray::GetNamespace());
  EXPECT_TRUE(Assigned().empty());
  EXPECT_FALSE(ray::GetRuntimeContext().WasCurrentActorRestarted());

  const auto nodes = ray::Nodes();
  ASSERT_EQ(nodes.size(), 1u);
  EXPECT_EQ(nodes[0].node_id, driver[kNode]);
  EXPECT_TRUE(nodes[0].alive);
  EXPECT_EQ(nodes[0].address, "127.0.0.1");
  const std::unordered_map<std::string, double> expected{{"CPU", 3}, {"slot", 2}};
  EXPECT_EQ(nodes[0].resources, expected);
  EXPECT_EQ(ray::ClusterResources(), expected);
  EXPECT_EQ(ray::AvailableResources(), expected) << "local mode takes nothing from its node";

  const auto a = *ray::Task(ContextIds).Remote().Get();
  const auto b = *ray::Task(ContextIds).Remote().Get();
  EXPECT_EQ(a[kJob], driver[kJob]);
  EXPECT_EQ(a[kNode], driver[kNode]);
  EXPECT_EQ(a[kWorker], driver[kWorker]) << "everything runs in the driver";
  EXPECT_EQ(a[kTask].size(), 48u);
  EXPECT_NE(a[kTask], b[kTask]);
  EXPECT_EQ(a[kActor], "");
  EXPECT_EQ(*ray::Task(Assigned).Remote().Get(), (std::map<std::string, double>{{"CPU", 1}}));
  EXPECT_EQ(*ray::Task(Assigned).SetResource("CPU", 2).Remote().Get(),
            (std::map<std::string, double>{{"CPU", 2}}));

  auto probe = ray::Actor(ContextProbe::Create).Remote();
  const auto constructed = *probe.Task(&ContextProbe::Constructed).Remote().Get();
  const auto m1 = *probe.Task(&ContextProbe::Ids).Remote().Get();
  const auto m2 = *probe.Task(&ContextProbe::Ids).Remote().Get();
  EXPECT_EQ(m1[kActor].size(), 32u);
  EXPECT_EQ(constructed[kActor], m1[kActor]);
  EXPECT_EQ(constructed[kTask].size(), 48u);
  EXPECT_NE(constructed[kTask], m1[kTask]);
  EXPECT_NE(m1[kTask], m2[kTask]);
  EXPECT_TRUE(probe.Task(&ContextProbe::Held).Remote().Get()->empty());
  auto holder = ray::Actor(ContextProbe::Create).SetResource("slot", 1).Remote();
  EXPECT_EQ(*holder.Task(&ContextProbe::Held).Remote().Get(), (std::map<std::string, double>{{"slot", 1}}));
  EXPECT_NE(holder.Task(&ContextProbe::Ids).Remote().Get()->at(kActor), m1[kActor]);
  EXPECT_EQ(ContextIds()[kActor], "") << "the driver's thread is in no actor";
  ray::Shutdown();
}

}  // namespace

namespace {
bool BufferIsView(ray::Buffer<double> b) { return b.IsView() && b.size() == 1000 && b[999] == 999; }

// Serializes once, then throws (see DataTest in tests/cluster/data_test.cc).
struct SecondPackThrows {
  std::vector<double> values;
};
std::atomic<int> g_packs{0};
SecondPackThrows MakeSecondPackThrows() { return SecondPackThrows{std::vector<double>(1 << 14, 1.0)}; }
RAY_REMOTE(BufferIsView, MakeSecondPackThrows);
}  // namespace

namespace msgpack {
MSGPACK_API_VERSION_NAMESPACE(MSGPACK_DEFAULT_API_NS) {
  namespace adaptor {
  template <>
  struct pack<SecondPackThrows> {
    template <typename Stream>
    packer<Stream> &operator()(packer<Stream> &o, const SecondPackThrows &v) const {
      if (++g_packs % 2 == 0) throw std::runtime_error("the second pass failed");
      o.pack(v.values);
      return o;
    }
  };
  template <>
  struct convert<SecondPackThrows> {
    const msgpack::object &operator()(const msgpack::object &o, SecondPackThrows &v) const {
      o.convert(v.values);
      return o;
    }
  };
  }  // namespace adaptor
}
}  // namespace msgpack

// A large result is serialized after the call (as a worker writes it into the
// store); an adaptor that throws then fails the result, never the runtime.
TEST_F(LocalModeTest, AResultThatFailsToSerializeIsATaskError) {
  g_packs = 0;
  try {
    ray::Get(ray::Task(MakeSecondPackThrows).Remote());
    ADD_FAILURE() << "a result whose serialization threw was stored";
  } catch (const ray::internal::RayTaskException &e) {
    EXPECT_NE(std::string(e.what()).find("the second pass failed"), std::string::npos) << e.what();
  }
  EXPECT_EQ(*ray::Get(ray::Task(Plus1).Remote(1)), 2);
}

// Local mode keeps objects in the driver's memory; a ray::Buffer reads them
// there in place, as it reads the store on a cluster, and keeps them alive.
TEST_F(LocalModeTest, BufferViewsObjectsInPlace) {
  std::vector<double> v(1000);
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<double>(i);
  auto ref = ray::Put(v);
  EXPECT_TRUE(*ray::Get(ray::Task(BufferIsView).Remote(ref)));
  std::shared_ptr<ray::Buffer<double>> view;
  {
    ray::ObjectRef<ray::Buffer<double>> as_buffer(ref.ID());
    view = ray::Get(as_buffer);
  }
  ref = ray::ObjectRef<std::vector<double>>();  // every reference gone: the view keeps the bytes
  EXPECT_TRUE(view->IsView());
  EXPECT_EQ(view->ToVector(), v);
}
