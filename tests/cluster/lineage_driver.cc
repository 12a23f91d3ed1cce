// A driver for lineage_test: work on a node that dies. Joins the cluster
// at the address it is given, whose three nodes have the custom resource
// `lin` and each a `lin_<name>` of its own; B and C are the nodes other than
// the driver's (B not the head). While actors hold the `lin` of the driver's
// node and of C, tasks needing `lin` make two large objects on B and a long
// task starts on B; an actor on B (by B's `lin_<name>`) Puts an object there
// and hands the driver its ref. Then C's `lin` is freed and the driver tells
// the test (file "ready" in <dir>), which SIGKILLs node B and says so (file
// "killed"). The driver then reads the first large object (rebuilt on C by
// re-running its task), the long task's result (retried on C), the second
// large object through a task off B (its worker finds the copy lost and tells
// the owner, which makes it again), and the actor's Put object (its owner
// died with B: unreconstructable). Public API only.
//
//   lineage_driver <address> <bytes> <dir> [borrower]
//
// Without "borrower", the second object is not read (ARG_READ not printed).
//
// Prints "NODE_C <id>", "NODE_B <id>", "KILL <name>" (B's temp dir is
// <root>/<name>), "EXPECTED <checksum>", "EXPECTED_ARG <checksum>", then
// "BIG <bytes> <checksum>", "LONG <node id>", "ARG_READ <checksum>", and
// "PUT_LOST <message>" (or "PUT_READ" if it was read). Each run of the task
// that makes a large object creates <dir>/made_<seed>_<node id> (seeds 5, 6).
// Exit status: 0 done, 1 any error (on stderr).
#include <ray/api.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace {

uint8_t ByteAt(uint64_t i, int seed) { return static_cast<uint8_t>((i * 131 + seed) ^ (i >> 12)); }

uint64_t Checksum(const std::vector<uint8_t> &v) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a over every 64th byte and the size
  for (size_t i = 0; i < v.size(); i += 64) h = (h ^ v[i]) * 1099511628211ull;
  return h ^ v.size();
}

// Says where it ran by creating <dir>/made_<seed>_<node id>.
std::vector<uint8_t> Make(uint64_t bytes, int seed, std::string dir) {
  std::ofstream(dir + "/made_" + std::to_string(seed) + "_" + ray::GetRuntimeContext().GetNodeId()) << "made";
  std::vector<uint8_t> v(bytes);
  for (uint64_t i = 0; i < bytes; i++) v[i] = ByteAt(i, seed);
  return v;
}
RAY_REMOTE(Make);

std::string ArgChecksum(const std::vector<uint8_t> &v) { return std::to_string(Checksum(v)); }
RAY_REMOTE(ArgChecksum);

// Runs until <dir>/killed exists (the test creates it once node B is dead):
// on B it is still running when B dies; retried on C, it returns at once.
// Says it started by creating <dir>/long_started.
std::string Long(std::string dir) {
  std::ofstream(dir + "/long_started") << ray::GetRuntimeContext().GetNodeId();
  while (!std::filesystem::exists(dir + "/killed"))
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  return ray::GetRuntimeContext().GetNodeId();
}
RAY_REMOTE(Long);

class Holder {
 public:
  static Holder *Create() { return new Holder(); }
  std::string NodeId() { return ray::GetRuntimeContext().GetNodeId(); }
  // A Put this actor owns, whose only copy is in its node's store.
  std::vector<ray::ObjectRef<std::vector<uint8_t>>> PutBig(uint64_t bytes) {
    return {ray::Put(std::vector<uint8_t>(bytes, 7))};
  }
};
RAY_REMOTE(Holder::Create, &Holder::NodeId, &Holder::PutBig);

