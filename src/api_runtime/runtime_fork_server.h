// The job's fork server: a copy of the driver process made at the start of
// ray::Init, before the runtime starts any thread. The node service asks it
// for workers; each worker is a fork of it, so the user's RAY_REMOTE
// functions (registered during static initialisation of the driver program)
// exist in every worker without building a separate library, and a worker is
// ready in about a millisecond instead of an exec and a dynamic load.
//
// Threading: the fork server is single-threaded by construction (blocking
// sockets, signalfd for SIGCHLD).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "object_store/arena.h"
#include "base/status.h"
#include "protocol/node.pb.h"

namespace lumen::api {

struct ForkServerHandle {
  int pid = -1;
  int control_fd = -1;  // the driver's end of the start pipe
};

/// Forks the fork server. Returns in the driver; never returns in the child.
ForkServerHandle ForkForkServer();

/// In a job's program that a node other than the driver's started (its
/// LUMEN_NODE_FORK_SERVER set: hex of `settings`, with the token in
/// LUMEN_CLUSTER_TOKEN): serves as the job's fork server on that node, as
/// the driver's fork-server child does on the driver's node, until the node
/// closes its connection (the job ended, or the node stops); then kills its
/// workers and exits the process. Called first thing in ray::Init, before
/// any thread; an error (a malformed setting, a node it cannot reach) exits
/// the process with status 1 after saying why on stderr.
[[noreturn]] void RunNodeForkServer(const std::string &settings_hex, const std::string &token);

/// Tells the fork server where the node is and which job it serves; it then
/// registers with the node and serves worker requests.
bool StartForkServer(ForkServerHandle &h, const std::string &node_socket, const std::string &token,
                     const std::string &session_dir, uint32_t job_id, const std::string &ray_namespace,
                     const std::string &runtime_env, bool default_detached);
void StopForkServer(ForkServerHandle &h);

/// The settings are one protobuf frame (rpc::WriteFrame) on the socketpair
/// between the driver and its fork server. Exposed for tests.
constexpr uint32_t kMaxForkServerSettings = 1u << 20;  // a runtime_env's JSON fits many times over
Status SendForkServerSettings(int fd, const proto::ForkServerSettings &settings);
/// Waits for the driver's settings: kDisconnected if it closed its end
/// first; a clear error for a message that is cut short (also one that
/// stalls past kForkServerSettingsTimeout), malformed, or not the settings.
StatusOr<proto::ForkServerSettings> ReceiveForkServerSettings(int fd);

/// Runs in a freshly forked or exec'd worker, before it has any thread: sets
/// the job's env_vars (`runtime_env`, its JSON) and then `env_vars` (those of
/// the work the worker is dedicated to), sets up the runtime, serves tasks
/// until the node goes away, then exits the process. `store`: the node's
/// object store when the fork server mapped it already (null: the worker
/// asks the node for it).
[[noreturn]] void RunWorkerProcess(const std::string &node_socket, const std::string &token,
                                   const std::string &session_dir, const std::string &worker_id_hex,
                                   uint32_t job_id, const std::string &ray_namespace,
                                   const std::string &runtime_env,
                                   const std::map<std::string, std::string> &env_vars = {},
                                   std::unique_ptr<object_store::Arena> store = nullptr);

}  // namespace lumen::api
