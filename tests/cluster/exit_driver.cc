// A driver program for api_edge_test that ends without ray::Shutdown(): the
// exit handler ray::Init registered must shut the runtime down cleanly,
// whatever order the process's statics are destroyed in. Public API only.
//
//   exit_driver return|exit3 [local]
//       runs a task, an actor call and a large Put, keeps an ObjectRef in a
//       global, writes "RESULT <n>" to std::cout without flushing it, then
//       returns 0 from main (return) or calls std::exit(3) (exit3). `local`
//       runs in local mode.
//
// Exit status 64 on bad usage.
#include <ray/api.h>

#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

namespace {

int Twice(int x) { return 2 * x; }
RAY_REMOTE(Twice);

class Adder {
 public:
  static Adder *Create(int base) { return new Adder(base); }
  explicit Adder(int base) : base_(base) {}
  int Add(int x) { return base_ + x; }

 private:
  int base_;
};
RAY_REMOTE(Adder::Create, &Adder::Add);

// Destroyed after the exit handler has shut the runtime down.
ray::ObjectRef<int> g_kept;

}  // namespace

int main(int argc, char **argv) {
  std::string mode = argc > 1 ? argv[1] : "";
  if (mode != "return" && mode != "exit3") return 64;
  ray::RayConfig config;
  config.local_mode = argc > 2 && std::string(argv[2]) == "local";
  config.head_args = {"--num-cpus=2"};
  ray::Init(config);
  int n = *ray::Task(Twice).Remote(20).Get();
  auto adder = ray::Actor(Adder::Create).Remote(1);
  n += *adder.Task(&Adder::Add).Remote(1).Get();
  // Large enough for the shared-memory store and the parallel copy threads.
  std::vector<char> big(32 << 20, 'x');
  n += static_cast<int>(ray::Get(ray::Put(big))->size() > 0);
  g_kept = ray::Put(n);
  // No std::endl or flush: the line must still arrive when the process ends.
  std::cout << "RESULT " << n;
  if (mode == "exit3") std::exit(3);
  return 0;
}
