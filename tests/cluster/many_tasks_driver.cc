// A driver that records many tasks, for the state API at scale
// (state_scale_test and bench/state_api_latency): joins the cluster at
// <address>, runs <tasks> tasks of Noop to the end, in waves (each waited
// for), then, with <running>, starts that many Hold tasks that run until
// <release-file> exists, prints "READY" and waits for them. Public API only.
//
//   many_tasks_driver <address> <tasks> [<running> <release-file>]
//
// Exit status: 0 done, 1 any error (its message on stderr).
#include <ray/api.h>

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

namespace {

int Noop(int x) { return x; }
RAY_REMOTE(Noop);

// Runs until `release` exists: RUNNING in the state API meanwhile.
int Hold(std::string release) {
  while (access(release.c_str(), F_OK) != 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  return 1;
}
RAY_REMOTE(Hold);

}  // namespace

int main(int argc, char **argv) {
  if (argc != 3 && argc != 5) {
    std::cerr << "usage: many_tasks_driver <address> <tasks> [<running> <release-file>]\n";
    return 1;
  }
  const long tasks = std::atol(argv[2]);
  const int running = argc == 5 ? std::atoi(argv[3]) : 0;
  ray::RayConfig config;
  config.address = argv[1];
  try {
    ray::Init(config, argc, argv);
    constexpr long kWave = 10000;  // in flight at once: bounded driver memory
    for (long done = 0; done < tasks;) {
      const long n = std::min(kWave, tasks - done);
      std::vector<ray::ObjectRef<int>> wave;
      wave.reserve(n);
      for (long i = 0; i < n; ++i) wave.push_back(ray::Task(Noop).Remote(static_cast<int>(done + i)));
      ray::Wait(wave, static_cast<int>(wave.size()), -1);
      done += n;
    }
    std::cout << "DONE " << tasks << std::endl;
    std::vector<ray::ObjectRef<int>> held;
    for (int i = 0; i < running; ++i) held.push_back(ray::Task(Hold).Remote(std::string(argv[4])));
    std::cout << "READY" << std::endl;
    int released = 0;
    for (auto &h : held) released += *h.Get();
    std::cout << "RELEASED " << released << std::endl;
    ray::Shutdown();
  } catch (const std::exception &e) {
    std::cerr << "many_tasks_driver: " << e.what() << std::endl;
    return 1;
  }
  return 0;
}
