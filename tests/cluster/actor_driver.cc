// A second driver program for actor_failure_test: joins a running cluster
// and creates or calls a named counter actor, to check actor lifetimes
// across drivers. Public API only.
//
//   actor_driver <ip:port> <namespace> create <name> detached|non-detached
//       creates the actor (starting at 0), adds 5, prints, exits
//   actor_driver <ip:port> <namespace> call <name>
//       finds the actor by name, adds 1, prints, exits
//
// Prints "VALUE <counter>" and "PID <actor pid>" lines. Exit status: 0 done,
// 2 no actor by that name, 1 any error, 64 bad usage. The cluster token is
// found through LUMEN_TMPDIR, inherited from the test.
#include <ray/api.h>
#include <unistd.h>

#include <iostream>
#include <string>

namespace {

class DriverCounter {
 public:
  static DriverCounter *Create() { return new DriverCounter(); }
  int Add(int x) {
    count_ += x;
    return count_;
  }
  int GetPid() { return static_cast<int>(getpid()); }

 private:
  int count_ = 0;
};

RAY_REMOTE(DriverCounter::Create, &DriverCounter::Add, &DriverCounter::GetPid);

constexpr int kTimeoutMs = 60000;

int Run(const std::string &mode, const std::string &name) {
  ray::ActorHandle<DriverCounter> actor;
  int add = 0;
  if (mode == "create") {
    actor = ray::Actor(DriverCounter::Create).SetName(name).Remote();
    add = 5;
  } else {
    auto found = ray::GetActor<DriverCounter>(name);
    if (!found) {
      std::cout << "MISSING " << name << std::endl;
      return 2;
    }
    actor = *found;
    add = 1;
  }
  int value = *actor.Task(&DriverCounter::Add).Remote(add).Get(kTimeoutMs);
  int pid = *actor.Task(&DriverCounter::GetPid).Remote().Get(kTimeoutMs);
  std::cout << "VALUE " << value << "\nPID " << pid << std::endl;
  return 0;
}

}  // namespace

int main(int argc, char **argv) {
  if (argc < 5 || (std::string(argv[3]) != "create" && std::string(argv[3]) != "call")) {
    std::cerr << "usage: " << argv[0] << " <ip:port> <namespace> create|call <name> [detached]\n";
    return 64;
  }
  ray::RayConfig config;
  config.address = argv[1];
  config.ray_namespace = argv[2];
  bool detached = argc > 5 && std::string(argv[5]) == "detached";
  config.default_actor_lifetime = detached ? ray::ActorLifetime::DETACHED : ray::ActorLifetime::NON_DETACHED;
  int status = 1;
  try {
    ray::Init(config);
    status = Run(argv[3], argv[4]);
  } catch (const std::exception &e) {
    std::cerr << "actor_driver: " << e.what() << std::endl;
    status = 1;
  }
  if (ray::IsInitialized()) ray::Shutdown();
  return status;
}
