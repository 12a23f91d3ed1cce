// Resources, GPUs, placement groups and runtime environments on a real local
// cluster, through the public API only (so it also builds against the
// installed package). The head has 2 CPUs, 2 (virtual) GPUs and one unit of a
// custom resource "accel".
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "cluster_test_util.h"

namespace {

// Gets expected to succeed wait this long: generous on a loaded two-core
// machine, and a hang still ends as a clear RayTimeoutException.
constexpr int kLongMs = 60000;

const std::vector<std::string> kHeadArgs = {"--num-cpus=2", "--num-gpus=2", "--resources={\"accel\": 1}"};

using RayException = ray::internal::RayException;
using RayActorException = ray::internal::RayActorException;
using RayRuntimeEnvException = ray::internal::RayRuntimeEnvException;

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string Env(const std::string &name) {
  const char *v = std::getenv(name.c_str());
  return v ? v : "";
}

std::string JoinIds(const std::vector<int> &ids) {
  std::string out;
  for (int id : ids) out += (out.empty() ? "" : ",") + std::to_string(id);
  return out;
}

int Plus(int a, int b) { return a + b; }
int Pid() { return static_cast<int>(getpid()); }

// [start, end] of a piece of work, in steady-clock nanoseconds (CLOCK_MONOTONIC,
// the same clock in every process of the machine).
std::vector<int64_t> Interval(int work_ms) {
  int64_t start = NowNs();
  std::this_thread::sleep_for(std::chrono::milliseconds(work_ms));
  return {start, NowNs()};
}

// What a task sees of its GPUs: GetGpuIds(), CUDA_VISIBLE_DEVICES, and
// whether that is set at all (Ray sets it empty for work without GPUs).
std::vector<std::string> GpuView() {
  return {JoinIds(ray::GetGpuIds()), Env("CUDA_VISIBLE_DEVICES"),
          std::getenv("CUDA_VISIBLE_DEVICES") ? "set" : "unset"};
}

// Each side creates its own file and waits for the other's: both return true
// only if they run at the same time (each gives up after 20 s).
bool Rendezvous(std::string mine, std::string theirs) {
  std::ofstream(mine) << "here";
  for (int i = 0; i < 2000; ++i) {
    if (std::filesystem::exists(theirs)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

// GpuView() of a task that ran at the same time as its partner (Rendezvous).
std::vector<std::string> GpuViewTogether(std::string mine, std::string theirs) {
  auto view = GpuView();
  view.push_back(Rendezvous(mine, theirs) ? "together" : "alone");
  return view;
}

// The env var in the task and the process it ran in.
std::vector<std::string> EnvAndPid(std::string name) { return {Env(name), std::to_string(getpid())}; }

RAY_REMOTE(Plus, Pid, Interval, GpuView, Rendezvous, GpuViewTogether, EnvAndPid);

class GpuActor {
 public:
  static GpuActor *Create() { return new GpuActor(); }
  std::string Visible() { return Env("CUDA_VISIBLE_DEVICES"); }
  std::string Ids() { return JoinIds(ray::GetGpuIds()); }
  std::string EnvVar(std::string name) { return Env(name); }
  int Pid() { return static_cast<int>(getpid()); }
};
RAY_REMOTE(GpuActor::Create, &GpuActor::Visible, &GpuActor::Ids, &GpuActor::EnvVar, &GpuActor::Pid);

using lumen::testing::ClusterTest;

class ResourcesTest : public ClusterTest {
 protected:
  void SetUp() override { StartCluster(kHeadArgs); }

  // The node's log lines that contain every one of `needles`.
  std::vector<std::string> NodeLogLines(const std::vector<std::string> &needles) const {
    auto log =
        session_ + "/logs/node-" + std::to_string(lumen::testing::ServicePids(session_).at("node")) + ".log";
    std::ifstream in(log);
    std::vector<std::string> found;
    for (std::string line; std::getline(in, line);)
      if (std::all_of(needles.begin(), needles.end(),
                      [&](const std::string &n) { return line.find(n) != std::string::npos; }))
        found.push_back(line);
    return found;
  }

  /// The node's log lines with every one of `needles`, once there is one
  /// (or the deadline, which only a hang reaches, passes).
  std::vector<std::string> NodeLogLinesEventually(const std::vector<std::string> &needles) const {
    for (auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(kLongMs);
         NodeLogLines(needles).empty() && std::chrono::steady_clock::now() < until;)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));  // polling a file
    return NodeLogLines(needles);
  }

  /// Waits until the node reports holding back a lease request that asks
  /// for `resource` (it logs each once, when it first leaves it pending for
  /// want of resources): the node has seen it and decided that it waits.
  void ExpectHeldBack(const std::string &resource) {
    EXPECT_FALSE(NodeLogLinesEventually({"lease request {", resource, "held back"}).empty())
        << "the node never held back a request for " << resource;
  }
};

template <typename T>
bool IsPending(ray::ObjectRef<T> ref) {
  auto w = ray::Wait(std::vector<ray::ObjectRef<T>>{ref}, 1, 0);
  return w.ready.empty() && w.unready.size() == 1;
}

ray::RuntimeEnv EnvVars(const std::map<std::string, std::string> &vars) {
  ray::RuntimeEnv env;
  env.Set("env_vars", vars);
  return env;
}

// ------------------------------------------------------------------ resources

TEST_F(ResourcesTest, InvalidResourceRequestsThrowAtRemote) {
  const std::vector<std::pair<std::string, double>> bad = {{"", 1},      {"CPU", 0},   {"CPU", -1},
                                                           {"CPU", 1.5}, {"GPU", 2.5}, {"accel", 0}};
  for (auto &[name, value] : bad) {
    SCOPED_TRACE(name + "=" + std::to_string(value));
    EXPECT_THROW(ray::Task(Plus).SetResource(name, value).Remote(1, 2), RayException);
    EXPECT_THROW(ray::Actor(GpuActor::Create).SetResource(name, value).Remote(), RayException);
    // Beside a valid entry (of another name: a map keeps one value per name).
    std::string other = name == "CPU" ? "accel" : "CPU";
    EXPECT_THROW(ray::Task(Plus).SetResources({{other, 1}, {name, value}}).Remote(1, 2), RayException);
  }
  // Fractions up to 1 and whole numbers above it are fine.
  EXPECT_EQ(*ray::Task(Plus).SetResource("CPU", 0.5).Remote(1, 2).Get(kLongMs), 3);
  EXPECT_EQ(*ray::Task(Plus).SetResource("CPU", 2.0).Remote(1, 2).Get(kLongMs), 3);
}

TEST_F(ResourcesTest, InfeasibleTasksStayPendingWhileOthersRun) {
  auto too_many_cpus = ray::Task(Plus).SetResource("CPU", 100).Remote(1, 1);
  auto unknown = ray::Task(Plus).SetResource("no_such_resource", 1).Remote(1, 1);
  auto too_many_accel = ray::Task(Plus).SetResource("accel", 2).Remote(1, 1);
  auto actor = ray::Actor(GpuActor::Create).SetResource("GPU", 3).Remote();
  auto actor_call = actor.Task(&GpuActor::Pid).Remote();
  std::vector<ray::ObjectRef<int>> feasible;
  for (int i = 0; i < 4; ++i) feasible.push_back(ray::Task(Plus).Remote(i, 1));
  for (int i = 0; i < 4; ++i) EXPECT_EQ(*feasible[i].Get(kLongMs), i + 1);
  // The node has seen each and keeps it: more than it has in total.
  for (auto resource : {"CPU: 100", "no_such_resource: 1", "accel: 2", "GPU: 3"}) ExpectHeldBack(resource);
  auto w =
      ray::Wait(std::vector<ray::ObjectRef<int>>{too_many_cpus, unknown, too_many_accel, actor_call}, 1, 0);
  EXPECT_EQ(w.ready.size(), 0u);
  EXPECT_EQ(w.unready.size(), 4u);
  EXPECT_EQ(*ray::Task(Plus).SetResource("accel", 1).Remote(2, 2).Get(kLongMs), 4);  // still runs after them
}

TEST_F(ResourcesTest, OneUnitOfACustomResourceSerialisesItsTasks) {
  const int kWorkMs = 300;
  for (int round = 0; round < 2; ++round) {
    auto a = ray::Task(Interval).SetResource("accel", 1).Remote(kWorkMs);
    auto b = ray::Task(Interval).SetResource("accel", 1).Remote(kWorkMs);
    auto ia = *a.Get(kLongMs);
    auto ib = *b.Get(kLongMs);
    ASSERT_EQ(ia.size(), 2u);
    ASSERT_EQ(ib.size(), 2u);
    bool disjoint = ia[1] <= ib[0] || ib[1] <= ia[0];
    EXPECT_TRUE(disjoint) << "accel tasks overlapped: [" << ia[0] << ", " << ia[1] << "] and [" << ib[0]
                          << ", " << ib[1] << "]";
  }
  // Half a unit each: two fit at once.
  std::string dir = tmp_ + "/half";
  std::filesystem::create_directories(dir);
  auto x = ray::Task(Rendezvous).SetResource("accel", 0.5).Remote(dir + "/x", dir + "/y");
  auto y = ray::Task(Rendezvous).SetResource("accel", 0.5).Remote(dir + "/y", dir + "/x");
  EXPECT_TRUE(*x.Get(kLongMs));
  EXPECT_TRUE(*y.Get(kLongMs));
}

// ------------------------------------------------------------------------ GPUs

TEST_F(ResourcesTest, GpuIdsAreEmptyInTheDriverAndInCpuTasks) {
  EXPECT_TRUE(ray::GetGpuIds().empty());
  auto view = *ray::Task(GpuView).Remote().Get(kLongMs);
  EXPECT_EQ(view, (std::vector<std::string>{"", "", "set"})) << "a CPU-only task saw GPUs";
  auto cpu_actor = ray::Actor(GpuActor::Create).Remote();
  EXPECT_EQ(*cpu_actor.Task(&GpuActor::Ids).Remote().Get(kLongMs), "");
  EXPECT_EQ(*cpu_actor.Task(&GpuActor::Visible).Remote().Get(kLongMs), "");
  // A GPU task sees one device, in both views.
  auto gpu = *ray::Task(GpuView).SetResource("GPU", 1).Remote().Get(kLongMs);
  EXPECT_TRUE(gpu[0] == "0" || gpu[0] == "1") << gpu[0];
  EXPECT_EQ(gpu[1], gpu[0]);
  auto both = *ray::Task(GpuView).SetResource("GPU", 2).Remote().Get(kLongMs);
  EXPECT_EQ(both[0], "0,1");
  EXPECT_EQ(both[1], "0,1");
  // CPU tasks after GPU work see none, whichever worker runs them.
  for (int i = 0; i < 4; ++i)
    EXPECT_EQ(*ray::Task(GpuView).Remote().Get(kLongMs), (std::vector<std::string>{"", "", "set"}));
}

TEST_F(ResourcesTest, GpuTasksRunningAtOnceSeeDistinctDevices) {
  std::string dir = tmp_ + "/gpus";
  std::filesystem::create_directories(dir);
  auto x = ray::Task(GpuViewTogether).SetResource("GPU", 1).Remote(dir + "/x", dir + "/y");
  auto y = ray::Task(GpuViewTogether).SetResource("GPU", 1).Remote(dir + "/y", dir + "/x");
  auto vx = *x.Get(kLongMs), vy = *y.Get(kLongMs);
  EXPECT_EQ(vx[3], "together");
  EXPECT_EQ(vy[3], "together");
  EXPECT_EQ(vx[1], vx[0]);
  EXPECT_EQ(vy[1], vy[0]);
  EXPECT_EQ(std::set<std::string>({vx[0], vy[0]}), std::set<std::string>({"0", "1"}));
}

TEST_F(ResourcesTest, GpuActorsGetDistinctDevicesAndAThirdWaitsForOne) {
  auto a = ray::Actor(GpuActor::Create).SetResource("GPU", 1).Remote();
  auto b = ray::Actor(GpuActor::Create).SetResource("GPU", 1).Remote();
  std::string va = *a.Task(&GpuActor::Visible).Remote().Get(kLongMs);
  std::string vb = *b.Task(&GpuActor::Visible).Remote().Get(kLongMs);
  EXPECT_EQ(*a.Task(&GpuActor::Ids).Remote().Get(kLongMs), va);
  EXPECT_EQ(*b.Task(&GpuActor::Ids).Remote().Get(kLongMs), vb);
  EXPECT_EQ(std::set<std::string>({va, vb}), std::set<std::string>({"0", "1"}));

  // Both devices are held for the actors' lives: a third waits.
  auto c = ray::Actor(GpuActor::Create).SetResource("GPU", 1).Remote();
  auto vc = c.Task(&GpuActor::Visible).Remote();
  ExpectHeldBack("GPU: 1}");
  EXPECT_TRUE(IsPending(vc)) << "a third GPU actor was placed with both devices held";
  EXPECT_EQ(*ray::Task(Plus).Remote(1, 1).Get(kLongMs), 2);  // CPU work still runs

  a.Kill();
  EXPECT_EQ(*vc.Get(kLongMs), va) << "the third actor did not get the freed device";
  EXPECT_EQ(*c.Task(&GpuActor::Ids).Remote().Get(kLongMs), va);
  // Held again: even half a GPU waits until the next one is freed.
  auto task = ray::Task(GpuView).SetResource("GPU", 0.5).Remote();
  ExpectHeldBack("GPU: 0.5}");
  EXPECT_TRUE(IsPending(task));
  b.Kill();
  auto view = *task.Get(kLongMs);
  EXPECT_EQ(view[0], vb);
  EXPECT_EQ(view[1], vb);
  c.Kill();
}

TEST_F(ResourcesTest, HalfGpuTasksShareOneDevice) {
  // Hold one device with an actor so both halves must land on the other.
  auto holder = ray::Actor(GpuActor::Create).SetResource("GPU", 1).Remote();
  std::string held = *holder.Task(&GpuActor::Visible).Remote().Get(kLongMs);
  std::string dir = tmp_ + "/gpu";
  std::filesystem::create_directories(dir);
  auto x = ray::Task(Rendezvous).SetResource("GPU", 0.5).Remote(dir + "/x", dir + "/y");
  auto y = ray::Task(Rendezvous).SetResource("GPU", 0.5).Remote(dir + "/y", dir + "/x");
  EXPECT_TRUE(*x.Get(kLongMs)) << "two half-GPU tasks did not run at once";
  EXPECT_TRUE(*y.Get(kLongMs));
  std::vector<ray::ObjectRef<std::vector<std::string>>> views;
  for (int i = 0; i < 4; ++i) views.push_back(ray::Task(GpuView).SetResource("GPU", 0.5).Remote());
  std::string other = held == "0" ? "1" : "0";
  for (auto &v : views) {
    auto seen = *v.Get(kLongMs);
    EXPECT_EQ(seen[0], other);
    EXPECT_EQ(seen[1], other);
  }
  holder.Kill();
}

// ----------------------------------------------------------- placement groups

TEST_F(ResourcesTest, PlacementGroupLifecycle) {
  EXPECT_TRUE(ray::GetAllPlacementGroups().empty());
  ray::PlacementGroupCreationOptions options{"res_pg", {{{"CPU", 1}}}, ray::PlacementStrategy::PACK};
  ray::PlacementGroup pg = ray::CreatePlacementGroup(options);
  ASSERT_FALSE(pg.Empty());
  ASSERT_TRUE(pg.Wait(10));
  EXPECT_EQ(ray::GetPlacementGroupById(pg.GetID()).GetState(), ray::PlacementGroupState::CREATED);
  EXPECT_THROW(ray::CreatePlacementGroup(options), RayException);

  // Used by a task and an actor in bundle 0.
  EXPECT_EQ(*ray::Task(Plus).SetPlacementGroup(pg, 0).Remote(2, 3).Get(kLongMs), 5);
  auto actor = ray::Actor(GpuActor::Create).SetPlacementGroup(pg, 0).Remote();
  int actor_pid = *actor.Task(&GpuActor::Pid).Remote().Get(kLongMs);
  EXPECT_GT(actor_pid, 0);
  EXPECT_EQ(*ray::Task(Plus).SetPlacementGroup(pg, -1).Remote(1, 3).Get(kLongMs), 4);  // any bundle
  EXPECT_THROW(ray::Task(Plus).SetPlacementGroup(pg, 1).Remote(1, 1), RayException);
  EXPECT_THROW(ray::Task(Plus).SetPlacementGroup(pg, -2).Remote(1, 1), RayException);
  EXPECT_THROW(ray::Actor(GpuActor::Create).SetPlacementGroup(pg, 3).Remote(), RayException);

  // Found by name and by id, listed by GetAll.
  auto by_name = ray::GetPlacementGroup("res_pg");
  EXPECT_EQ(by_name.GetID(), pg.GetID());
  EXPECT_EQ(by_name.GetName(), "res_pg");
  EXPECT_EQ(by_name.GetStrategy(), ray::PlacementStrategy::PACK);
  ASSERT_EQ(by_name.GetBundles().size(), 1u);
  EXPECT_DOUBLE_EQ(by_name.GetBundles()[0].at("CPU"), 1.0);
  auto by_id = ray::GetPlacementGroupById(pg.GetID());
  EXPECT_EQ(by_id.GetName(), "res_pg");
  auto all = ray::GetAllPlacementGroups();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].GetID(), pg.GetID());
  EXPECT_TRUE(ray::GetPlacementGroup("no_such_group").GetID().empty());

