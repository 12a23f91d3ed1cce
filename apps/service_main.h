// Start-up shared by the service programs (lumen_control, lumen_node): the
// cluster token from the environment.
#pragma once

#include <cstdlib>
#include <iostream>

namespace lumen::apps {

/// The cluster token the parent put in LUMEN_CLUSTER_TOKEN, or null (after
/// saying so on stderr) when there is none.
inline const char *ClusterTokenOrComplain(const char *program) {
  const char *token = std::getenv("LUMEN_CLUSTER_TOKEN");
  if (token && *token) return token;
  std::cerr << program << ": LUMEN_CLUSTER_TOKEN is not set\n";
  return nullptr;
}

}  // namespace lumen::apps
