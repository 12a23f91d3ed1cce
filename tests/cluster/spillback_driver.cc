// A driver for spillback_test: joins the cluster at the address it is given
// and submits normal tasks whose leases the driver's own node must spill to
// other nodes. Public API only.
//
//   spillback_driver <address> pinned <dir>
//       prints "DRIVER <its node's id>" and "NODE <id> <1 if it has the
//       resource 'special'>" for each node; exits 3 if its own node has
//       "special" (nothing to spill). Else submits one task needing
//       {CPU: 1, special: 1} (only one node has "special") and one needing
//       {absent: 1} (no node has it), prints
//       "SUBMITTED", then waits until the task returns (prints "RAN <the node
//       id it ran on>") or until <dir>/stop exists (prints "PENDING").
//   spillback_driver <address> spread <dir> <n>
//       submits n tasks of one CPU each that can only all finish if all run
//       at once (each waits in a barrier of files in <dir> for the others),
//       and prints "RAN <node id>" for each.
//
//   spillback_driver <address> echo <dir>
//       runs a task needing {"special": 1}, which prints "ECHO <its node id>"
//       on its stdout, prints "RAN <node id>" once it has run, and waits for
//       <dir>/stop (the test reads this driver's output meanwhile: the
//       task's line, forwarded from its node through the control service);
//       exits 3 if its own node has "special" (nothing forwarded).
//   spillback_driver <address> echo-anywhere <dir>
//       the same wherever the driver's own node is (jobs_test: the task's
//       output in the log files of the node with "special").
//
// Exit status: 0 done, 1 any error (its message on stderr), 3 see pinned,
// 64 bad usage.
#include <ray/api.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

namespace {
namespace fs = std::filesystem;

// Only a hang (tasks that never run at once) reaches it.
constexpr auto kBarrierDeadline = std::chrono::seconds(60);

std::string WhereAmI() { return ray::GetRuntimeContext().GetNodeId(); }
RAY_REMOTE(WhereAmI);

// Arrives at the barrier in `dir`, then waits for `n` arrivals in all: the
// tasks finish only if `n` of them run at the same time.
std::string Barrier(std::string dir, int n) {
  std::ofstream(dir + "/arrived." + std::to_string(getpid()) + "." + ray::GetRuntimeContext().GetTaskId());
  const auto until = std::chrono::steady_clock::now() + kBarrierDeadline;
  for (;;) {
    int arrived = 0;
    for (auto &entry : fs::directory_iterator(dir))
      arrived += entry.path().filename().string().rfind("arrived.", 0) == 0;
    if (arrived >= n) return ray::GetRuntimeContext().GetNodeId();
    if (std::chrono::steady_clock::now() > until) return "timeout";
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}
RAY_REMOTE(Barrier);

std::string Echo() {
  std::cout << "ECHO " << ray::GetRuntimeContext().GetNodeId() << std::endl;
  return ray::GetRuntimeContext().GetNodeId();
}
RAY_REMOTE(Echo);

bool OwnNodeHasSpecial() {
  const std::string self = ray::GetRuntimeContext().GetNodeId();
  for (auto &node : ray::Nodes())
    if (node.alive && node.node_id == self && node.resources.count("special")) return true;
  return false;
}

int EchoMode(const std::string &dir, bool anywhere) {
  if (!anywhere && OwnNodeHasSpecial()) return 3;
  auto ref = ray::Task(Echo).SetResource("CPU", 1).SetResource("special", 1).Remote();
  // Got before anything is written: the task's forwarded line, printed by
  // another thread while Get waits, must not land inside this one.
  const std::string node = *ray::Get(ref);
  std::cout << "RAN " << node << std::endl;
  const auto until = std::chrono::steady_clock::now() + kBarrierDeadline;
  while (!fs::exists(dir + "/stop") && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  return 0;
}

int Pinned(const std::string &dir) {
  const std::string self = ray::GetRuntimeContext().GetNodeId();
  std::cout << "DRIVER " << self << std::endl;
  bool own_node_has_it = false;
  for (auto &node : ray::Nodes()) {
    if (!node.alive) continue;
    std::cout << "NODE " << node.node_id << " " << node.resources.count("special") << std::endl;
    own_node_has_it = own_node_has_it || (node.node_id == self && node.resources.count("special"));
  }
  if (own_node_has_it) return 3;
  auto ref = ray::Task(WhereAmI).SetResource("CPU", 1).SetResource("special", 1).Remote();
  // No node has "absent": this one is warned about, and stays pending.
  auto never = ray::Task(WhereAmI).SetResource("absent", 1).Remote();
  // A call to the control service on the connection the submissions' checks
  // for infeasible requests used: once it returns, any warning they were
  // going to print is printed.
  ray::Nodes();
  std::cout << "SUBMITTED" << std::endl;
  while (!fs::exists(dir + "/stop")) {
    if (ray::Wait(std::vector<ray::ObjectRef<std::string>>{ref}, 1, 50).ready.size() == 1) {
      std::cout << "RAN " << *ray::Get(ref) << std::endl;
      return 0;
    }
  }
  std::cout << "PENDING" << std::endl;
  return 0;
}

int Spread(const std::string &dir, int n) {
  std::vector<ray::ObjectRef<std::string>> refs;
  for (int i = 0; i < n; ++i) refs.push_back(ray::Task(Barrier).SetResource("CPU", 1).Remote(dir, n));
  for (auto &ref : refs) std::cout << "RAN " << *ray::Get(ref) << std::endl;
  return 0;
}

}  // namespace

int main(int argc, char **argv) {
  if (argc < 4) {
    std::cerr << "usage: spillback_driver <address> pinned|spread|echo|echo-anywhere <dir> [n]" << std::endl;
    return 64;
  }
  const std::string mode = argv[2], dir = argv[3];
  ray::RayConfig config;
  config.address = argv[1];
  try {
    ray::Init(config);
    int rc = mode == "pinned"          ? Pinned(dir)
             : mode == "echo"          ? EchoMode(dir, /*anywhere=*/false)
             : mode == "echo-anywhere" ? EchoMode(dir, /*anywhere=*/true)
                                       : Spread(dir, argc > 4 ? std::stoi(argv[4]) : 6);
    ray::Shutdown();
    return rc;
  } catch (const std::exception &e) {
    std::cerr << "spillback_driver: " << e.what() << std::endl;
    return 1;
  }
}