  // Removal ends the group's actor; removing twice is harmless.
  ray::RemovePlacementGroup(pg.GetID());
  EXPECT_EQ(ray::GetPlacementGroupById(pg.GetID()).GetState(), ray::PlacementGroupState::REMOVED);
  EXPECT_NO_THROW(ray::RemovePlacementGroup(pg.GetID()));
  EXPECT_EQ(ray::GetPlacementGroupById(pg.GetID()).GetState(), ray::PlacementGroupState::REMOVED);
  EXPECT_THROW(actor.Task(&GpuActor::Pid).Remote().Get(kLongMs), RayActorException);
  // The name is free again, and the reserved CPU is back: two tasks run at once.
  ray::PlacementGroup again = ray::CreatePlacementGroup(options);
  EXPECT_TRUE(again.Wait(10));
  ray::RemovePlacementGroup(again.GetID());
  std::string dir = tmp_ + "/after";
  std::filesystem::create_directories(dir);
  auto x = ray::Task(Rendezvous).Remote(dir + "/x", dir + "/y");
  auto y = ray::Task(Rendezvous).Remote(dir + "/y", dir + "/x");
  EXPECT_TRUE(*x.Get(kLongMs));
  EXPECT_TRUE(*y.Get(kLongMs));
}

TEST_F(ResourcesTest, GroupsThatDoNotFitStayPendingAndCanBeRemoved) {
  ray::PlacementGroup huge =
      ray::CreatePlacementGroup({"huge", {{{"CPU", 10000}}}, ray::PlacementStrategy::STRICT_PACK});
  // One node: two bundles cannot be on different nodes.
  ray::PlacementGroup spread = ray::CreatePlacementGroup(
      {"spread", {{{"CPU", 1}}, {{"CPU", 1}}}, ray::PlacementStrategy::STRICT_SPREAD});
  // Fits in sum (2 GPUs) but the node has 2 CPUs, not 3: all or nothing.
  ray::PlacementGroup partial = ray::CreatePlacementGroup(
      {"partial", {{{"GPU", 1}, {"CPU", 2}}, {{"GPU", 1}, {"CPU", 1}}}, ray::PlacementStrategy::PACK});
  ASSERT_FALSE(NodeLogLinesEventually({"placement group", "CPU: 10000", "stays pending"}).empty());
  EXPECT_FALSE(huge.Wait(0));
  EXPECT_FALSE(spread.Wait(0));
  EXPECT_FALSE(partial.Wait(0));
  for (auto *pg : {&huge, &spread, &partial})
    EXPECT_EQ(ray::GetPlacementGroupById(pg->GetID()).GetState(), ray::PlacementGroupState::PENDING);
  // Nothing of the partial group was reserved: both GPUs are free.
  EXPECT_EQ((*ray::Task(GpuView).SetResource("GPU", 2).Remote().Get(kLongMs))[0], "0,1");
  for (auto *pg : {&huge, &spread, &partial}) {
    ray::RemovePlacementGroup(pg->GetID());
    EXPECT_EQ(ray::GetPlacementGroupById(pg->GetID()).GetState(), ray::PlacementGroupState::REMOVED);
  }
  // SPREAD (not strict) places both bundles on the one node.
  ray::PlacementGroup soft =
      ray::CreatePlacementGroup({"soft", {{{"CPU", 1}}, {{"CPU", 1}}}, ray::PlacementStrategy::SPREAD});
  EXPECT_TRUE(soft.Wait(10));
  EXPECT_EQ(*ray::Task(Plus).SetPlacementGroup(soft, 1).Remote(1, 1).Get(kLongMs), 2);
  ray::RemovePlacementGroup(soft.GetID());
}

