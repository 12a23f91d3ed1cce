// Driver for the code_search_path test: run with --ray_code_search_path=DIR.
#include <ray/api.h>
#include <unistd.h>

#include <iostream>

int Triple(int x);
int WorkerPid();

int main(int argc, char **argv) {
  ray::RayConfig config;
  config.head_args = {"--num-cpus=1"};
  ray::Init(config, argc, argv);
  int tripled = *ray::Task(Triple).Remote(14).Get();
  int pid = *ray::Task(WorkerPid).Remote().Get();
  ray::Shutdown();
  std::cout << "Triple(14) = " << tripled << " in worker pid " << pid << std::endl;
  if (tripled != 42 || pid == getpid()) return 1;
  std::cout << "code_search_path: 1 passed, 0 failed" << std::endl;
  return 0;
}
