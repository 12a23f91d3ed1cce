// Actors on a real local cluster, through the public API only: creation,
// call ordering, handles, child actors, names and namespaces, concurrency and
// resources. Failures (exceptions, kills, crashes, lifetimes) are in
// actor_failure_test.cc.
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <fstream>
#include <mutex>
#include <set>
#include <thread>

#include "cluster_test_util.h"

namespace {

// Gets that are expected to succeed wait this long: generous on a loaded
// two-core machine, and a hang still ends as a clear RayTimeoutException.
constexpr int kLongMs = 60000;

class Counter {
 public:
  explicit Counter(int init) : count_(init) { ++constructions_; }

  static Counter *FactoryCreate() { return new Counter(0); }
  static Counter *FactoryCreate(int init) { return new Counter(init); }
  static Counter *FactoryCreate(int a, int b) { return new Counter(a + b); }
  // Appends this process's pid to `path`: one line per factory run.
  static Counter *FactoryCreateLogged(std::string path) {
    std::ofstream(path, std::ios::app) << getpid() << "\n";
    return new Counter(0);
  }

  int Plus1() { return ++count_; }
  int Add(int x) {
    count_ += x;
    return count_;
  }
  int GetCount() { return count_; }
  int GetPid() { return static_cast<int>(getpid()); }
  int Constructions() { return constructions_; }
  void Reset() { count_ = 0; }
  std::vector<uint8_t> Echo(std::vector<uint8_t> bytes) { return bytes; }
  std::vector<uint8_t> MakeBytes(int n) { return std::vector<uint8_t>(static_cast<size_t>(n), 7); }
  std::string GetNamespaceInActor() { return ray::GetNamespace(); }

  // Calls another actor through a handle passed as an argument.
  int Plus1ForActor(ray::ActorHandle<Counter> other) {
    return *other.Task(&Counter::Plus1).Remote().Get(kLongMs);
  }

  // Creates an actor from inside this one and hands its handle back.
  ray::ActorHandle<Counter> CreateChildActor(std::string name) {
    return ray::Actor(RAY_FUNC(Counter::FactoryCreate)).SetName(name).Remote();
  }

 private:
  int count_;
  static inline int constructions_ = 0;  // per process
};

RAY_REMOTE(RAY_FUNC(Counter::FactoryCreate), RAY_FUNC(Counter::FactoryCreate, int),
           RAY_FUNC(Counter::FactoryCreate, int, int), Counter::FactoryCreateLogged);
RAY_REMOTE(&Counter::Plus1, &Counter::Add, &Counter::GetCount, &Counter::GetPid, &Counter::Constructions,
           &Counter::Reset, &Counter::Echo, &Counter::MakeBytes, &Counter::GetNamespaceInActor,
           &Counter::Plus1ForActor, &Counter::CreateChildActor);

// Virtual methods: the actor is created as a Square but typed as a Shape.
class Shape {
 public:
  virtual ~Shape() = default;
  static Shape *CreateSquare(int side);
  virtual std::string Name() { return "shape"; }
  virtual int Area() { return 0; }
};

class Square : public Shape {
 public:
  explicit Square(int side) : side_(side) {}
  static Square *Create(int side) { return new Square(side); }
  std::string Name() override { return "square"; }
  int Area() override { return side_ * side_; }
  int Side() { return side_; }

