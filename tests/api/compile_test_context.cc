// Third translation unit of api_compile_test: <ray/api/runtime_context.h>, a
// Lumen extension, compiles on its own (C++17, before any other header).
#include <ray/api/runtime_context.h>

size_t CountAliveNodes() {
  size_t alive = 0;
  for (const ray::NodeInfo &node : ray::Nodes()) alive += node.alive ? 1 : 0;
  return alive;
}
