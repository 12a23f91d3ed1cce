// A driver for netns_test: joins the cluster at the address it is given (its
// node: the head, in the driver's own network namespace), where each node has
// a custom resource of its own: netns_a (the head), netns_b and netns_c. Every
// node has its own IP address, so each exchange below between processes of
// different nodes goes over TCP. Public API only.
//
//   netns_driver <address> <bytes>
//
// Prints, one per line:
//   NODE <resource> <node id>      from ray::Nodes()
//   RAN <resource> <node id>       a task that needs <resource> ran there
//   ACTOR_NODE <node id>           the actor, placed by netns_b
//   BORROWED <value>               the actor read an object the driver owns
//                                  (a ref inside its argument: it asks the owner)
//   ACTOR_OWNED <value>            the driver read an object the actor owns
//   EXPECTED <checksum>            of the large object the actor makes
//   BIG_READ <node id> <checksum>  a task needing netns_c read it
//   DRIVER_READ <checksum>         and the driver read it too
//   NODES <n>                      the alive nodes, after all that
// Exit status: 0 done, 1 any error (its message on stderr).
#include <ray/api.h>

#include <cstdint>
#include <iostream>
#include <string>
#include <vector>

namespace {

uint8_t ByteAt(uint64_t i) { return static_cast<uint8_t>((i * 131 + 7) ^ (i >> 12)); }

uint64_t Checksum(const std::vector<uint8_t> &v) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a over every 64th byte and the size
  for (size_t i = 0; i < v.size(); i += 64) h = (h ^ v[i]) * 1099511628211ull;
  return h ^ v.size();
}

std::string WhereAmI() { return ray::GetRuntimeContext().GetNodeId(); }
RAY_REMOTE(WhereAmI);

std::string ReadBig(const std::vector<uint8_t> &v) {
  return ray::GetRuntimeContext().GetNodeId() + " " + std::to_string(Checksum(v));
}
RAY_REMOTE(ReadBig);

class Keeper {
 public:
  static Keeper *Create() { return new Keeper(); }
  std::string NodeId() { return ray::GetRuntimeContext().GetNodeId(); }
  // The refs arrive unresolved (inside a vector): Get asks their owner.
  int Sum(std::vector<ray::ObjectRef<int>> refs) {
    int sum = 0;
    for (auto &r : refs) sum += *r.Get();
    return sum;
  }
  // An object this actor owns (and keeps), handed back inside the result.
  std::vector<ray::ObjectRef<int>> Own(int v) {
    held_.push_back(ray::Put(v));
    return {held_.back()};
  }
  std::vector<uint8_t> Make(uint64_t bytes) {
    std::vector<uint8_t> v(bytes);
    for (uint64_t i = 0; i < bytes; i++) v[i] = ByteAt(i);
    return v;
  }

 private:
  std::vector<ray::ObjectRef<int>> held_;
};
RAY_REMOTE(Keeper::Create, &Keeper::NodeId, &Keeper::Sum, &Keeper::Own, &Keeper::Make);

}  // namespace

int main(int argc, char **argv) {
  if (argc < 3) {
    std::cerr << "usage: netns_driver <address> <bytes>" << std::endl;
    return 1;
  }
  const uint64_t bytes = std::stoull(argv[2]);
  ray::RayConfig config;
  config.address = argv[1];
  try {
    ray::Init(config);
    for (auto &node : ray::Nodes())
      for (auto &[name, amount] : node.resources)
        if (name.rfind("netns_", 0) == 0 && node.alive)
          std::cout << "NODE " << name << " " << node.node_id << std::endl;
    for (const char *r : {"netns_a", "netns_b", "netns_c"})
      std::cout << "RAN " << r << " " << *ray::Task(WhereAmI).SetResource(r, 0.5).Remote().Get() << std::endl;

    auto keeper = ray::Actor(Keeper::Create).SetResource("netns_b", 0.5).Remote();
    std::cout << "ACTOR_NODE " << *keeper.Task(&Keeper::NodeId).Remote().Get() << std::endl;
    std::vector<ray::ObjectRef<int>> mine{ray::Put(40), ray::Put(2)};
    std::cout << "BORROWED " << *keeper.Task(&Keeper::Sum).Remote(mine).Get() << std::endl;
    auto theirs = *keeper.Task(&Keeper::Own).Remote(7).Get();
    std::cout << "ACTOR_OWNED " << *theirs.at(0).Get() << std::endl;

    std::vector<uint8_t> expected(bytes);
    for (uint64_t i = 0; i < bytes; i++) expected[i] = ByteAt(i);
    std::cout << "EXPECTED " << Checksum(expected) << std::endl;
    expected = {};
    auto big = keeper.Task(&Keeper::Make).Remote(bytes);
    std::cout << "BIG_READ " << *ray::Task(ReadBig).SetResource("netns_c", 0.5).Remote(big).Get()
              << std::endl;
    std::cout << "DRIVER_READ " << Checksum(*big.Get()) << std::endl;
    size_t alive = 0;
    for (auto &node : ray::Nodes()) alive += node.alive ? 1 : 0;
    std::cout << "NODES " << alive << std::endl;
    ray::Shutdown();
  } catch (const std::exception &e) {
    std::cerr << "netns_driver: " << e.what() << std::endl;
    return 1;
  }
  return 0;
}