TEST_F(ResourcesTest, ActorAskingForMoreThanItsBundleStaysPending) {
  ray::PlacementGroup pg =
      ray::CreatePlacementGroup({"small_bundle", {{{"CPU", 1}}}, ray::PlacementStrategy::PACK});
  ASSERT_TRUE(pg.Wait(10));
  auto big = ray::Actor(GpuActor::Create).SetResource("CPU", 2).SetPlacementGroup(pg, 0).Remote();
  auto fits = ray::Actor(GpuActor::Create).SetResource("CPU", 1).SetPlacementGroup(pg, 0).Remote();
  auto big_call = big.Task(&GpuActor::Pid).Remote();
  EXPECT_GT(*fits.Task(&GpuActor::Pid).Remote().Get(kLongMs), 0);
  ExpectHeldBack("CPU_group_0_");
  EXPECT_TRUE(IsPending(big_call)) << "an actor was placed with more than its bundle holds";
  // A bundle resource the group never reserved (GPU) keeps an actor pending too.
  auto gpu = ray::Actor(GpuActor::Create).SetResource("GPU", 1).SetPlacementGroup(pg, 0).Remote();
  auto gpu_call = gpu.Task(&GpuActor::Pid).Remote();
  ExpectHeldBack("GPU_group_0_");
  EXPECT_TRUE(IsPending(gpu_call));
  ray::RemovePlacementGroup(pg.GetID());
}

