// A driver for the dashboard's browser test (dashboard/client/tests): joins
// the cluster at the address it is given and leaves what the pages should
// show: 4 Square tasks, a Boom task that throws, a named actor ("ui-counter"
// in namespace "ui-test") and an unnamed one, both alive, and a 2 MiB object
// it keeps. Prints "READY" once all of it has ended, then waits until <file>
// exists (so its actors and process stay listed) and shuts down. With
// <tasks>, it first runs that many more Square tasks (the page-load benchmark,
// bench/dashboard_page_load.mjs, records 10,000). Public API only.
//
//   dashboard_ui_driver <address> <file> [<tasks>]
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

int Boom(int x) { throw std::runtime_error("dashboard-ui boom: " + std::to_string(x) + " is not allowed"); }
RAY_REMOTE(Boom);

class UiCounter {
 public:
  static UiCounter *Create() { return new UiCounter(); }
  int Add(int x) { return total_ += x; }

 private:
  int total_ = 0;
};
RAY_REMOTE(UiCounter::Create, &UiCounter::Add);

}  // namespace

int main(int argc, char **argv) {
  if (argc < 3) {
    std::cerr << "usage: dashboard_ui_driver <address> <file> [<tasks>]\n";
    return 1;
  }
  ray::RayConfig config;
  config.address = argv[1];
  try {
    ray::Init(config, argc, argv);
    const int extra = argc > 3 ? std::stoi(argv[3]) : 0;
    for (int done = 0; done < extra;) {  // in batches: a bounded number in flight
      std::vector<ray::ObjectRef<int>> batch;
      for (int i = 0; i < 500 && done < extra; ++i, ++done) batch.push_back(ray::Task(Square).Remote(done));
      (void)ray::Get(batch);
    }
    std::vector<ray::ObjectRef<int>> squares;
    for (int i = 0; i < 4; ++i) squares.push_back(ray::Task(Square).Remote(i));
    for (auto &s : squares) (void)*s.Get();
    auto boom = ray::Task(Boom).Remote(7);
    try {
      (void)*boom.Get();
      std::cerr << "dashboard_ui_driver: Boom did not fail\n";
      return 1;
    } catch (const std::exception &) {
    }
    auto named = ray::Actor(UiCounter::Create).SetName("ui-counter", "ui-test").Remote();
    auto unnamed = ray::Actor(UiCounter::Create).Remote();
    (void)*named.Task(&UiCounter::Add).Remote(1).Get();
    (void)*unnamed.Task(&UiCounter::Add).Remote(2).Get();
    auto big = ray::Put(std::string(2 << 20, 'x'));
    std::cout << "READY" << std::endl;
    while (access(argv[2], F_OK) != 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    std::cout << "BIG " << big.Get()->size() << std::endl;
    ray::Shutdown();
  } catch (const std::exception &e) {
    std::cerr << "dashboard_ui_driver: " << e.what() << std::endl;
    return 1;
  }
  return 0;
}
