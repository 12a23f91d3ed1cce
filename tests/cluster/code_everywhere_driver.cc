// A driver for code_everywhere_test: a single-file program whose actors run
// on nodes other than its own (they ask for custom resources "a" and "b"
// that only those nodes have), call the program's RAY_REMOTE functions
// there, and return values. Public API only.
//
//   code_everywhere_driver <address> <starts file> <tag> [fail-elsewhere]
//
// Before ray::Init it appends "<tag> <pid>" to <starts file>: the test
// counts the processes that ran main() up to Init (the driver, and each
// node's copy of the program, but never a worker). With fail-elsewhere, a
// copy started on another node (one that finds its tag in the file already)
// exits with status 3 before ray::Init, as a broken program would.
//
// Prints "DRIVER <node id>" (the node this driver joined: which one is up
// to ray::Init), "NODE <resource> <node id>" for the nodes holding "a" and "b",
// "ACTOR <resource> <node id> <square> <worker pid> <fork server pid>" per
// actor, or "FAILED <resource> <message>" when an actor's call fails.
// Exit status: 0 done, 1 any other error.
#include <ray/api.h>
#include <unistd.h>

#include <fstream>
#include <iostream>
#include <iterator>
#include <string>

namespace {

constexpr int kTimeoutMs = 120000;

int Square(int x) { return x * x; }
RAY_REMOTE(Square);

class Where {
 public:
  static Where *Create() { return new Where(); }
  std::string NodeId() { return ray::GetRuntimeContext().GetNodeId(); }
  // A task submitted from here that runs on this actor's node (it takes the
  // other half of the node's custom resource, so it cannot spread): the
  // program's code runs there in a second worker too.
  int SquareThere(int x, std::string resource) {
    return *ray::Task(Square).SetResource(resource, 0.5).Remote(x).Get(kTimeoutMs);
  }
  int Pid() { return static_cast<int>(getpid()); }
  int ParentPid() { return static_cast<int>(getppid()); }
};
RAY_REMOTE(Where::Create, &Where::NodeId, &Where::SquareThere, &Where::Pid, &Where::ParentPid);

std::string NodeWith(const std::string &resource) {
  for (auto &node : ray::Nodes())
    if (node.alive && node.resources.count(resource)) return node.node_id;
  return "-";
}

}  // namespace

int main(int argc, char **argv) {
  if (argc < 4) {
    std::cerr << "usage: code_everywhere_driver <address> <starts file> <tag> [fail-elsewhere]" << std::endl;
    return 1;
  }
  const std::string starts = argv[2], tag = argv[3];
  const bool fail_elsewhere = argc > 4 && std::string(argv[4]) == "fail-elsewhere";
  {
    std::ifstream in(starts);
    const std::string seen((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const bool driver_ran = seen.find(tag + " ") != std::string::npos;
    std::ofstream(starts, std::ios::app) << tag << " " << getpid() << std::endl;
    if (fail_elsewhere && driver_ran) return 3;
  }
  ray::RayConfig config;
  config.address = argv[1];
  try {
    ray::Init(config);
    std::cout << "DRIVER " << ray::GetRuntimeContext().GetNodeId() << std::endl;
    for (const char *resource : {"a", "b"})
      std::cout << "NODE " << resource << " " << NodeWith(resource) << std::endl;
    for (const char *resource : {"a", "b"}) {
      auto actor = ray::Actor(Where::Create).SetResource(resource, 0.5).Remote();
      try {
        const std::string node = *actor.Task(&Where::NodeId).Remote().Get(kTimeoutMs);
        const int square = *actor.Task(&Where::SquareThere).Remote(7, std::string(resource)).Get(kTimeoutMs);
        const int pid = *actor.Task(&Where::Pid).Remote().Get(kTimeoutMs);
        const int parent = *actor.Task(&Where::ParentPid).Remote().Get(kTimeoutMs);
        std::cout << "ACTOR " << resource << " " << node << " " << square << " " << pid << " " << parent
                  << std::endl;
      } catch (const ray::internal::RayException &e) {
        std::string message = e.what();
        for (char &c : message)
          if (c == '\n') c = ' ';
        std::cout << "FAILED " << resource << " " << message << std::endl;
      }
    }
    ray::Shutdown();
  } catch (const std::exception &e) {
    std::cerr << "code_everywhere_driver: " << e.what() << std::endl;
    return 1;
  }
  return 0;
}
