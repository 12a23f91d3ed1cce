#include "scheduler/node_process.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <iostream>

#include "base/heap_tuning.h"
#include "base/open_files.h"
#include "base/logging.h"
#include "base/service_process.h"
#include "base/settings.h"
#include "scheduler/gpu_detect.h"
#include "scheduler/node_service.h"

namespace lumen::scheduler {

int RunNodeProcess(NodeProcessOptions options) {
  sigset_t signals = BlockTerminationSignals();
  // Object chunks (8 MiB) are allocated and freed by the thousand: served
  // into a reply, read into a connection's buffer (base/heap_tuning.h).
  KeepFreedMemoryMapped(size_t{256} << 20);
  InitProcessLogging("node", options.session_dir + "/logs");
  if (auto raised = RaiseOpenFileLimit(); !raised.ok())
    LUMEN_LOG_WARN("keeping the open-file limit: {}", raised.status().ToString());
  NodeServiceOptions opts;
  opts.session_dir = options.session_dir;
  opts.token = options.token;
  opts.control_address = options.control_address;
  opts.control_wait = std::chrono::milliseconds(std::max(0, options.control_wait_ms));
  opts.unix_path = options.unix_path;
  opts.node_ip = options.node_ip;
  opts.tcp_host = options.node_ip;
  opts.worker_tcp = options.worker_tcp;
  opts.for_driver = options.for_driver;
  opts.resources = options.resources;
  opts.spread_threshold = CurrentSettings().spread_threshold;
  int num_gpus = options.num_gpus;
  if (opts.resources.count("GPU")) {
    // GPUs given as a plain resource amount: that many virtual devices.
    if (num_gpus < 0) num_gpus = static_cast<int>(opts.resources["GPU"]);
    opts.resources.erase("GPU");
  }
  opts.gpu_ids = DetectGpus(num_gpus);
  if (!opts.gpu_ids.empty()) opts.resources["GPU"] = static_cast<double>(opts.gpu_ids.size());
  opts.store_capacity = static_cast<size_t>(options.store_bytes);
  opts.store_prefault = static_cast<size_t>(options.prefault_bytes >= 0
                                                ? options.prefault_bytes
                                                : std::min<long long>(options.store_bytes, 256ll << 20));
  opts.worker_program = options.worker_program;
  // Never destroyed, as when the program's main ended with _Exit: tearing
  // the service down is not needed (the process ends next) and the control
  // service's destructor is not safe while connections are closing.
  auto &node = *new NodeService(opts);
  auto st = node.Start();
  if (!st.ok()) {
    SPDLOG_ERROR("node service failed to start: {}", st.ToString());
    std::cerr << "lumen_node: " << st.ToString() << "\n";
    return 1;
  }
  if (!options.ready_file.empty()) std::ofstream(options.ready_file) << getpid() << "\n";
  if (options.ready_fd >= 0) {
    // The driver may stop reading once it has seen the ready file: a write to
    // a pipe nobody reads must then fail with EPIPE, not kill the node with
    // SIGPIPE (raised on this thread: blocked here, and taken back if raised).
    sigset_t pipe_signal, old_mask;
    sigemptyset(&pipe_signal);
    sigaddset(&pipe_signal, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_signal, &old_mask);
    char byte = 1;
    if (write(options.ready_fd, &byte, 1) != 1 && errno == EPIPE) {
      timespec now{0, 0};
      sigtimedwait(&pipe_signal, nullptr, &now);
    }
    pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
    close(options.ready_fd);
  }
  ServeUntilStopped(signals, node);
  ShutdownProcessLogging();
  return 0;
}

}  // namespace lumen::scheduler
