// Lumen's settings from the environment: every LUMEN_* variable the runtime
// reads, what it means and its default, parsed in one place. A call site asks
// CurrentSettings() instead of reading the environment itself.
//
//   LUMEN_CLUSTER_TOKEN  The cluster token. Set by whoever starts a service or
//                        a worker or job program for it (they exit without one); a
//                        driver joining a cluster by address uses it instead
//                        of the token of its own session at that address.
//                        Default: unset.
//   LUMEN_TOKEN          The token `lumen start --address` and `lumen status`
//                        use for a cluster whose head is on another machine
//                        (the head's <session>/token), when --token is not
//                        given; a head on this machine is found without it.
//                        Default: unset.
//   LUMEN_TMPDIR         The one folder sessions live in (<tmpdir>/session_*,
//                        and session_latest beside them); it must be this
//                        user's and writable by nobody else (made 0700 if
//                        missing). Default: the first private root of this
//                        user's that verifies (/dev/shm/lumen-UID for a
//                        cluster that lives as long as its driver,
//                        $XDG_RUNTIME_DIR/lumen, /tmp/lumen-UID, then a
//                        mkdtemp folder); see runtime_head.cc.
//   LUMEN_BIN_DIR        Where the helper programs (lumen_control, lumen_node,
//                        lumen_worker) are. Default: ../bin beside libray_api.so.
//   LUMEN_EXEC_SERVICES  "1": a driver's local head executes the service
//                        programs instead of forking itself (e.g. to run a
//                        service under a debugger). Default: fork.
//   LUMEN_LEND_LOOP      "0": a waiting thread never runs the event loop itself;
//                        the loop stays on its own thread. Default: lend it.
//   LUMEN_GET_SPIN_US    How long (µs, 0 to 100000) a waiting thread polls for
//                        a reply before sleeping; 0 turns polling off.
//                        Default: 100. Anything else is ignored.
//   LUMEN_PEER_TIMEOUT_MS  How long (ms, 50 to one day) a peer may stay silent
//                        while this side waits on it before its connection
//                        is closed as dead (rpc::PeerTimeout). Default: 5000.
//                        Anything else is ignored. Processes the runtime
//                        starts inherit it.
//   LUMEN_NODE_DEATH_TIMEOUT_MS  How long (ms, 100 to one day) a node may
//                        leave the control service's health check unanswered
//                        before it is marked dead (Ray's health check period
//                        times its failure threshold). A node whose processes
//                        die is seen dead at once (its connection closes).
//                        Default: 10000. Anything else is ignored.
//   LUMEN_HEALTH_CHECK_PERIOD_MS  How often (ms, 10 to one day) the control
//                        service checks each node (Ray's
//                        health_check_period_ms). Default: 1000. Anything
//                        else is ignored.
//   LUMEN_ARG_CACHE_BYTES  How many bytes of decoded task arguments a worker
//                        keeps for later tasks that take the same object
//                        (0 to 2^40; 0 turns the cache off; see
//                        <ray/api/decode_support.h>). Default: 268435456 (256 MiB).
//                        Anything else is ignored.
//   LUMEN_NODE_FORK_SERVER  Set by a node for a job program it starts (the
//                        driver's executable, shipped to a node other than
//                        the driver's): hex of a ForkServerSettings message.
//                        ray::Init in that process then serves as the job's
//                        fork server on that node, never returning, instead
//                        of starting a driver. Default: unset (a driver).
//   LUMEN_WORKER_TCP_HOST  Set by a node of a cluster that spans machines for
//                        the workers it starts: they also listen on TCP at
//                        this address (the node's IP), so that processes on
//                        other nodes reach them. Default: unset (Unix only).
//   LUMEN_SCHEDULER_SPREAD_THRESHOLD  A node grants normal tasks' leases
//                        itself while its resource utilization is below this
//                        fraction (0 to 1), then spreads them to other nodes
//                        (Ray's scheduler_spread_threshold; 0: always spread,
//                        1: stay local while the node has room).
//                        Default: 0.5. Anything else is ignored.
//   LUMEN_TASK_EVENTS    "0": core workers record no task events (the state
//                        API's tasks, `lumen list tasks`, the ray_tasks
//                        metric stay empty). Default: on.
//   LUMEN_TASK_EVENTS_BUFFER  How many task events (1 to 10000000) a process
//                        keeps between two batches (one a second); more are
//                        dropped and counted. Default: 10000, Ray's batch
//                        (task_events_send_batch_size): what one process
//                        sends per second. Anything else is ignored.
//   LUMEN_TASK_EVENTS_MAX  How many task attempts (1 to 100000000) the
//                        control service keeps, all jobs together, the oldest
//                        dropped first (Ray's task_events_max_num_task_in_gcs).
//                        Default: 200000. Anything else is ignored.
//   LUMEN_TASK_EVENTS_MAX_PER_JOB  The same, per job. Default: 100000.
//   LUMEN_LOG_LEVEL      spdlog level of the session's log files (trace, debug,
//                        info, warn, err, critical, off). Default: info.
//
// Other variables are read where their owners define them: RAY_ADDRESS (the
// cluster to join, as in Ray) with ray::Init's other options, RAY_LOG_LEVEL by
// the public API's logging, CUDA_VISIBLE_DEVICES by GPU detection. Command-line
// flags of the programs and of ray::Init (--ray_address, ...) are parsed with
// those options, not here. LUMEN_ACTOR_DRIVER and LUMEN_TEST_KEY are the
// examples' and tests' own; the runtime never reads them.
//
// Threading: CurrentSettings() is a snapshot of the environment, taken when
// the process first asks and again at each ReloadSettings() (ray::Init calls
// it first thing, so a variable set before Init is heard; a forked child keeps
// its parent's). A snapshot is never freed: a reference to one stays valid
// while another thread reloads. Safe from any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

