// A driver for user_metrics_test: joins the cluster at the address it is
// given and records user metrics in itself and in a task:
//   lumen_test_requests (Counter, tag route=/a): 2 here, 3 in the task;
//   lumen_test_depth (Gauge, tag queue=q1): 7 here;
//   lumen_test_latency (Histogram, boundaries 1, 10, 100): 0.5 and 5 here,
//   50 in the task.
// Prints "READY" once the task has ended, then waits until <file> exists (so
// the values leave while it runs) and shuts down. Public API only.
//
//   metrics_driver <address> <file>
//
// Exit status: 0 done, 1 any error (its message on stderr).
#include <ray/api.h>
#include <ray/api/metric.h>

#include <unistd.h>

#include <chrono>
#include <iostream>
#include <string>
#include <thread>

namespace {

ray::Counter &Requests() {
  static ray::Counter counter("lumen_test_requests", "Requests served in the test", "1", {"route"});
  return counter;
}

ray::Histogram &Latency() {
  static ray::Histogram histogram("lumen_test_latency", "Latency in the test", "ms", {1, 10, 100});
  return histogram;
}

int Serve(int x) {
  Requests().Inc(3, {{"route", "/a"}});
  Latency().Observe(50);
  return x + 1;
}
RAY_REMOTE(Serve);

}  // namespace

int main(int argc, char **argv) {
  if (argc < 3) {
    std::cerr << "usage: metrics_driver <address> <file>\n";
    return 1;
  }
  ray::RayConfig config;
  config.address = argv[1];
  try {
    ray::Init(config, argc, argv);
    ray::Gauge depth("lumen_test_depth", "Queue depth in the test", "1", {"queue"});
    depth.Set(7, {{"queue", "q1"}});
    Requests().Inc(2, {{"route", "/a"}});
    Latency().Observe(0.5);
    Latency().Observe(5);
    int got = *ray::Task(Serve).Remote(1).Get();
    std::cout << "READY " << got << std::endl;
    while (access(argv[2], F_OK) != 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    ray::Shutdown();
  } catch (const std::exception &e) {
    std::cerr << "metrics_driver: " << e.what() << std::endl;
    return 1;
  }
  return 0;
}
