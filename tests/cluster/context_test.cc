// The runtime context and the cluster views (Lumen extensions,
// <ray/api/runtime_context.h>) on a real local cluster, through the public
// API only: what the driver, a task and an actor each see of themselves, the
// node table, and the free resources following what an actor holds.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <string>
#include <thread>
#include <unordered_map>

#include "cluster_test_util.h"

namespace {

// Gets expected to succeed wait this long: generous on a loaded two-core
// machine, and a hang still ends as a clear RayTimeoutException.
constexpr int kLongMs = 60000;

// 4 CPUs, 2 virtual GPUs and 2 units of a custom resource nothing takes
// unless a test asks for it (so its free amount is exact).
const std::vector<std::string> kHeadArgs = {"--num-cpus=4", "--num-gpus=2", "--resources={\"slot\": 2}"};

/// What GetRuntimeContext() reports where it is called.
struct Context {
  std::string job;
  std::string node;
  std::string task;
  std::string actor;
  std::string worker;
  std::string ray_namespace;
  bool restarted = false;
  std::map<std::string, double> assigned;
  MSGPACK_DEFINE(job, node, task, actor, worker, ray_namespace, restarted, assigned);
};

double Amount(const std::unordered_map<std::string, double> &m, const std::string &name) {
  auto it = m.find(name);
  return it == m.end() ? 0 : it->second;
}

Context Here() {
  const ray::RuntimeContext c = ray::GetRuntimeContext();
  Context out;
  out.job = c.GetJobId();
  out.node = c.GetNodeId();
  out.task = c.GetTaskId();
  out.actor = c.GetActorId();
  out.worker = c.GetWorkerId();
  out.ray_namespace = c.GetNamespace();
  out.restarted = c.WasCurrentActorRestarted();
  for (auto &[name, amount] : c.GetAssignedResources()) out.assigned[name] = amount;
  return out;
}

Context TaskContext() { return Here(); }

// The cluster views asked from inside a task: the node's id, and the CPUs
// in all and free (a worker reaches the control service too).
std::vector<std::string> ViewsFromATask() {
  auto nodes = ray::Nodes();
  return {nodes.empty() ? "" : nodes[0].node_id, std::to_string(ray::ClusterResources()["CPU"]),
          std::to_string(Amount(ray::AvailableResources(), "CPU"))};
}
// What another process reads of the cluster's KV store, and what it writes.
std::string KvReadAndWrite(std::string key) {
  auto value = ray::experimental::InternalKvGet(key, "ctx");
  ray::experimental::InternalKvPut(key + "-seen", value.value_or("<none>"), true, "ctx");
  return value.value_or("<none>");
}
RAY_REMOTE(TaskContext, ViewsFromATask, KvReadAndWrite);

class Probe {
 public:
  Probe() : constructed_(Here()) {}
  static Probe *Create() { return new Probe(); }
  Context Now() { return Here(); }
  Context Constructed() { return constructed_; }

 private:
  Context constructed_;
};
RAY_REMOTE(Probe::Create, &Probe::Now, &Probe::Constructed);

std::string Hex(const std::string &bytes) {
  static const char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += kDigits[c >> 4];
    out += kDigits[c & 15];
  }
  return out;
}

bool IsHex(const std::string &s, size_t bytes) {
  return s.size() == 2 * bytes && s.find_first_not_of("0123456789abcdef") == std::string::npos;
}

/// Polls `pred` until it holds; false if only a hang could have kept it.
template <typename Pred>
bool WaitUntil(Pred pred) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kLongMs);
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

class ContextTest : public lumen::testing::ClusterTest {};

