// lumen_node: the node service process (Ray's raylet role), one per machine.
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <thread>

#include "apps/service_main.h"
#include "base/logging.h"
#include "scheduler/gpu_detect.h"
#include "scheduler/node_service.h"

int main(int argc, char **argv) {
  CLI::App app{"Lumen node service"};
  std::string session_dir, control, unix_path, resources = "{}", worker_program, ready_file;
  long long store = 1ll << 30;
  long long prefault = -1;
  int num_gpus = -1;
  app.add_option("--session-dir", session_dir)->required();
  app.add_option("--control", control, "control service address")->required();
  int control_wait_ms = 0;
  app.add_option("--control-wait-ms", control_wait_ms,
                 "keep trying to reach the control service this long (it may be starting too)");
  app.add_option("--unix", unix_path);
  app.add_option("--resources", resources, "JSON object of resource amounts, e.g. {\"CPU\": 2}");
  app.add_option("--object-store-memory", store);
  app.add_option("--prefault-bytes", prefault,
                 "bytes of the store touched at start (default: min(store, 256 MiB))");
  app.add_option("--num-gpus", num_gpus,
                 "GPUs to offer (default: detect with NVML, narrowed by CUDA_VISIBLE_DEVICES); "
                 "without real GPUs this many virtual devices");
  app.add_option("--worker-program", worker_program);
  app.add_option("--ready-file", ready_file);
  CLI11_PARSE(app, argc, argv);
  const char *token = lumen::apps::ClusterTokenOrComplain("lumen_node");
  if (!token) return 2;
  sigset_t signals = lumen::apps::BlockTerminationSignals();

  lumen::InitProcessLogging("node", session_dir + "/logs");
  lumen::scheduler::NodeServiceOptions opts;
  opts.session_dir = session_dir;
  opts.token = token;
  opts.control_address = control;
  opts.control_wait = std::chrono::milliseconds(std::max(0, control_wait_ms));
  opts.unix_path = unix_path;
  try {
    auto j = nlohmann::json::parse(resources);
    for (auto &[k, v] : j.items()) opts.resources[k] = v.get<double>();
    if (opts.resources.count("GPU")) {
      // GPUs given as a plain resource amount: that many virtual devices.
      if (num_gpus < 0) num_gpus = static_cast<int>(opts.resources["GPU"]);
      opts.resources.erase("GPU");
    }
  } catch (const std::exception &e) {
    std::cerr << "lumen_node: bad --resources: " << e.what() << "\n";
    return 2;
  }
  opts.gpu_ids = lumen::scheduler::DetectGpus(num_gpus);
  if (!opts.gpu_ids.empty()) opts.resources["GPU"] = static_cast<double>(opts.gpu_ids.size());
  opts.store_capacity = static_cast<size_t>(store);
  opts.store_prefault =
      static_cast<size_t>(prefault >= 0 ? prefault : std::min<long long>(store, 256ll << 20));
  opts.worker_program = worker_program;
  lumen::scheduler::NodeService node(opts);
  auto st = node.Start();
  if (!st.ok()) {
    SPDLOG_ERROR("node service failed to start: {}", st.ToString());
    std::cerr << "lumen_node: " << st.ToString() << "\n";
    return 1;
  }
  if (!ready_file.empty()) std::ofstream(ready_file) << getpid() << "\n";
  lumen::apps::StopOnTerminationSignal(signals, [&] { node.Stop(); });
  node.WaitForShutdown();
  node.Stop();
  lumen::ShutdownProcessLogging();
  std::_Exit(0);
}
