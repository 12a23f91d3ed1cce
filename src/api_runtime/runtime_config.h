// Turns a RayConfig plus command-line flags and environment into the settings
// the runtime uses (Ray's ConfigInternal). Flags override the config; the
// RAY_ADDRESS environment variable is read only when neither gives an address.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <ray/api/ray_config.h>

#include "base/status.h"

namespace lumen::api {

struct ResolvedConfig {
  std::string address;  // control service "host:port", "unix:/path" or "auto"; empty = start a local head
  bool local_mode = false;
  std::vector<std::string> code_search_path;
  std::vector<std::string> head_args;
  std::string ray_namespace;
  bool detached_actors = false;
  std::string runtime_env_json;  // job-level RuntimeEnv::Serialize(), or empty
  bool is_worker = false;
  // Set for generic workers by the node service.
  std::string node_socket;
  std::string session_dir;
  std::string worker_id_hex;
  uint32_t job_id = 0;
};

/// Throws nothing; returns InvalidArgument for unknown --ray_* flags or bad values.
StatusOr<ResolvedConfig> ResolveConfig(const ray::RayConfig &config, int argc, char **argv);

/// Options for a head node started by this process (from RayConfig::head_args,
/// spelled as Ray's `ray start` takes them).
struct HeadOptions {
  double num_cpus = -1;  // -1: as many as the machine has
  double num_gpus = -1;  // -1: detect (NVML, CUDA_VISIBLE_DEVICES)
  std::map<std::string, double> resources;
  long long object_store_memory = -1;  // -1: 30% of memory
  int port = 0;                        // control service TCP port; 0 picks one
  std::string host = "127.0.0.1";
  std::string temp_dir;  // the session's root (`lumen start --temp-dir`); empty: the default roots
};
StatusOr<HeadOptions> ParseHeadArgs(const std::vector<std::string> &args);

}  // namespace lumen::api