TEST_F(ResourcesTest, GpuBundleGivesItsDeviceToWorkInside) {
  ray::PlacementGroup pg =
      ray::CreatePlacementGroup({"gpu_pg", {{{"GPU", 1}, {"CPU", 1}}}, ray::PlacementStrategy::STRICT_PACK});
  ASSERT_TRUE(pg.Wait(10));
  auto in_bundle = *ray::Task(GpuView).SetResource("GPU", 1).SetPlacementGroup(pg, 0).Remote().Get(kLongMs);
  EXPECT_TRUE(in_bundle[0] == "0" || in_bundle[0] == "1") << in_bundle[0];
  EXPECT_EQ(in_bundle[1], in_bundle[0]);
  // Any bundle of the group: the same device.
  auto any = *ray::Task(GpuView).SetResource("GPU", 1).SetPlacementGroup(pg, -1).Remote().Get(kLongMs);
  EXPECT_EQ(any[0], in_bundle[0]);
  // Outside the group only the other device is left.
  auto outside = *ray::Task(GpuView).SetResource("GPU", 1).Remote().Get(kLongMs);
  EXPECT_NE(outside[0], in_bundle[0]);
  auto both = ray::Task(GpuView).SetResource("GPU", 2).Remote();
  ExpectHeldBack("GPU: 2}");
  EXPECT_TRUE(IsPending(both));
  ray::RemovePlacementGroup(pg.GetID());
}

