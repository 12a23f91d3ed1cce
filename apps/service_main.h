// Start-up shared by the service programs (lumen_control, lumen_node): the
// cluster token from the environment.
#pragma once

#include <iostream>
#include <string>

#include "base/settings.h"

namespace lumen::apps {

/// The cluster token the parent put in LUMEN_CLUSTER_TOKEN, or null (after
/// saying so on stderr) when there is none.
inline const char *ClusterTokenOrComplain(const char *program) {
  const std::string &token = CurrentSettings().cluster_token;
  if (!token.empty()) return token.c_str();
  std::cerr << program << ": LUMEN_CLUSTER_TOKEN is not set\n";
  return nullptr;
}

}  // namespace lumen::apps
