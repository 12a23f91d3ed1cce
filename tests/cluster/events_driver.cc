// A driver for task_events_test: joins the cluster at the address it is
// given and runs what the state API should then show: 5 Square tasks, a
// Boom task that throws, an actor (Counter) with 2 calls, and a 2 MiB object
// (in the node's store) it keeps. Prints "READY" once all of it has ended,
// then waits until <file> exists (so its process is listed as a driver
// meanwhile) and shuts down. Public API only.
//
//   events_driver <address> <file>
//
// Exit status: 0 done, 1 any error (its message on stderr).
#include <ray/api.h>

#include <unistd.h>

#include <chrono>
#include <iostream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

int Square(int x) { return x * x; }
RAY_REMOTE(Square);

int Boom(int x) { throw std::runtime_error("boom: " + std::to_string(x) + " is not allowed"); }
RAY_REMOTE(Boom);

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
  if (argc < 3) {
    std::cerr << "usage: events_driver <address> <file>\n";
    return 1;
  }
  ray::RayConfig config;
  config.address = argv[1];
  try {
    ray::Init(config, argc, argv);
    std::vector<ray::ObjectRef<int>> squares;
    for (int i = 0; i < 5; ++i) squares.push_back(ray::Task(Square).Remote(i));
    for (auto &s : squares) (void)*s.Get();
    auto boom = ray::Task(Boom).Remote(7);
    try {
      (void)*boom.Get();
      std::cerr << "events_driver: Boom did not fail\n";
      return 1;
    } catch (const std::exception &) {
    }
    auto counter = ray::Actor(Counter::Create).Remote();
    (void)*counter.Task(&Counter::Add).Remote(1).Get();
    int total = *counter.Task(&Counter::Add).Remote(2).Get();
    auto big = ray::Put(std::string(2 << 20, 'x'));
    std::cout << "READY " << total << std::endl;
    while (access(argv[2], F_OK) != 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    std::cout << "BIG " << big.Get()->size() << std::endl;
    ray::Shutdown();
  } catch (const std::exception &e) {
    std::cerr << "events_driver: " << e.what() << std::endl;
    return 1;
  }
  return 0;
}
