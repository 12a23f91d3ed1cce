// `lumen start`: a head (control service + node service) or a node joining a
// cluster, as daemons that outlive this command (their own session, no
// terminal), recorded in their session folder for `lumen stop`. The services
// are started by the same code as ray::Init's embedded head (runtime_head.cc).
#include <signal.h>
#include <sys/wait.h>

#include <iostream>
#include <string>
#include <vector>

#include "api_runtime/runtime_daemons.h"
#include "api_runtime/runtime_head.h"
#include "cli/commands.h"

namespace lumen::cli {
namespace {

using api::HeadOptions;

constexpr int kRayDashboardPort = 8265;
using api::HeadProcesses;

// The resource flags, checked as ray::Init's head_args are (same parser,
// same messages).
StatusOr<HeadOptions> ResourceOptions(const StartFlags &flags) {
  std::vector<std::string> args;
  auto add = [&](const char *name, const std::string &value) {
    if (!value.empty()) args.push_back(std::string(name) + "=" + value);
  };
  add("--num-cpus", flags.num_cpus);
  add("--num-gpus", flags.num_gpus);
  add("--resources", flags.resources);
  add("--object-store-memory", flags.object_store_memory);
  add("--port", flags.port);
  add("--node-ip-address", flags.node_ip_address);
  auto options = api::ParseHeadArgs(args);
  if (!options.ok()) {
    std::string message = options.status().message();
    if (message.rfind("head_args: ", 0) == 0) message = message.substr(11);
    return Status::InvalidArgument(message);
  }
  options->temp_dir = flags.temp_dir;
  return options;
}

// --block: waits for SIGINT or SIGTERM, or for a service to exit (they are
// this process's children then), and stops everything.
int Block(const api::DaemonRecord &record) {
  sigset_t signals;
  sigemptyset(&signals);
  for (int sig : {SIGINT, SIGTERM, SIGCHLD}) sigaddset(&signals, sig);
  sigprocmask(SIG_BLOCK, &signals, nullptr);
  int code = 0;
  for (;;) {
    bool lost = false;
    for (const api::DaemonProcess &p : record.processes) {
      if (waitpid(p.pid, nullptr, WNOHANG) == p.pid) {
        std::cerr << "lumen start: " << p.name << " (pid " << p.pid << ") exited; stopping the others (see "
                  << record.session_dir << "/logs)\n";
        lost = true;
      }
    }
    if (lost) {
      code = 1;
      break;
    }
    int sig = sigwaitinfo(&signals, nullptr);
    if (sig == SIGINT || sig == SIGTERM) break;
  }
  Status stopped = api::StopDaemons(record, /*force=*/false);
  while (waitpid(-1, nullptr, WNOHANG) > 0) {
  }
  if (!stopped.ok()) return Fail("start", stopped.message());
  std::cout << "Stopped the Lumen services of " << record.session_dir << ".\n";
  return code;
}

void PrintHeadBanner(const HeadProcesses &head, const std::string &address, bool loopback) {
  std::cout << "Lumen runtime started.\n"
            << "Cluster address: " << address << "\n"
            << "Session folder:  " << head.session_dir << "\n\n"
            << "Next steps\n"
            << "  To add a node to this cluster, run on the other machine (the token is in "
            << head.session_dir << "/token, mode 0600; copy it there):\n"
            << "    LUMEN_TOKEN=<token> lumen start --address='" << address << "'\n"
            << "  or on this machine, where the token is found without being told:\n"
            << "    lumen start --address='" << address << "' --temp-dir=<a folder of its own>\n";
  if (loopback)
    std::cout << "  (this head listens on " << address.substr(0, address.rfind(':'))
              << " only; start it with --node-ip-address=<this machine's address> for other machines)\n";
  if (!head.dashboard_address.empty())
    std::cout << "\n  Dashboard: http://" << head.dashboard_address
              << " (sign in with the token; the API takes it as Authorization: Bearer <token>)\n";
  std::cout << "\n  To connect a driver to this cluster, set RayConfig::address = \"" << address
            << "\" (or \"auto\" on this machine),\n"
            << "  or run it with --ray_address=" << address << " or RAY_ADDRESS=" << address << ".\n\n"
            << "  To see the cluster: lumen status\n"
            << "  To stop it:         lumen stop\n";
}

int StartHead(const StartFlags &flags, const HeadOptions &options) {
  auto head = api::StartHead(options, /*die_with_parent=*/false);
  if (!head.ok()) return Fail("start", head.status().message());
  if (Status ready = api::AwaitNodeReady(*head); !ready.ok()) {
    api::StopHead(*head, /*keep_logs=*/true);
    return Fail("start", ready.message());
  }
  const std::string address = head->control_tcp;
  if (flags.include_dashboard) {
    // As Ray: the default port, or any free one when it is taken; a port
    // asked for by name must be that one.
    const bool by_default = flags.dashboard_port < 0;
    Status started = api::StartDashboard(flags.dashboard_host,
                                         by_default ? kRayDashboardPort : flags.dashboard_port, *head);
    if (!started.ok() && by_default) started = api::StartDashboard(flags.dashboard_host, 0, *head);
    if (!started.ok()) {
      api::StopHead(*head, /*keep_logs=*/true);
      return Fail("start", started.message());
    }
  }
  if (Status recorded = api::RecordDaemons(*head, "head", address); !recorded.ok()) {
    api::StopHead(*head, /*keep_logs=*/true);
    return Fail("start", recorded.message());
  }
  PrintHeadBanner(*head, address, flags.node_ip_address.empty());
  std::cout.flush();
  if (!flags.block) return 0;
  auto record = api::ReadDaemonRecord(head->session_dir);
  return record.ok() ? Block(*record) : Fail("start", record.status().message());
}

int JoinCluster(const StartFlags &flags, const HeadOptions &options) {
  const std::string &address = flags.address;
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0 ||
      address.find_first_not_of("0123456789", colon + 1) != std::string::npos || colon + 1 == address.size())
    return Fail("start", "--address must be HOST:PORT, got '" + address + "'", 2);
  auto token = TokenFor(address, flags.token);
  if (!token.ok()) return Fail("start", token.status().message());
  // Before starting anything: is a Lumen control service holding this token there?
  if (auto nodes = QueryNodes(address, *token); !nodes.ok()) return Fail("start", nodes.status().message());
  auto node = api::StartNode(options, "tcp:" + address, *token);
  if (!node.ok()) return Fail("start", node.status().message());
  if (Status recorded = api::RecordDaemons(*node, "node", address); !recorded.ok()) {
    api::StopHead(*node, /*keep_logs=*/true);
    return Fail("start", recorded.message());
  }
  std::cout << "Lumen runtime started: a node of the cluster at " << address << ".\n"
            << "Session folder: " << node->session_dir << "\n"
            << "To stop it: lumen stop --temp-dir="
            << (flags.temp_dir.empty() ? "<its temp dir>" : flags.temp_dir)
            << " (or lumen stop, for everything started here)\n";
  std::cout.flush();
  if (!flags.block) return 0;
  auto record = api::ReadDaemonRecord(node->session_dir);
  return record.ok() ? Block(*record) : Fail("start", record.status().message());
}

}  // namespace

int Fail(const char *verb, const std::string &message, int code) {
  std::string line = message;
  for (char &c : line)
    if (c == '\n') c = ' ';
  std::cerr << "lumen " << verb << ": error: " << line << "\n";
  return code;
}

int RunStart(const StartFlags &flags) {
  auto options = ResourceOptions(flags);
  if (!options.ok()) return Fail("start", options.status().message(), 2);
  return flags.head ? StartHead(flags, *options) : JoinCluster(flags, *options);
}

}  // namespace lumen::cli