TEST_F(ContextTest, DriverSeesItsJobNodeAndWorkerButNoTaskOrActor) {
  StartCluster(kHeadArgs);
  const Context d = Here();
  EXPECT_TRUE(IsHex(d.job, 4)) << d.job;
  EXPECT_TRUE(IsHex(d.node, 16)) << d.node;
  EXPECT_TRUE(IsHex(d.worker, 16)) << d.worker;
  EXPECT_EQ(d.task, "") << "the driver runs no task (Ray Python gives None)";
  EXPECT_EQ(d.actor, "");
  EXPECT_EQ(d.ray_namespace, ray::GetNamespace());
  EXPECT_FALSE(d.restarted);
  EXPECT_TRUE(d.assigned.empty());

  const std::vector<ray::NodeInfo> nodes = ray::Nodes();
  ASSERT_EQ(nodes.size(), 1u);
  EXPECT_EQ(nodes[0].node_id, d.node);
  EXPECT_TRUE(nodes[0].alive);
  EXPECT_EQ(nodes[0].address, "127.0.0.1");
  EXPECT_EQ(Amount(nodes[0].resources, "CPU"), 4);
  EXPECT_EQ(Amount(nodes[0].resources, "GPU"), 2);
  EXPECT_EQ(Amount(nodes[0].resources, "slot"), 2);

  const auto total = ray::ClusterResources();
  EXPECT_EQ(Amount(total, "CPU"), 4);
  EXPECT_EQ(Amount(total, "GPU"), 2);
  EXPECT_EQ(Amount(total, "slot"), 2);
  // Nothing holds the custom resource yet.
  EXPECT_EQ(Amount(ray::AvailableResources(), "slot"), 2);
}

TEST_F(ContextTest, TaskSeesItsOwnTaskAndWhatItHolds) {
  StartCluster(kHeadArgs);
  const Context d = Here();
  const Context a = *ray::Task(TaskContext).Remote().Get(kLongMs);
  const Context b = *ray::Task(TaskContext).Remote().Get(kLongMs);
  EXPECT_EQ(a.job, d.job);
  EXPECT_EQ(a.node, d.node);
  EXPECT_EQ(a.node, ray::Nodes()[0].node_id);
  EXPECT_EQ(a.ray_namespace, d.ray_namespace);
  EXPECT_TRUE(IsHex(a.task, 24)) << a.task;
  EXPECT_TRUE(IsHex(b.task, 24)) << b.task;
  EXPECT_NE(a.task, b.task);
  EXPECT_EQ(a.actor, "");
  EXPECT_TRUE(IsHex(a.worker, 16)) << a.worker;
  EXPECT_NE(a.worker, d.worker);
  EXPECT_FALSE(a.restarted);
  EXPECT_EQ(a.assigned, (std::map<std::string, double>{{"CPU", 1}})) << "a task's default";

  const Context two = *ray::Task(TaskContext).SetResource("CPU", 2).Remote().Get(kLongMs);
  EXPECT_EQ(two.assigned, (std::map<std::string, double>{{"CPU", 2}}));
  const Context gpu =
      *ray::Task(TaskContext).SetResource("CPU", 1).SetResource("GPU", 1).Remote().Get(kLongMs);
  EXPECT_EQ(gpu.assigned, (std::map<std::string, double>{{"CPU", 1}, {"GPU", 1}}));
  // Asked on the driver's thread afterwards: no task there.
  EXPECT_EQ(Here().task, "");

  const auto views = *ray::Task(ViewsFromATask).Remote().Get(kLongMs);
  EXPECT_EQ(views[0], d.node);
  EXPECT_EQ(std::stod(views[1]), 4);
  // The task holds one of the 4 CPUs (the driver may still hold idle leases
  // of the tasks before, which it gives back after a grace period).
  EXPECT_LE(std::stod(views[2]), 3);
}

TEST_F(ContextTest, ActorSeesItsIdInConstructorAndMethodsAndWhatItHolds) {
  StartCluster(kHeadArgs);
  const Context d = Here();
  auto probe = ray::Actor(Probe::Create).Remote();
  const Context constructed = *probe.Task(&Probe::Constructed).Remote().Get(kLongMs);
  const Context m1 = *probe.Task(&Probe::Now).Remote().Get(kLongMs);
  const Context m2 = *probe.Task(&Probe::Now).Remote().Get(kLongMs);
  EXPECT_EQ(m1.actor, Hex(probe.ID()));
  EXPECT_EQ(constructed.actor, m1.actor);
  EXPECT_EQ(m1.job, d.job);
  EXPECT_EQ(m1.node, d.node);
  EXPECT_EQ(m1.worker, constructed.worker);
  EXPECT_NE(m1.worker, d.worker);
  EXPECT_TRUE(IsHex(constructed.task, 24)) << constructed.task;
  EXPECT_TRUE(IsHex(m1.task, 24)) << m1.task;
  EXPECT_NE(m1.task, m2.task);
  EXPECT_NE(m1.task, constructed.task);
  EXPECT_FALSE(m1.restarted);
  EXPECT_TRUE(m1.assigned.empty()) << "a default actor holds nothing once placed, as in Ray";
  EXPECT_EQ(Here().actor, "") << "the driver is no actor";

  auto holder = ray::Actor(Probe::Create).SetResource("slot", 1).Remote();
  const Context h = *holder.Task(&Probe::Now).Remote().Get(kLongMs);
  EXPECT_EQ(h.assigned, (std::map<std::string, double>{{"slot", 1}}));
  EXPECT_EQ(holder.Task(&Probe::Constructed).Remote().Get(kLongMs)->assigned,
            (std::map<std::string, double>{{"slot", 1}}));
  holder.Kill();
  probe.Kill();
}

