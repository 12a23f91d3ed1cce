#include "api_runtime/runtime_config.h"

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <sstream>

namespace lumen::api {
namespace {

std::vector<std::string> Split(const std::string &s, char sep) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, sep))
    if (!item.empty()) out.push_back(item);
  return out;
}

}  // namespace

StatusOr<ResolvedConfig> ResolveConfig(const ray::RayConfig &config, int argc, char **argv) {
  ResolvedConfig r;
  r.address = config.address;
  r.local_mode = config.local_mode;
  r.code_search_path = config.code_search_path;
  r.head_args = config.head_args;
  r.ray_namespace = config.ray_namespace;
  r.detached_actors = config.default_actor_lifetime == ray::ActorLifetime::DETACHED;
  if (config.runtime_env) r.runtime_env_json = config.runtime_env->Serialize();
  r.is_worker = config.is_worker_;

  // Ray's --ray_* flags; both "--flag=value" and "--flag value". Other
  // arguments belong to the user program and are left alone.
  for (int i = 1; argv && i < argc; ++i) {
    std::string arg = argv[i] ? argv[i] : "";
    if (arg.rfind("--ray_", 0) != 0 && arg.rfind("--lumen_", 0) != 0) continue;
    std::string name = arg.substr(2), value;
    auto eq = name.find('=');
    if (eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    } else if (i + 1 < argc && argv[i + 1] && std::string(argv[i + 1]).rfind("--", 0) != 0) {
      value = argv[++i];
    }
    if (name == "ray_address") {
      r.address = value;
    } else if (name == "ray_code_search_path") {
      r.code_search_path = Split(value, ':');
    } else if (name == "ray_head_args") {
      auto extra = Split(value, ' ');
      r.head_args.insert(r.head_args.end(), extra.begin(), extra.end());
    } else if (name == "ray_job_namespace") {
      if (r.ray_namespace.empty()) r.ray_namespace = value;
    } else if (name == "ray_default_actor_lifetime") {
      std::string v;
      for (char c : value) v += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (v == "detached") {
        r.detached_actors = true;
      } else if (v == "non_detached") {
        r.detached_actors = false;
      } else {
        return Status::InvalidArgument("--ray_default_actor_lifetime must be detached or non_detached");
      }
    } else if (name == "ray_runtime_env") {
      r.runtime_env_json = value;
    } else if (name == "ray_job_id") {
      r.job_id = static_cast<uint32_t>(std::strtoul(value.c_str(), nullptr, 10));
    } else if (name == "ray_session_dir") {
      r.session_dir = value;
    } else if (name == "lumen_node_socket") {
      r.node_socket = value;
    } else if (name == "lumen_worker_id") {
      r.worker_id_hex = value;
    } else if (name == "ray_redis_password" || name == "ray_logs_dir" || name == "ray_node_ip_address" ||
               name == "ray_redis_address" || name == "ray_node_manager_port" ||
               name == "ray_raylet_socket_name" || name == "ray_plasma_store_socket_name") {
      // Accepted for compatibility with Ray's command lines; Lumen has no use for them.
    } else {
      return Status::InvalidArgument("unknown flag --" + name);
    }
  }
  if (r.address.empty() && !r.is_worker) {
    if (const char *env = std::getenv("RAY_ADDRESS")) r.address = env;
  }
  if (!r.address.empty() && r.address.rfind("unix:", 0) != 0 && r.address.find(':') == std::string::npos)
    return Status::InvalidArgument("address must be host:port, got '" + r.address + "'");
  return r;
}

/// Splits at spaces outside {...}, [...] and quotes, so a JSON value such as
/// --resources={"accel": 1} stays one token.
std::vector<std::string> SplitArgs(const std::string &s) {
  std::vector<std::string> out;
  std::string cur;
  int depth = 0;
  char quote = 0;
  for (char c : s) {
    if (quote) {
      if (c == quote) quote = 0;
    } else if (c == '"' || c == '\'') {
      quote = c;
    } else if (c == '{' || c == '[') {
      ++depth;
    } else if ((c == '}' || c == ']') && depth > 0) {
      --depth;
    } else if (c == ' ' && depth == 0) {
      if (!cur.empty()) out.push_back(std::move(cur));
      cur.clear();
      continue;
    }
    cur += c;
  }
  if (!cur.empty()) out.push_back(std::move(cur));
  return out;
}

StatusOr<HeadOptions> ParseHeadArgs(const std::vector<std::string> &args) {
  HeadOptions h;
  // Accept "--name=value", "--name value" and a single string holding several.
  std::vector<std::string> tokens;
  for (auto &a : args)
    for (auto &t : SplitArgs(a)) tokens.push_back(t);
  for (size_t i = 0; i < tokens.size(); ++i) {
    std::string name = tokens[i], value;
    if (name.rfind("--", 0) != 0) return Status::InvalidArgument("unexpected head argument '" + name + "'");
    auto eq = name.find('=');
    if (eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    } else if (i + 1 < tokens.size() && tokens[i + 1].rfind("--", 0) != 0) {
      value = tokens[++i];
    }
    // Strip shell quotes users carry over from `ray start` examples.
    if (value.size() >= 2 && (value.front() == '\'' || value.front() == '"') && value.back() == value.front())
      value = value.substr(1, value.size() - 2);
    try {
      if (name == "--num-cpus") {
        h.num_cpus = std::stod(value);
      } else if (name == "--num-gpus") {
        h.num_gpus = std::stod(value);
      } else if (name == "--resources") {
        auto j = nlohmann::json::parse(value);
        if (!j.is_object()) return Status::InvalidArgument("--resources must be a JSON object");
        for (auto &[k, v] : j.items()) {
          if (!v.is_number()) return Status::InvalidArgument("--resources: '" + k + "' must be a number");
          h.resources[k] = v.get<double>();
        }
      } else if (name == "--object-store-memory") {
        h.object_store_memory = std::stoll(value);
      } else if (name == "--port") {
        h.port = std::stoi(value);
      } else if (name == "--node-ip-address") {
        h.host = value;
      } else if (name == "--include-dashboard" || name == "--dashboard-host" || name == "--dashboard-port" ||
                 name == "--block" || name == "--redis-password") {
        // Accepted for compatibility; not used yet.
      } else {
        return Status::InvalidArgument("unknown head argument " + name);
      }
    } catch (const std::exception &e) {
      return Status::InvalidArgument("bad value for " + name + ": '" + value + "'");
    }
  }
  if (h.num_gpus > 0 && h.num_gpus != static_cast<double>(static_cast<long long>(h.num_gpus)))
    return Status::InvalidArgument("--num-gpus must be a whole number of devices");
  if (h.num_cpus < -1 || h.num_gpus < -1) return Status::InvalidArgument("resource amounts must be >= 0");
  return h;
}

}  // namespace lumen::api