namespace lumen {

/// The variable a parent sets to hand a child process the cluster token.
inline constexpr char kClusterTokenVariable[] = "LUMEN_CLUSTER_TOKEN";
/// The variable a node sets to make a job's program its fork server there.
inline constexpr char kNodeForkServerVariable[] = "LUMEN_NODE_FORK_SERVER";
/// The variable a node sets for its workers when they must listen on TCP too.
inline constexpr char kWorkerTcpHostVariable[] = "LUMEN_WORKER_TCP_HOST";

struct Settings {
  std::string cluster_token;                     // LUMEN_CLUSTER_TOKEN; empty: unset
  std::string join_token;                        // LUMEN_TOKEN; empty: unset
  std::string tmpdir;                            // LUMEN_TMPDIR; empty: unset
  std::string bin_dir;                           // LUMEN_BIN_DIR; empty: beside the library
  bool exec_services = false;                    // LUMEN_EXEC_SERVICES=1
  bool lend_loop = true;                         // LUMEN_LEND_LOOP (0: off)
  int get_spin_us = 100;                         // LUMEN_GET_SPIN_US
  int64_t peer_timeout_ms = 0;                   // LUMEN_PEER_TIMEOUT_MS; 0: unset (the default applies)
  int64_t node_death_timeout_ms = 10000;         // LUMEN_NODE_DEATH_TIMEOUT_MS
  int64_t health_check_period_ms = 1000;         // LUMEN_HEALTH_CHECK_PERIOD_MS
  std::string log_level;                         // LUMEN_LOG_LEVEL; empty: info
  std::string node_fork_server;                  // LUMEN_NODE_FORK_SERVER; empty: unset
  std::string worker_tcp_host;                   // LUMEN_WORKER_TCP_HOST; empty: Unix socket only
  int64_t arg_cache_bytes = int64_t{256} << 20;  // LUMEN_ARG_CACHE_BYTES
  double spread_threshold = 0.5;                 // LUMEN_SCHEDULER_SPREAD_THRESHOLD
  bool task_events = true;                       // LUMEN_TASK_EVENTS (0: off)
  int64_t task_events_buffer = 10000;            // LUMEN_TASK_EVENTS_BUFFER
  int64_t task_events_max = 200000;              // LUMEN_TASK_EVENTS_MAX
  int64_t task_events_max_per_job = 100000;      // LUMEN_TASK_EVENTS_MAX_PER_JOB

  /// Parses the variables `lookup` returns (null: unset). A value that does
  /// not parse leaves the default.
  static Settings Parse(const std::function<const char *(const char *name)> &lookup);
  static Settings FromEnvironment();
};

/// The current snapshot (see the threading note above).
const Settings &CurrentSettings();

/// Takes a new snapshot of the environment.
void ReloadSettings();

}  // namespace lumen