 private:
  int side_;
};

Shape *Shape::CreateSquare(int side) { return new Square(side); }

RAY_REMOTE(Shape::CreateSquare, Square::Create, &Shape::Name, &Shape::Area, &Square::Side);

// Three calls that each count down and then wait for the other two: they
// only all succeed if they run at the same time. A call gives up after
// wait_ms (returning false) so that an actor never hangs for good.
class Latch {
 public:
  explicit Latch(int count) : count_(count) {}
  static Latch *Create(int count) { return new Latch(count); }
  bool CountDownAndWait(int wait_ms) {
    std::unique_lock<std::mutex> lock(mu_);
    if (--count_ <= 0) cv_.notify_all();
    return cv_.wait_for(lock, std::chrono::milliseconds(wait_ms), [this] { return count_ <= 0; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int count_;
};

RAY_REMOTE(Latch::Create, &Latch::CountDownAndWait);

int Plus(int a, int b) { return a + b; }
int TaskPid() { return static_cast<int>(getpid()); }
std::string NamespaceInTask() { return ray::GetNamespace(); }
int CallPlus1(ray::ActorHandle<Counter> counter) {
  return *counter.Task(&Counter::Plus1).Remote().Get(kLongMs);
}

int CallAllPlus1(std::vector<ray::ActorHandle<Counter>> counters) {
  int sum = 0;
  for (auto &c : counters) sum += *c.Task(&Counter::Plus1).Remote().Get(kLongMs);
  return sum;
}

// Finds a named actor from inside a worker, in the job's namespace.
int CallPlus1ByName(std::string name) {
  auto counter = ray::GetActor<Counter>(name);
  if (!counter) return -1;
  return *counter->Task(&Counter::Plus1).Remote().Get(kLongMs);
}
uint64_t Sum(std::vector<uint8_t> bytes) {
  uint64_t sum = 0;
  for (uint8_t b : bytes) sum += b;
  return sum;
}

RAY_REMOTE(Plus, TaskPid, NamespaceInTask, CallPlus1, CallAllPlus1, CallPlus1ByName, Sum);

using lumen::testing::ClusterTest;
using Clock = std::chrono::steady_clock;

ray::ActorHandle<Counter> NewCounter(int init = 0) {
  return ray::Actor(RAY_FUNC(Counter::FactoryCreate, int)).Remote(init);
}

int PidOf(ray::ActorHandle<Counter> &actor) { return *actor.Task(&Counter::GetPid).Remote().Get(kLongMs); }

TEST_F(ClusterTest, FactoryRunsOnceInItsOwnProcess) {
  StartCluster();
  std::string log = tmp_ + "/factory.log";
  auto counter = ray::Actor(Counter::FactoryCreateLogged).Remote(log);
  for (int i = 1; i <= 5; ++i) EXPECT_EQ(*counter.Task(&Counter::Plus1).Remote().Get(kLongMs), i);
  int pid = PidOf(counter);
  EXPECT_NE(pid, getpid());
  EXPECT_EQ(*counter.Task(&Counter::Constructions).Remote().Get(kLongMs), 1);
  std::ifstream in(log);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  ASSERT_EQ(lines.size(), 1u) << "the factory ran " << lines.size() << " times";
  EXPECT_EQ(lines[0], std::to_string(pid));
}

TEST_F(ClusterTest, OverloadedFactoriesAndRefConstructorArguments) {
  StartCluster();
  auto none = ray::Actor(RAY_FUNC(Counter::FactoryCreate)).Remote();
  auto one = ray::Actor(RAY_FUNC(Counter::FactoryCreate, int)).Remote(7);
  auto two = ray::Actor(RAY_FUNC(Counter::FactoryCreate, int, int)).Remote(3, 4);
  EXPECT_EQ(*none.Task(&Counter::GetCount).Remote().Get(kLongMs), 0);
  EXPECT_EQ(*one.Task(&Counter::GetCount).Remote().Get(kLongMs), 7);
  EXPECT_EQ(*two.Task(&Counter::GetCount).Remote().Get(kLongMs), 7);
  // A Put object, a task result and a mix of ref and value as constructor arguments.
  auto put = ray::Put(20);
  auto from_put = ray::Actor(RAY_FUNC(Counter::FactoryCreate, int)).Remote(put);
  auto from_task = ray::Actor(RAY_FUNC(Counter::FactoryCreate, int)).Remote(ray::Task(Plus).Remote(1, 2));
  auto mixed = ray::Actor(RAY_FUNC(Counter::FactoryCreate, int, int)).Remote(put, 5);
  EXPECT_EQ(*from_put.Task(&Counter::GetCount).Remote().Get(kLongMs), 20);
  EXPECT_EQ(*from_task.Task(&Counter::GetCount).Remote().Get(kLongMs), 3);
  EXPECT_EQ(*mixed.Task(&Counter::GetCount).Remote().Get(kLongMs), 25);
}

TEST_F(ClusterTest, PipelinedCallsRunInSubmissionOrder) {
  StartCluster();
  auto counter = NewCounter();
  std::vector<ray::ObjectRef<int>> refs;
  for (int i = 0; i < 300; ++i) refs.push_back(counter.Task(&Counter::Add).Remote(i));
  auto values = ray::Get(refs, kLongMs);
  ASSERT_EQ(values.size(), refs.size());
  int sum = 0;
  for (int i = 0; i < 300; ++i) {
    sum += i;
    ASSERT_EQ(*values[i], sum) << "call " << i << " ran out of order";
  }
}

TEST_F(ClusterTest, CallsFromSeveralDriverThreadsKeepEachThreadsOrder) {
  StartCluster();
  auto counter = NewCounter();
  const int kThreads = 4, kCalls = 50;
  std::vector<std::vector<int>> seen(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::vector<ray::ObjectRef<int>> refs;
      for (int i = 0; i < kCalls; ++i) refs.push_back(counter.Task(&Counter::Plus1).Remote());
      for (auto &v : ray::Get(refs, kLongMs)) seen[t].push_back(*v);
    });
  }
  for (auto &t : threads) t.join();
  std::set<int> all;
  for (auto &values : seen) {
    ASSERT_EQ(values.size(), static_cast<size_t>(kCalls));
    for (size_t i = 1; i < values.size(); ++i) EXPECT_LT(values[i - 1], values[i]);
    all.insert(values.begin(), values.end());
  }
  EXPECT_EQ(all.size(), static_cast<size_t>(kThreads * kCalls));  // every call ran exactly once
  EXPECT_EQ(*counter.Task(&Counter::GetCount).Remote().Get(kLongMs), kThreads * kCalls);
}

TEST_F(ClusterTest, LargeAndVoidActorArgumentsAndResults) {
  StartCluster();
  auto counter = NewCounter(5);
  // Above the inline threshold both ways: through shared memory.
  std::vector<uint8_t> big(3 << 20);
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<uint8_t>(i % 251);
  auto echoed = counter.Task(&Counter::Echo).Remote(big).Get(kLongMs);
  EXPECT_TRUE(*echoed == big);
  auto stored = ray::Put(big);
  EXPECT_TRUE(*counter.Task(&Counter::Echo).Remote(stored).Get(kLongMs) == big);
  auto made = counter.Task(&Counter::MakeBytes).Remote(2 << 20);
  EXPECT_EQ(*ray::Task(Sum).Remote(made).Get(kLongMs), 7u * (2u << 20));
  // A void method.
  ray::ObjectRef<void> reset = counter.Task(&Counter::Reset).Remote();
  reset.Get(kLongMs);
  EXPECT_EQ(*counter.Task(&Counter::Plus1).Remote().Get(kLongMs), 1);
}

TEST_F(ClusterTest, InOrderSumsAndArgumentsFromTheSameActor) {
  StartCluster();
  auto counter = NewCounter(10);
  auto r1 = counter.Task(&Counter::Add).Remote(5);
  auto r2 = counter.Task(&Counter::Add).Remote(1);
  auto r3 = counter.Task(&Counter::Add).Remote(3);
  auto r4 = counter.Task(&Counter::Add).Remote(8);
  // Arguments that are earlier results of this very actor, all submitted
  // before any Get: resolved without reordering or deadlock.
  auto r11 = counter.Task(&Counter::Add).Remote(1);    // 27 + 1
  auto r12 = counter.Task(&Counter::Add).Remote(r11);  // 28 + 28
  auto r13 = counter.Task(&Counter::Add).Remote(r4);   // 56 + 27
  auto r14 = counter.Task(&Counter::Add).Remote(r13);  // 83 + 83
  EXPECT_EQ(*r1.Get(kLongMs), 15);
  EXPECT_EQ(*r2.Get(kLongMs), 16);
  EXPECT_EQ(*r3.Get(kLongMs), 19);
  EXPECT_EQ(*r4.Get(kLongMs), 27);
  EXPECT_EQ(*r11.Get(kLongMs), 28);
  EXPECT_EQ(*r12.Get(kLongMs), 56);
  EXPECT_EQ(*r13.Get(kLongMs), 83);
  EXPECT_EQ(*r14.Get(kLongMs), 166);
}

TEST_F(ClusterTest, ActorResultsFlowThroughTasksAndOtherActors) {
  StartCluster();
  auto a = NewCounter();
  auto b = NewCounter(100);
  auto r1 = a.Task(&Counter::Add).Remote(5);          // a: 5
  auto r2 = ray::Task(Plus).Remote(r1, 10);           // 15
  auto r3 = a.Task(&Counter::Add).Remote(r2);         // a: 20
  auto r4 = b.Task(&Counter::Add).Remote(r3);         // b: 120
  auto r5 = ray::Task(Plus).Remote(r4, ray::Put(1));  // 121
  EXPECT_EQ(*r5.Get(kLongMs), 121);
  EXPECT_EQ(*r3.Get(kLongMs), 20);
  EXPECT_EQ(*a.Task(&Counter::GetCount).Remote().Get(kLongMs), 20);
  EXPECT_EQ(*b.Task(&Counter::GetCount).Remote().Get(kLongMs), 120);
}

TEST_F(ClusterTest, EachActorHasItsOwnProcess) {
  StartCluster();
  std::vector<ray::ActorHandle<Counter>> actors;
  for (int i = 0; i < 3; ++i) actors.push_back(NewCounter());
  std::set<int> pids;
  for (auto &a : actors) pids.insert(PidOf(a));
  EXPECT_EQ(pids.size(), 3u);
  EXPECT_EQ(pids.count(getpid()), 0u);
  // Tasks never run inside an actor's process.
  for (int i = 0; i < 4; ++i) {
    int task_pid = *ray::Task(TaskPid).Remote().Get(kLongMs);
    EXPECT_EQ(pids.count(task_pid), 0u) << "a task ran in actor process " << task_pid;
  }
  // Each keeps its own state.
  for (int i = 0; i < 3; ++i) actors[i].Task(&Counter::Add).Remote(i + 1);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(*actors[i].Task(&Counter::GetCount).Remote().Get(kLongMs), i + 1);
}

TEST_F(ClusterTest, HandlesAreSharedCopiedAndPassedAround) {
  StartCluster();
  auto counter = NewCounter();
  auto other = NewCounter();
  EXPECT_EQ(*counter.Task(&Counter::Plus1).Remote().Get(kLongMs), 1);
  // Passed to another actor, which calls it: same state.
  EXPECT_EQ(*other.Task(&Counter::Plus1ForActor).Remote(counter).Get(kLongMs), 2);
  // Passed to a task.
  EXPECT_EQ(*ray::Task(CallPlus1).Remote(counter).Get(kLongMs), 3);
  // Copied.
  ray::ActorHandle<Counter> copy = counter;
  EXPECT_EQ(copy.ID(), counter.ID());
  EXPECT_EQ(*copy.Task(&Counter::Plus1).Remote().Get(kLongMs), 4);
  // Stored as an object, read back, and passed on by reference.
  auto stored = ray::Put(counter);
  EXPECT_EQ(*stored.Get()->Task(&Counter::Plus1).Remote().Get(kLongMs), 5);
  EXPECT_EQ(*ray::Task(CallPlus1).Remote(stored).Get(kLongMs), 6);
  // Inside a container.
  std::vector<ray::ActorHandle<Counter>> both = {counter, other};
  EXPECT_EQ(*ray::Task(CallAllPlus1).Remote(both).Get(kLongMs), 7 + 1);
  EXPECT_EQ(*counter.Task(&Counter::GetCount).Remote().Get(kLongMs), 7);
  EXPECT_EQ(*other.Task(&Counter::GetCount).Remote().Get(kLongMs), 1);
}

TEST_F(ClusterTest, ChildActorReturnedFromAnActorMethod) {
  StartCluster();
  auto parent = NewCounter();
  ray::ObjectRef<ray::ActorHandle<Counter>> ref =
      parent.Task(&Counter::CreateChildActor).Remote(std::string("child_actor"));
  std::shared_ptr<ray::ActorHandle<Counter>> child = ref.Get(kLongMs);
  ASSERT_TRUE(child);
  EXPECT_EQ(*child->Task(&Counter::Plus1).Remote().Get(kLongMs), 1);
  EXPECT_NE(PidOf(*child), PidOf(parent));
  auto by_name = ray::GetActor<Counter>("child_actor");
  ASSERT_TRUE(by_name) << "the child is registered in the job's namespace";
  EXPECT_EQ(by_name->ID(), child->ID());
  EXPECT_EQ(*by_name->Task(&Counter::Plus1).Remote().Get(kLongMs), 2);
  EXPECT_EQ(*parent.Task(&Counter::GetCount).Remote().Get(kLongMs), 0);
}

TEST_F(ClusterTest, NamedActorIsFoundFromTasksAndActors) {
  StartCluster();
  auto named = ray::Actor(RAY_FUNC(Counter::FactoryCreate)).SetName("shared_counter").Remote();
  EXPECT_EQ(*named.Task(&Counter::Plus1).Remote().Get(kLongMs), 1);
  EXPECT_EQ(*ray::Task(CallPlus1ByName).Remote(std::string("shared_counter")).Get(kLongMs), 2);
  EXPECT_EQ(*ray::Task(CallPlus1ByName).Remote(std::string("no_such_counter")).Get(kLongMs), -1);
  auto other = NewCounter();
  auto found = ray::GetActor<Counter>("shared_counter");
  ASSERT_TRUE(found);
  EXPECT_EQ(*other.Task(&Counter::Plus1ForActor).Remote(*found).Get(kLongMs), 3);
}

TEST_F(ClusterTest, VirtualMethodsDispatchToTheOverride) {
  StartCluster();
  ray::ActorHandle<Shape> shape = ray::Actor(Shape::CreateSquare).Remote(3);
  EXPECT_EQ(*shape.Task(&Shape::Name).Remote().Get(kLongMs), "square");
  EXPECT_EQ(*shape.Task(&Shape::Area).Remote().Get(kLongMs), 9);
  // A derived actor called through its base class's member pointers.
  ray::ActorHandle<Square> square = ray::Actor(Square::Create).Remote(4);
  EXPECT_EQ(*square.Task(&Shape::Name).Remote().Get(kLongMs), "square");
  EXPECT_EQ(*square.Task(&Shape::Area).Remote().Get(kLongMs), 16);
  EXPECT_EQ(*square.Task(&Square::Side).Remote().Get(kLongMs), 4);
}

TEST_F(ClusterTest, MaxConcurrencyRunsThatManyCallsAtOnce) {
  StartCluster();
  auto three = ray::Actor(Latch::Create).SetMaxConcurrency(3).Remote(3);
  std::vector<ray::ObjectRef<bool>> refs;
  for (int i = 0; i < 3; ++i) refs.push_back(three.Task(&Latch::CountDownAndWait).Remote(20000));
  for (auto &r : refs) EXPECT_TRUE(*r.Get(kLongMs)) << "the three calls did not all run at once";

  // With two threads the third call cannot start until one of the first two
  // gives up (after kWaitMs): three at once would all see the latch open.
  const int kWaitMs = 4000;
  auto two = ray::Actor(Latch::Create).SetMaxConcurrency(2).Remote(3);
  refs.clear();
  for (int i = 0; i < 3; ++i) refs.push_back(two.Task(&Latch::CountDownAndWait).Remote(kWaitMs));
  // They all end: one of the first two gives up, which lets the third in.
  auto values = ray::Get(refs, kLongMs);
  ASSERT_EQ(values.size(), 3u);
  EXPECT_FALSE(*values[0] && *values[1]) << "neither of the first two calls waited out its timeout";
  EXPECT_TRUE(*values[2]) << "the third call did not see the latch open";
}

TEST_F(ClusterTest, NamedActorsInTheJobNamespaceAndOthers) {
  StartCluster();
  auto alpha = ray::Actor(RAY_FUNC(Counter::FactoryCreate)).SetName("alpha").Remote();
  EXPECT_EQ(*alpha.Task(&Counter::Plus1).Remote().Get(kLongMs), 1);
  auto found = ray::GetActor<Counter>("alpha");
  ASSERT_TRUE(found);
  EXPECT_EQ(*found->Task(&Counter::Plus1).Remote().Get(kLongMs), 2);  // the same actor
  EXPECT_TRUE(ray::GetActor<Counter>("alpha", ray::GetNamespace()));
  EXPECT_FALSE(ray::GetActor<Counter>("alpha", "isolated_ns"));
  EXPECT_FALSE(ray::GetActor<Counter>("no_such_actor"));
  EXPECT_FALSE(ray::GetActor<Counter>("no_such_actor", "isolated_ns"));

  auto beta = ray::Actor(RAY_FUNC(Counter::FactoryCreate, int)).SetName("beta", "isolated_ns").Remote(100);
  EXPECT_EQ(*beta.Task(&Counter::Plus1).Remote().Get(kLongMs), 101);
  EXPECT_FALSE(ray::GetActor<Counter>("beta"));
  auto beta_found = ray::GetActor<Counter>("beta", "isolated_ns");
  ASSERT_TRUE(beta_found);
  EXPECT_EQ(*beta_found->Task(&Counter::Plus1).Remote().Get(kLongMs), 102);

  // One name may be used once per namespace.
  auto alpha2 = ray::Actor(RAY_FUNC(Counter::FactoryCreate, int)).SetName("alpha", "isolated_ns").Remote(50);
  EXPECT_EQ(*alpha2.Task(&Counter::Plus1).Remote().Get(kLongMs), 51);
  auto job_alpha = ray::GetActor<Counter>("alpha");
  auto other_alpha = ray::GetActor<Counter>("alpha", "isolated_ns");
  ASSERT_TRUE(job_alpha);
  ASSERT_TRUE(other_alpha);
  EXPECT_NE(job_alpha->ID(), other_alpha->ID());
  EXPECT_EQ(*job_alpha->Task(&Counter::Plus1).Remote().Get(kLongMs), 3);
  EXPECT_EQ(*other_alpha->Task(&Counter::Plus1).Remote().Get(kLongMs), 52);
}

TEST_F(ClusterTest, DuplicateNameInOneNamespaceIsRejectedAtRemote) {
  StartCluster();
  auto first = ray::Actor(RAY_FUNC(Counter::FactoryCreate)).SetName("dup").Remote();
  EXPECT_THROW(ray::Actor(RAY_FUNC(Counter::FactoryCreate)).SetName("dup").Remote(),
               ray::internal::RayException);
  EXPECT_THROW(ray::Actor(RAY_FUNC(Counter::FactoryCreate)).SetName("dup", ray::GetNamespace()).Remote(),
               ray::internal::RayException);
  auto named_elsewhere = ray::Actor(RAY_FUNC(Counter::FactoryCreate, int)).SetName("dup", "dup_ns").Remote(9);
  EXPECT_THROW(ray::Actor(RAY_FUNC(Counter::FactoryCreate)).SetName("dup", "dup_ns").Remote(),
               ray::internal::RayException);
  // The originals are untouched.
  EXPECT_EQ(*first.Task(&Counter::Plus1).Remote().Get(kLongMs), 1);
  EXPECT_EQ(*named_elsewhere.Task(&Counter::Plus1).Remote().Get(kLongMs), 10);
  auto found = ray::GetActor<Counter>("dup");
  ASSERT_TRUE(found);
  EXPECT_EQ(found->ID(), first.ID());
}

TEST_F(ClusterTest, NamespaceIsTheSameInDriverTaskAndActor) {
  StartCluster();
  std::string ns = ray::GetNamespace();
  EXPECT_FALSE(ns.empty());
  auto counter = NewCounter();
  EXPECT_EQ(*counter.Task(&Counter::GetNamespaceInActor).Remote().Get(kLongMs), ns);
  EXPECT_EQ(*ray::Task(NamespaceInTask).Remote().Get(kLongMs), ns);
}

// Starts the cluster with a whole RayConfig; TearDown still shuts it down.
class ConfiguredClusterTest : public ClusterTest {
 protected:
  void StartCluster(ray::RayConfig config) {
    tmp_ = lumen::testing::FreshTmpDir();
    ray::Init(config);
    session_ = lumen::testing::SessionDir(tmp_);
  }
};

TEST_F(ConfiguredClusterTest, ConfiguredNamespaceIsUsedByActors) {
  ray::RayConfig config;
  config.head_args = {"--num-cpus=2"};
  config.ray_namespace = "actor_team";
  StartCluster(config);
  EXPECT_EQ(ray::GetNamespace(), "actor_team");
  auto counter = ray::Actor(RAY_FUNC(Counter::FactoryCreate)).SetName("configured").Remote();
  EXPECT_EQ(*counter.Task(&Counter::GetNamespaceInActor).Remote().Get(kLongMs), "actor_team");
  EXPECT_EQ(*ray::Task(NamespaceInTask).Remote().Get(kLongMs), "actor_team");
  EXPECT_TRUE(ray::GetActor<Counter>("configured"));
  EXPECT_TRUE(ray::GetActor<Counter>("configured", "actor_team"));
  EXPECT_FALSE(ray::GetActor<Counter>("configured", "another_team"));
}

TEST_F(ClusterTest, ManyDefaultActorsOnTwoCpusAllAnswer) {
  StartCluster({"--num-cpus=2"});
  // A default actor needs a CPU to be placed but holds none while it lives.
  std::vector<ray::ActorHandle<Counter>> actors;
  for (int i = 0; i < 8; ++i) actors.push_back(NewCounter(i));
  std::vector<ray::ObjectRef<int>> refs;
  for (auto &a : actors) refs.push_back(a.Task(&Counter::Plus1).Remote());
  auto values = ray::Get(refs, kLongMs);
  for (int i = 0; i < 8; ++i) EXPECT_EQ(*values[i], i + 1);
  std::set<int> pids;
  for (auto &a : actors) pids.insert(PidOf(a));
  EXPECT_EQ(pids.size(), 8u);
  EXPECT_EQ(*ray::Task(Plus).Remote(2, 3).Get(kLongMs), 5);  // tasks still get a CPU
}

TEST_F(ClusterTest, ActorHoldsTheCpuItAsksForUntilKilled) {
  StartCluster({"--num-cpus=2"});
  auto first = ray::Actor(RAY_FUNC(Counter::FactoryCreate)).SetResource("CPU", 1).Remote();
  auto second = ray::Actor(RAY_FUNC(Counter::FactoryCreate)).SetResource("CPU", 1).Remote();
  EXPECT_GT(PidOf(first), 0);
  EXPECT_GT(PidOf(second), 0);
  auto third = ray::Actor(RAY_FUNC(Counter::FactoryCreate)).SetResource("CPU", 1).Remote();
  auto pending = third.Task(&Counter::Plus1).Remote();
  auto wait = ray::Wait(std::vector<ray::ObjectRef<int>>{pending}, 1, 2000);
  EXPECT_EQ(wait.ready.size(), 0u) << "a third 1-CPU actor started on a 2-CPU node";
  EXPECT_EQ(wait.unready.size(), 1u);
  first.Kill();  // gives its CPU back
  EXPECT_EQ(*pending.Get(kLongMs), 1);
  EXPECT_EQ(*second.Task(&Counter::Plus1).Remote().Get(kLongMs), 1);
}

TEST_F(ClusterTest, KilledActorsGiveTheirCpuBackEveryTime) {
  StartCluster({"--num-cpus=2"});
  auto keeper = ray::Actor(RAY_FUNC(Counter::FactoryCreate)).SetResource("CPU", 1).Remote();
  EXPECT_GT(PidOf(keeper), 0);
  // One CPU is left; each actor in turn can only start if the one before
  // it gave its CPU back.
  for (int i = 0; i < 5; ++i) {
    auto actor = ray::Actor(RAY_FUNC(Counter::FactoryCreate, int)).SetResource("CPU", 1).Remote(i);
    EXPECT_EQ(*actor.Task(&Counter::Plus1).Remote().Get(kLongMs), i + 1) << "actor " << i;
    actor.Kill();
  }
  EXPECT_EQ(*keeper.Task(&Counter::Plus1).Remote().Get(kLongMs), 1);
  EXPECT_EQ(*ray::Task(Plus).Remote(1, 2).Get(kLongMs), 3);  // and a task still gets the other CPU
}

}  // namespace