TEST_F(ResourcesTest, ABundleIsNeverOvercommittedByIndexedAndAnyBundleRequests) {
  // The group holds one CPU; work in bundle 0 and work in "any bundle" share it.
  ray::PlacementGroup pg =
      ray::CreatePlacementGroup({"one_cpu", {{{"CPU", 1}}}, ray::PlacementStrategy::PACK});
  ASSERT_TRUE(pg.Wait(10));
  const int kWorkMs = 300;
  auto a = ray::Task(Interval).SetPlacementGroup(pg, 0).Remote(kWorkMs);
  auto b = ray::Task(Interval).SetPlacementGroup(pg, -1).Remote(kWorkMs);
  auto ia = *a.Get(kLongMs);
  auto ib = *b.Get(kLongMs);
  EXPECT_TRUE(ia[1] <= ib[0] || ib[1] <= ia[0])
      << "two 1-CPU tasks ran at once in a 1-CPU group: [" << ia[0] << ", " << ia[1] << "] and [" << ib[0]
      << ", " << ib[1] << "]";
  ray::RemovePlacementGroup(pg.GetID());
}

// ------------------------------------------------------------ runtime_env

TEST_F(ResourcesTest, TaskAndActorEnvVarsStayWithTheirWork) {
  const std::string kKey = "LUMEN_RES_TEST_KEY";
  auto first = *ray::Task(EnvAndPid).SetRuntimeEnv(EnvVars({{kKey, "v1"}})).Remote(kKey).Get(kLongMs);
  EXPECT_EQ(first[0], "v1");
  // The next tasks do not see it: they never run on the worker started with it.
  for (int i = 0; i < 20; ++i) {
    auto next = *ray::Task(EnvAndPid).Remote(kKey).Get(kLongMs);
    EXPECT_EQ(next[0], "") << "the env var leaked into a later task";
    EXPECT_NE(next[1], first[1]) << "a task without env_vars ran on the worker started with them";
  }
  EXPECT_EQ(Env(kKey), "");  // nor the driver

  // An actor's env_vars last for all its methods; other actors do not see them.
  auto with = ray::Actor(GpuActor::Create).SetRuntimeEnv(EnvVars({{kKey, "actor"}})).Remote();
  auto without = ray::Actor(GpuActor::Create).Remote();
  for (int i = 0; i < 3; ++i) EXPECT_EQ(*with.Task(&GpuActor::EnvVar).Remote(kKey).Get(kLongMs), "actor");
  EXPECT_EQ(*without.Task(&GpuActor::EnvVar).Remote(kKey).Get(kLongMs), "");
  EXPECT_EQ((*ray::Task(EnvAndPid).Remote(kKey).Get(kLongMs))[0], "");
}

