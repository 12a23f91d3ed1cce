// ray::RayConfig (the argument of ray::Init) and ray::ActorLifetime.
//
// Command-line flags given to Init(config, argc, argv) override these fields;
// RAY_ADDRESS is read only when neither gives an address.
//
// Public header: must stay valid C++17.
#pragma once

#include <boost/optional.hpp>

#include <string>
#include <vector>

#include <ray/api/runtime_env.h>

namespace ray {

enum class ActorLifetime {
  NON_DETACHED,
  DETACHED,
};

class RayConfig {
 public:
  /// Cluster address "ip:port". Empty: RAY_ADDRESS, else start a local head.
  std::string address = "";

  /// Run everything inside this process.
  bool local_mode = false;

  /// Directories or .so files that workers load user code from.
  std::vector<std::string> code_search_path;

  /// Extra arguments for starting a head node (only when this driver starts it).
  std::vector<std::string> head_args = {};

  /// Job-wide default actor lifetime.
  ActorLifetime default_actor_lifetime = ActorLifetime::NON_DETACHED;

  /// Job-level runtime environment.
  boost::optional<RuntimeEnv> runtime_env;

  /// Unstable.
  boost::optional<std::string> redis_password_;

  /// Internal: set by the worker executable.
  bool is_worker_ = false;

  /// Job namespace; empty means a random one per driver.
  std::string ray_namespace = "";
};

}  // namespace ray
