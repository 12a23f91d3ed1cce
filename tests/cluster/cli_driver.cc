// A driver for cli_test: joins the cluster `lumen start` started, by the
// address it is given (RayConfig::address, --ray_address or RAY_ADDRESS,
// "auto" included), runs a task there and prints "RESULT <n>" and the
// session folder of the node it ran on ("SESSION <dir>"). Public API only.
//
//   cli_driver [address] [--ray_address=...]
//   cli_driver <address> hold <file>
//       runs two one-CPU tasks that each wait until <file> exists, so that on
//       a one-CPU node the second is a pending demand until then
//   cli_driver <address> actor <name> <file>
//       creates an actor named <name>, prints "ACTOR READY" once it answers,
//       and keeps it until <file> exists
//
// Exit status: 0 done, 1 any error (its message on stderr).
#include <ray/api.h>

#include <unistd.h>

#include <chrono>
#include <cstring>
#include <iostream>
#include <string>
#include <thread>

namespace {

int Square(int x) { return x * x; }
RAY_REMOTE(Square);

int HoldUntil(std::string file) {
  while (access(file.c_str(), F_OK) != 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  return 1;
}
RAY_REMOTE(HoldUntil);

class Counter {
 public:
  static Counter *Create() { return new Counter(); }
  int Add(int x) { return total_ += x; }

 private:
  int total_ = 0;
};
RAY_REMOTE(Counter::Create, &Counter::Add);

}  // namespace

int main(int argc, char **argv) {
  ray::RayConfig config;
  if (argc > 1 && std::strncmp(argv[1], "--", 2) != 0) config.address = argv[1];
  try {
    ray::Init(config, argc, argv);
    if (argc > 3 && std::string(argv[2]) == "hold") {
      auto first = ray::Task(HoldUntil).SetResource("CPU", 1).Remote(std::string(argv[3]));
      auto second = ray::Task(HoldUntil).SetResource("CPU", 1).Remote(std::string(argv[3]));
      std::cout << "HELD " << *first.Get() + *second.Get() << std::endl;
    }
    if (argc > 4 && std::string(argv[2]) == "actor") {
      auto counter = ray::Actor(Counter::Create).SetName(argv[3]).Remote();
      std::cout << "ACTOR READY " << *counter.Task(&Counter::Add).Remote(1).Get() << std::endl;
      HoldUntil(argv[4]);
    }
    int result = *ray::Task(Square).Remote(7).Get();
    std::cout << "RESULT " << result << std::endl;
    ray::Shutdown();
  } catch (const std::exception &e) {
    std::cerr << "cli_driver: " << e.what() << std::endl;
    return 1;
  }
  return 0;
}