TEST_F(ContextTest, RestartedActorSaysSo) {
  StartCluster(kHeadArgs);
  auto probe = ray::Actor(Probe::Create).SetMaxRestarts(1).Remote();
  const Context before = *probe.Task(&Probe::Now).Remote().Get(kLongMs);
  EXPECT_FALSE(before.restarted);
  probe.Kill(false);
  Context after;
  ASSERT_TRUE(WaitUntil([&] {
    try {
      after = *probe.Task(&Probe::Now).Remote().Get(kLongMs);
      return after.worker != before.worker;
    } catch (const ray::internal::RayActorException &) {
      return false;  // seen before it restarted
    }
  })) << "the actor did not come back";
  EXPECT_TRUE(after.restarted);
  EXPECT_TRUE(probe.Task(&Probe::Constructed).Remote().Get(kLongMs)->restarted);
  EXPECT_EQ(after.actor, before.actor) << "a restart keeps the actor's id";
  probe.Kill();
}

TEST_F(ContextTest, AvailableResourcesFollowWhatAnActorHolds) {
  StartCluster(kHeadArgs);
  ASSERT_EQ(Amount(ray::AvailableResources(), "slot"), 2);
  auto holder = ray::Actor(Probe::Create).SetResource("slot", 1).Remote();
  holder.Task(&Probe::Now).Remote().Get(kLongMs);  // alive, holding its slot
  EXPECT_EQ(Amount(ray::AvailableResources(), "slot"), 1);
  EXPECT_EQ(Amount(ray::ClusterResources(), "slot"), 2) << "the total stays";

  auto both = ray::Actor(Probe::Create).SetResource("slot", 1).Remote();
  both.Task(&Probe::Now).Remote().Get(kLongMs);
  // Nothing free: left out, as Ray leaves it out.
  EXPECT_EQ(ray::AvailableResources().count("slot"), 0u);

  holder.Kill();
  both.Kill();
  // Kill returns once the processes are gone; the node frees the slots as it
  // sees them go.
  EXPECT_TRUE(WaitUntil([] { return Amount(ray::AvailableResources(), "slot") == 2; }))
      << "the slots were not given back";
}

// ray::experimental::InternalKv*: one store for every process of the cluster,
// with namespaces apart from each other.
TEST_F(ContextTest, TheInternalKvStoreIsSharedByEveryProcessAndKeepsNamespacesApart) {
  StartCluster();
  namespace kv = ray::experimental;
  EXPECT_TRUE(kv::InternalKvPut("k", "v1", true, "ctx"));
  EXPECT_FALSE(kv::InternalKvPut("k", "v2", false, "ctx"));  // exists: kept
  EXPECT_EQ(kv::InternalKvGet("k", "ctx").value_or(""), "v1");
  EXPECT_FALSE(kv::InternalKvPut("k", "v3", true, "ctx"));  // exists: overwritten
  EXPECT_FALSE(kv::InternalKvGet("k").has_value());         // another namespace
  EXPECT_EQ(*ray::Task(KvReadAndWrite).Remote("k").Get(60000), "v3");
  EXPECT_EQ(kv::InternalKvGet("k-seen", "ctx").value_or(""), "v3");
  kv::InternalKvPut("other", "x", true, "ctx");
  auto keys = kv::InternalKvList("k", "ctx");
  std::sort(keys.begin(), keys.end());
  EXPECT_EQ(keys, (std::vector<std::string>{"k", "k-seen"}));
  EXPECT_EQ(kv::InternalKvDel("k", "ctx"), 1);
  EXPECT_EQ(kv::InternalKvDel("k", "ctx"), 0);
  EXPECT_FALSE(kv::InternalKvExists("k", "ctx"));
  // Lumen's own keys (the dashboard's namespace "lumen") are not a user's.
  EXPECT_TRUE(kv::InternalKvList("", "lumen").empty());
}

}  // namespace
