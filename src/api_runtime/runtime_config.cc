#include "api_runtime/runtime_config.h"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
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
      r.head_args.push_back(value);  // a command line of its own: ParseHeadArgs splits it
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
  if (!r.address.empty() && r.address != "auto" && r.address.rfind("unix:", 0) != 0 &&
      r.address.find(':') == std::string::npos)
    return Status::InvalidArgument("address must be host:port or auto, got '" + r.address + "'");
  return r;
}

namespace {

/// A head_args entry is one argument when it is `--name=` followed by a JSON
/// object, array or quoted value (so --resources={"a": 1, "b": 2} keeps its
/// spaces); any other entry is a command line of its own, split as a shell
/// would by CLI11 (quotes, `--name='value'`).
bool IsSingleArgument(const std::string &entry) {
  auto eq = entry.find('=');
  if (entry.rfind("--", 0) != 0 || eq == std::string::npos || eq + 1 >= entry.size()) return false;
  if (entry.find_first_of(" \t") < eq) return false;
  return std::string("{[\"'").find(entry[eq + 1]) != std::string::npos;
}

/// Strips the shell quotes users carry over from `ray start` examples.
std::string Unquote(std::string v) {
  if (v.size() >= 2 && (v.front() == '\'' || v.front() == '"') && v.back() == v.front())
    v = v.substr(1, v.size() - 2);
  return v;
}

Status CheckAmount(const char *flag, double v) {
  if (!std::isfinite(v) || v < 0)
    return Status::InvalidArgument(std::string(flag) + " must be a finite number >= 0, got " +
                                   std::to_string(v));
  return Status::OK();
}

}  // namespace

StatusOr<HeadOptions> ParseHeadArgs(const std::vector<std::string> &args) {
  // Ray's `ray start` options, with its types: CPUs and GPUs are counts,
  // --object-store-memory a number of bytes (Ray takes 1e9 as 1000000000),
  // --resources a JSON object of non-negative amounts.
  CLI::App app("head_args");
  app.set_help_flag();  // --help is not one of `ray start`'s options here
  double num_cpus = -1, num_gpus = -1, store_bytes = -1;
  std::string resources;
  int port = 0;
  std::string host = "127.0.0.1", ignored;
  auto last = CLI::MultiOptionPolicy::TakeLast;  // as Ray's CLI: a repeated option's last value wins
  app.add_option("--num-cpus", num_cpus)->multi_option_policy(last);
  app.add_option("--num-gpus", num_gpus)->multi_option_policy(last);
  app.add_option("--resources", resources)->multi_option_policy(last);
  app.add_option("--object-store-memory", store_bytes)->multi_option_policy(last);
  app.add_option("--port", port)->check(CLI::Range(0, 65535))->multi_option_policy(last);
  app.add_option("--node-ip-address", host)->multi_option_policy(last);
  // Accepted for compatibility; not used yet.
  for (const char *name : {"--include-dashboard", "--dashboard-host", "--dashboard-port", "--redis-password"})
    app.add_option(name, ignored)->multi_option_policy(last);
  app.add_flag("--block");

  std::vector<std::string> argv;  // in order; CLI11 takes them reversed
  for (auto &a : args) {
    if (IsSingleArgument(a)) {
      argv.push_back(a);
      continue;
    }
    std::string line = CLI::detail::find_and_modify(a, "=", CLI::detail::escape_detect);
    for (auto &t : CLI::detail::split_up(line))
      if (!t.empty()) argv.push_back(t);
  }
  std::reverse(argv.begin(), argv.end());
  try {
    app.parse(argv);
  } catch (const CLI::ParseError &e) {
    return Status::InvalidArgument(std::string("head_args: ") + e.what());
  }

  HeadOptions h;
  if (app.count("--num-cpus")) {
    LUMEN_RETURN_IF_ERROR(CheckAmount("--num-cpus", num_cpus));
    h.num_cpus = num_cpus;
  }
  if (app.count("--num-gpus")) {
    LUMEN_RETURN_IF_ERROR(CheckAmount("--num-gpus", num_gpus));
    if (num_gpus != std::floor(num_gpus))
      return Status::InvalidArgument("--num-gpus must be a whole number of devices");
    h.num_gpus = num_gpus;
  }
  if (app.count("--object-store-memory")) {
    if (!std::isfinite(store_bytes) || store_bytes < 1 || store_bytes > 9.0e18)
      return Status::InvalidArgument("--object-store-memory must be a positive number of bytes, got " +
                                     std::to_string(store_bytes));
    h.object_store_memory = static_cast<long long>(store_bytes);
  }
  if (app.count("--resources")) {
    auto j = nlohmann::json::parse(Unquote(resources), nullptr, false);
    if (j.is_discarded() || !j.is_object())
      return Status::InvalidArgument("--resources must be a JSON object of amounts, got '" + resources + "'");
    for (auto &[k, v] : j.items()) {
      if (k.empty()) return Status::InvalidArgument("--resources: a resource name cannot be empty");
      if (k == "CPU" || k == "GPU")
        return Status::InvalidArgument("--resources: use --num-cpus and --num-gpus instead of '" + k + "'");
      if (!v.is_number()) return Status::InvalidArgument("--resources: '" + k + "' must be a number");
      std::string flag = "--resources: '" + k + "'";
      LUMEN_RETURN_IF_ERROR(CheckAmount(flag.c_str(), v.get<double>()));
      h.resources[k] = v.get<double>();
    }
  }
  h.port = port;
  h.host = Unquote(host);
  return h;
}

}  // namespace lumen::api