TEST_F(ResourcesTest, UnsupportedOrMalformedRuntimeEnvThrowsAtRemote) {
  ray::RuntimeEnv pip;
  pip.Set<std::vector<std::string>>("pip", {"requests"});
  ray::RuntimeEnv not_an_object;
  not_an_object.Set<std::string>("env_vars", "KEY=value");
  ray::RuntimeEnv not_strings;
  not_strings.SetJsonStr("env_vars", R"({"KEY": 1})");
  ray::RuntimeEnv bad_name;
  bad_name.SetJsonStr("env_vars", R"({"A=B": "c"})");
  for (auto *env : {&pip, &not_an_object, &not_strings, &bad_name}) {
    SCOPED_TRACE(env->Serialize());
    EXPECT_THROW(ray::Task(Plus).SetRuntimeEnv(*env).Remote(1, 1), RayRuntimeEnvException);
    EXPECT_THROW(ray::Actor(GpuActor::Create).SetRuntimeEnv(*env).Remote(), RayRuntimeEnvException);
  }
  // Malformed JSON text never becomes a RuntimeEnv at all.
  ray::RuntimeEnv env;
  EXPECT_THROW(env.SetJsonStr("env_vars", "{\"KEY\": "), RayRuntimeEnvException);
  // Valid ones still work afterwards.
  EXPECT_EQ(*ray::Task(Plus).SetRuntimeEnv(EnvVars({{"K", "v"}})).Remote(1, 1).Get(kLongMs), 2);
}

