// lumen_worker: the generic worker program (Ray's default_worker). The node
// service starts it for jobs that load user code from a code search path; it
// loads those shared libraries and serves tasks. Jobs without one get workers
// forked from the driver instead.
#include <ray/api.h>
#include <ray/api/internal_api.h>

int main(int argc, char **argv) {
  ray::RayConfig config;
  config.is_worker_ = true;
  ray::Init(config, argc, argv);  // serves tasks; returns only on failure
  ray::RunTaskExecutionLoop();
  return 1;
}
