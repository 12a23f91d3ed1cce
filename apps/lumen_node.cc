// lumen_node: the node service process (Ray's raylet role), one per machine.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <nlohmann/json.hpp>

#include "apps/service_main.h"
#include "scheduler/node_process.h"

int main(int argc, char **argv) {
  CLI::App app{"Lumen node service"};
  lumen::scheduler::NodeProcessOptions opts;
  std::string resources = "{}";
  app.add_option("--session-dir", opts.session_dir)->required();
  app.add_option("--control", opts.control_address, "control service address")->required();
  app.add_option("--control-wait-ms", opts.control_wait_ms,
                 "keep trying to reach the control service this long (it may be starting too)");
  app.add_option("--unix", opts.unix_path);
  app.add_option("--node-ip", opts.node_ip,
                 "this node's address: its TCP listener binds there (default loopback)");
  app.add_flag("--worker-tcp", opts.worker_tcp,
               "drivers and workers here also listen on TCP (a cluster that spans nodes)");
  app.add_flag("--for-driver", opts.for_driver,
               "the node of a driver on a machine with no other node of the cluster (ends with it)");
  app.add_option("--resources", resources, "JSON object of resource amounts, e.g. {\"CPU\": 2}");
  app.add_option("--object-store-memory", opts.store_bytes);
  app.add_option("--prefault-bytes", opts.prefault_bytes,
                 "bytes of the store touched at start (default: min(store, 256 MiB))");
  app.add_option("--num-gpus", opts.num_gpus,
                 "GPUs to offer (default: detect with NVML, narrowed by CUDA_VISIBLE_DEVICES); "
                 "without real GPUs this many virtual devices");
  app.add_option("--worker-program", opts.worker_program);
  app.add_option("--ready-file", opts.ready_file);
  CLI11_PARSE(app, argc, argv);
  const char *token = lumen::apps::ClusterTokenOrComplain("lumen_node");
  if (!token) return 2;
  opts.token = token;
  try {
    auto j = nlohmann::json::parse(resources);
    for (auto &[k, v] : j.items()) opts.resources[k] = v.get<double>();
  } catch (const std::exception &e) {
    std::cerr << "lumen_node: bad --resources: " << e.what() << "\n";
    return 2;
  }
  int rc = lumen::scheduler::RunNodeProcess(opts);
  std::fflush(nullptr);
  std::_Exit(rc);  // the service's threads may still be winding down
}
