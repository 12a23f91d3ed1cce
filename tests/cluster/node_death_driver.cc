// A driver for node_death_test: joins the cluster at <address> (the head,
// then the only node, so this driver's node survives), and steps through a
// node's death with the test, which it meets through files in <dir>:
//
//   1. prints "JOINED", waits for <dir>/victim-up (the test started the
//      node with {"pin": 1, "solo": 1});
//   2. starts a named detached actor "survivor" needing {"pin": 1} with
//      max_restarts=1, an actor needing {"solo": 1} with max_restarts=0
//      (both only fit the new node), and a STRICT_SPREAD group of two
//      one-CPU bundles (head and the new node); prints "VICTIM <node id of
//      both actors>", then "READY", and waits for <dir>/killed (the test
//      started a third node with {"pin": 1} and SIGKILLed the victim);
//   3. prints "SOLO_ERROR <message>" once the max_restarts=0 actor's call
//      raises RayActorException, "SURVIVOR <node id>" once the other one
//      answers again (from its new node), "GROUP <1 if created again>" and
//      "DONE".
//
// Exit status: 0 done, 1 any error (its message on stderr), 64 bad usage.
#include <ray/api.h>

#include <chrono>
#include <filesystem>
#include <iostream>
#include <string>
#include <thread>

namespace {
namespace fs = std::filesystem;

// Only a hang reaches them.
constexpr auto kDeadline = std::chrono::seconds(90);
constexpr int kCallTimeoutMs = 30000;

class Where {
 public:
  static Where *Create() { return new Where(); }
  std::string Node() { return ray::GetRuntimeContext().GetNodeId(); }
};
RAY_REMOTE(Where::Create, &Where::Node);

bool WaitForFile(const std::string &path) {
  const auto until = std::chrono::steady_clock::now() + kDeadline;
  while (!fs::exists(path)) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

int Run(const std::string &dir) {
  std::cout << "JOINED" << std::endl;
  if (!WaitForFile(dir + "/victim-up")) throw std::runtime_error("the victim node never came up");
  auto survivor =
      ray::Actor(Where::Create).SetName("survivor").SetMaxRestarts(1).SetResource("pin", 1).Remote();
  auto solo = ray::Actor(Where::Create).SetMaxRestarts(0).SetResource("solo", 1).Remote();
  const std::string victim = *survivor.Task(&Where::Node).Remote().Get(kCallTimeoutMs);
  const std::string solo_node = *solo.Task(&Where::Node).Remote().Get(kCallTimeoutMs);
  ray::PlacementGroupCreationOptions options{
      "", {{{"CPU", 1}}, {{"CPU", 1}}}, ray::PlacementStrategy::STRICT_SPREAD};
  ray::PlacementGroup group = ray::CreatePlacementGroup(options);
  if (!group.Wait(60)) throw std::runtime_error("the placement group was never created");
  std::cout << "VICTIM " << victim << " " << solo_node << std::endl;
  std::cout << "READY" << std::endl;
  if (!WaitForFile(dir + "/killed")) throw std::runtime_error("the victim was never killed");

  const auto until = std::chrono::steady_clock::now() + kDeadline;
  for (;;) {
    try {
      solo.Task(&Where::Node).Remote().Get(kCallTimeoutMs);
    } catch (const ray::internal::RayActorException &e) {
      std::cout << "SOLO_ERROR " << e.what() << std::endl;
      break;
    }
    if (std::chrono::steady_clock::now() > until) throw std::runtime_error("the solo actor never failed");
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  for (;;) {
    try {
      const std::string now_on = *survivor.Task(&Where::Node).Remote().Get(kCallTimeoutMs);
      if (now_on != victim) {
        std::cout << "SURVIVOR " << now_on << std::endl;
        break;
      }
    } catch (const ray::internal::RayException &) {
      // A call caught by the node's death: the next goes to the restarted actor.
    }
    if (std::chrono::steady_clock::now() > until) throw std::runtime_error("the survivor never came back");
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::cout << "GROUP " << group.Wait(60) << std::endl;
  std::cout << "DONE" << std::endl;
  return 0;
}

}  // namespace

int main(int argc, char **argv) {
  if (argc < 3) {
    std::cerr << "usage: node_death_driver <address> <dir>" << std::endl;
    return 64;
  }
  ray::RayConfig config;
  config.address = argv[1];
  try {
    ray::Init(config);
    int rc = Run(argv[2]);
    ray::Shutdown();
    return rc;
  } catch (const std::exception &e) {
    std::cerr << "node_death_driver: " << e.what() << std::endl;
    return 1;
  }
}
