// A driver for objects_test: joins the cluster at the address it is given,
// creates an actor that needs the custom resource `objects_<x>` of a node other
// than its own (each node of the test has one of its own), has it make a
// large object there, and reads that object on the driver's node, directly
// and through a task. Public API only.
//
//   objects_driver <address> <bytes>
//
// Prints "DRIVER_NODE <id>", "ACTOR_NODE <id>", "EXPECTED <checksum>",
// "DRIVER_READ <bytes> <checksum>", "TASK_READ <node id> <checksum>"; or
// "SKIP <why>" (exit 0) when the actor cannot start on the other node. Exit
// status: 0 done, 1 any error (its message on stderr).
#include <ray/api.h>
#include <unistd.h>

#include <cstdint>
#include <iostream>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

// How long the actor may take to start on the other node before the driver
// decides it cannot (work on other nodes is issue 15 point 7).
constexpr int kActorStartMs = 20000;

uint8_t ByteAt(uint64_t i, int seed) { return static_cast<uint8_t>((i * 131 + seed) ^ (i >> 12)); }

uint64_t Checksum(const std::vector<uint8_t> &v) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a over every 64th byte and the size
  for (size_t i = 0; i < v.size(); i += 64) h = (h ^ v[i]) * 1099511628211ull;
  return h ^ v.size();
}

class Maker {
 public:
  static Maker *Create() { return new Maker(); }
  std::string NodeId() { return ray::GetRuntimeContext().GetNodeId(); }
  std::vector<uint8_t> Make(uint64_t bytes, int seed) {
    std::vector<uint8_t> v(bytes);
    for (uint64_t i = 0; i < bytes; i++) v[i] = ByteAt(i, seed);
    return v;
  }
};
RAY_REMOTE(Maker::Create, &Maker::NodeId, &Maker::Make);

std::string TaskChecksum(const std::vector<uint8_t> &v) {
  return ray::GetRuntimeContext().GetNodeId() + " " + std::to_string(Checksum(v));
}
RAY_REMOTE(TaskChecksum);

}  // namespace

int main(int argc, char **argv) {
  if (argc < 3) {
    std::cerr << "usage: objects_driver <address> <bytes>" << std::endl;
    return 1;
  }
  const uint64_t bytes = std::stoull(argv[2]);
  constexpr int kSeed = 3;
  ray::RayConfig config;
  config.address = argv[1];
  try {
    ray::Init(config);
    const std::string self = ray::GetRuntimeContext().GetNodeId();
    std::cout << "DRIVER_NODE " << self << std::endl;
    std::string other;  // a resource only another node has
    for (auto &node : ray::Nodes())
      if (node.alive && node.node_id != self)
        for (auto &[name, amount] : node.resources)
          if (name.rfind("objects_", 0) == 0) other = name;
    if (other.empty()) throw std::runtime_error("no other node with an objects_* resource");
    auto maker = ray::Actor(Maker::Create).SetResource(other, 1).Remote();
    auto where = maker.Task(&Maker::NodeId).Remote();
    std::vector<ray::ObjectRef<std::string>> started{where};
    if (ray::Wait(started, 1, kActorStartMs).ready.empty()) {
      std::cout << "SKIP the actor did not start on the node with " << other << " within " << kActorStartMs
                << " ms: work cannot run on a node other than the driver's yet" << std::endl;
      _exit(0);  // the pending actor would hold up Shutdown; the test stops the cluster
    }
    std::string actor_node;
    try {
      actor_node = *where.Get();
    } catch (const std::exception &e) {
      std::cout << "SKIP the actor could not start on the node with " << other << ": " << e.what()
                << std::endl;
      _exit(0);
    }
    std::cout << "ACTOR_NODE " << actor_node << std::endl;
    std::vector<uint8_t> expected(bytes);
    for (uint64_t i = 0; i < bytes; i++) expected[i] = ByteAt(i, kSeed);
    std::cout << "EXPECTED " << Checksum(expected) << std::endl;
    expected = {};

    auto data = maker.Task(&Maker::Make).Remote(bytes, kSeed);
    {
      auto got = data.Get();
      std::cout << "DRIVER_READ " << got->size() << " " << Checksum(*got) << std::endl;
    }
    std::cout << "TASK_READ " << *ray::Task(TaskChecksum).Remote(data).Get() << std::endl;
    ray::Shutdown();
  } catch (const std::exception &e) {
    std::cerr << "objects_driver: " << e.what() << std::endl;
    return 1;
  }
  return 0;
}
