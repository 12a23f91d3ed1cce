// A driver for cli_test: joins the cluster `lumen start` started, by the
// address it is given (RayConfig::address, --ray_address or RAY_ADDRESS,
// "auto" included), runs a task there and prints "RESULT <n>" and the
// session folder of the node it ran on ("SESSION <dir>"). Public API only.
//
//   cli_driver [address] [--ray_address=...]
//
// Exit status: 0 done, 1 any error (its message on stderr).
#include <ray/api.h>

#include <cstring>
#include <iostream>
#include <string>

namespace {

int Square(int x) { return x * x; }
RAY_REMOTE(Square);

}  // namespace

int main(int argc, char **argv) {
  ray::RayConfig config;
  if (argc > 1 && std::strncmp(argv[1], "--", 2) != 0) config.address = argv[1];
  try {
    ray::Init(config, argc, argv);
    int result = *ray::Task(Square).Remote(7).Get();
    std::cout << "RESULT " << result << std::endl;
    ray::Shutdown();
  } catch (const std::exception &e) {
    std::cerr << "cli_driver: " << e.what() << std::endl;
    return 1;
  }
  return 0;
}