bool WaitForFile(const std::string &path) {
  for (int i = 0; i < 6000; i++) {  // a deadline only a hang reaches (the test's own is shorter)
    if (std::filesystem::exists(path)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

}  // namespace

int main(int argc, char **argv) {
  if (argc < 4) {
    std::cerr << "usage: lineage_driver <address> <bytes> <dir>" << std::endl;
    return 1;
  }
  const uint64_t bytes = std::stoull(argv[2]);
  const std::string dir = argv[3];
  const bool borrower = argc > 4 && std::string(argv[4]) == "borrower";
  constexpr int kSeed = 5;
  ray::RayConfig config;
  config.address = argv[1];
  try {
    ray::Init(config);
    // Every node has `lin` and a `lin_<name>` of its own. B and C are the
    // two nodes other than the driver's (which must survive), B not the head. The driver's
    // node's and C's `lin` are held while the work starts, so that it starts on B.
    const std::string self = ray::GetRuntimeContext().GetNodeId();
    std::string mine;
    std::vector<std::pair<std::string, std::string>> others;  // node id, its lin_<name>
    for (auto &node : ray::Nodes()) {
      if (!node.alive) continue;
      for (auto &[name, amount] : node.resources) {
        if (name.rfind("lin_", 0) != 0) continue;
        if (node.node_id == self)
          mine = name;
        else
          others.emplace_back(node.node_id, name);
      }
    }
    if (mine.empty() || others.size() != 2)
      throw std::runtime_error("expected three nodes with lin_* resources");
    // B is never the head: the control service runs there, and the cluster cannot lose it.
    if (others[0].second == "lin_head") std::swap(others[0], others[1]);
    const std::string b = others[0].second, c = others[1].second;
    auto hold_mine = ray::Actor(Holder::Create).SetResource(mine, 1).SetResource("lin", 1).Remote();
    hold_mine.Task(&Holder::NodeId).Remote().Get();
    auto blocker = ray::Actor(Holder::Create).SetResource(c, 1).SetResource("lin", 1).Remote();
    std::cout << "NODE_C " << *blocker.Task(&Holder::NodeId).Remote().Get() << std::endl;
    auto holder = ray::Actor(Holder::Create).SetResource(b, 1).Remote();
    std::cout << "NODE_B " << *holder.Task(&Holder::NodeId).Remote().Get() << std::endl;
    std::cout << "KILL " << b.substr(4) << std::endl;

    std::vector<uint8_t> expected(bytes);
    for (uint64_t i = 0; i < bytes; i++) expected[i] = ByteAt(i, kSeed);
    std::cout << "EXPECTED " << Checksum(expected) << std::endl;
    for (uint64_t i = 0; i < bytes; i++) expected[i] = ByteAt(i, kSeed + 1);
    std::cout << "EXPECTED_ARG " << Checksum(expected) << std::endl;
    expected = {};

    auto big = ray::Task(Make).SetResource("lin", 1).Remote(bytes, kSeed, dir);
    ray::Wait(std::vector<ray::ObjectRef<std::vector<uint8_t>>>{big}, 1, -1);  // made on B, not read
    auto arg = ray::Task(Make).SetResource("lin", 1).Remote(bytes, kSeed + 1, dir);
    ray::Wait(std::vector<ray::ObjectRef<std::vector<uint8_t>>>{arg}, 1, -1);  // made on B, not read
    auto lng = ray::Task(Long).SetResource("lin", 1).Remote(dir);
    if (!WaitForFile(dir + "/long_started")) throw std::runtime_error("the long task did not start");
    auto put = (*holder.Task(&Holder::PutBig).Remote(bytes).Get()).at(0);
    blocker.Kill();  // C's `lin` is free for the retries
    std::ofstream(dir + "/ready") << "ready";
    if (!WaitForFile(dir + "/killed")) throw std::runtime_error("the test did not kill node B");

    // First read by a task (on the driver's node: until processes are reached
    // by network address, issue 15 point 4, a worker on another node cannot
    // reach its owner): its worker finds the copy lost and has the owner
    // (this driver) make it again.
    if (borrower)
      std::cout << "ARG_READ " << *ray::Task(ArgChecksum).SetResource(mine, 1).Remote(arg).Get() << std::endl;
    auto got = big.Get();
    std::cout << "BIG " << got->size() << " " << Checksum(*got) << std::endl;
    std::cout << "LONG " << *lng.Get() << std::endl;
    try {
      put.Get();
      std::cout << "PUT_READ" << std::endl;
    } catch (const ray::internal::UnreconstructableException &e) {
      std::string msg = e.what();
      for (auto &c : msg)
        if (c == '\n') c = ' ';
      std::cout << "PUT_LOST " << msg << std::endl;
    }
    ray::Shutdown();
  } catch (const std::exception &e) {
    std::cerr << "lineage_driver: " << e.what() << std::endl;
    return 1;
  }
  return 0;
}