TEST(ResourcesJobEnv, JobLevelEnvVarsReachEveryTaskAndActor) {
  auto tmp = lumen::testing::FreshTmpDir();
  const std::string kKey = "LUMEN_RES_JOB_KEY";
  ray::RayConfig config;
  config.head_args = kHeadArgs;
  config.runtime_env = EnvVars({{kKey, "job"}});
  ray::Init(config);
  for (int i = 0; i < 3; ++i) EXPECT_EQ((*ray::Task(EnvAndPid).Remote(kKey).Get(kLongMs))[0], "job");
  auto actor = ray::Actor(GpuActor::Create).Remote();
  EXPECT_EQ(*actor.Task(&GpuActor::EnvVar).Remote(kKey).Get(kLongMs), "job");
  auto gpu_actor = ray::Actor(GpuActor::Create).SetResource("GPU", 1).Remote();
  EXPECT_EQ(*gpu_actor.Task(&GpuActor::EnvVar).Remote(kKey).Get(kLongMs), "job");
  // A task's own env_vars add to the job's.
  auto own =
      *ray::Task(EnvAndPid).SetRuntimeEnv(EnvVars({{"LUMEN_RES_OTHER", "x"}})).Remote(kKey).Get(kLongMs);
  EXPECT_EQ(own[0], "job");
  ray::Shutdown();

  // A job-level runtime_env Lumen cannot honour fails Init.
  ray::RuntimeEnv pip;
  pip.Set<std::vector<std::string>>("pip", {"requests"});
  config.runtime_env = pip;
  EXPECT_THROW(ray::Init(config), RayRuntimeEnvException);
  EXPECT_FALSE(ray::IsInitialized());
  ray::Shutdown();  // harmless
  std::error_code ec;
  std::filesystem::remove_all(tmp, ec);
}

}  // namespace
