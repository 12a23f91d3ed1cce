// Starting and stopping a head node (control service + node service) as
// separate processes: used by ray::Init when no address is given (the
// embedded default) and by `lumen start --head`. Services that die with the
// caller are forks of it (it must not have started threads yet: ray::Init
// calls this before the runtime starts any); others are the lumen_control and
// lumen_node programs.
//
// Threading: call from one thread; no background threads of its own.
#pragma once

#include <functional>
#include <string>

#include "api_runtime/runtime_config.h"
#include "base/status.h"

namespace lumen::api {

struct HeadProcesses {
  std::string session_dir;
  std::string token;
  std::string control_unix;  // control service socket
  std::string control_tcp;   // "host:port"
  std::string node_socket;   // node service socket
  int control_pid = -1;
  int node_pid = -1;
  int dashboard_pid = -1;         // lumen start --head only (StartDashboard)
  std::string dashboard_address;  // "host:port" once it serves
  int node_ready_fd = -1;         // until AwaitNodeReady: the node writes to it once ready
  std::string node_ready_file;
};

/// Directory holding Lumen's helper programs (lumen_control, lumen_node,
/// lumen_worker): LUMEN_BIN_DIR, else ../bin next to libray_api.so.
std::string HelperProgramDir();

/// Creates a private session folder (mode 0700) in a verified root of this
/// user's (options.temp_dir, $LUMEN_TMPDIR, else /dev/shm/lumen-UID for an embedded cluster,
/// $XDG_RUNTIME_DIR/lumen, /tmp/lumen-UID, a mkdtemp folder; a root someone
/// else made is never used), a fresh cluster token, and starts both services.
/// Sessions of drivers that are gone are pruned there beyond the newest 5. `die_with_parent` makes them exit
/// when the calling process dies (the embedded default), and forks them
/// unless LUMEN_EXEC_SERVICES=1. `while_starting` runs once both are
/// launched, before waiting for them to serve: work that can overlap their
/// start (ray::Init forks its fork server there). Returns as soon as the
/// control service serves and the node listens: the node may still be
/// registering with the control service, and the caller connects meanwhile,
/// then calls AwaitNodeReady.
StatusOr<HeadProcesses> StartHead(const HeadOptions &options, bool die_with_parent,
                                  const std::function<void()> &while_starting = {});

/// Starts a node service alone (the lumen_node program) in a session folder
/// of its own under options.temp_dir or the default roots, holding `token`,
/// that joins the cluster whose control service is at `control_address`
/// ("tcp:host:port"). It outlives the caller (`lumen start --address`), or
/// with `die_with_parent` exits with it and goes in the embedded sessions'
/// root (a driver's node on a machine with none of the cluster's). Returns
/// once the node has registered there; on an error nothing of it is left
/// running.
StatusOr<HeadProcesses> StartNode(const HeadOptions &options, const std::string &control_address,
                                  const std::string &token, bool die_with_parent = false);

/// The folder new sessions go in: `temp_dir` when given (made private if
/// missing, else checked), else as StartHead picks it.
StatusOr<std::string> SessionRootFor(bool embedded, const std::string &temp_dir);

/// Waits until the node of a head StartHead returned is ready; an error
/// (with the node's own last words) if it exited instead.
Status AwaitNodeReady(HeadProcesses &head);

/// Starts the dashboard program (lumen_dashboard: the state API over HTTP)
/// for `head`'s session on `host`:`port` (0: any free port) and returns once
/// it serves, with `head.dashboard_pid` and `head.dashboard_address` set; or
/// why it could not (the port in use, the program missing), with nothing of
/// it left running. `lumen start --head` calls it; an embedded head has none.
Status StartDashboard(const std::string &host, int port, HeadProcesses &head);

/// Stops both services (SIGTERM, then SIGKILL after a grace period), waits for
/// them, and removes the session folder; with `keep_logs` (a start that
/// failed, whose error points at them) only its sockets.
void StopHead(HeadProcesses &head, bool keep_logs = false);

/// The token of the cluster whose control service is at `address`
/// ("host:port", "tcp:host:port", "unix:<session>/sockets/control"):
/// $LUMEN_CLUSTER_TOKEN or $LUMEN_TOKEN when set, else the token in the
/// session folder of this user's, on this machine, whose control service
/// listens there.
StatusOr<std::string> TokenForAddress(const std::string &address);

}  // namespace lumen::api
