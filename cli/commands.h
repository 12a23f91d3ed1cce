// The `lumen` command's verbs (start, stop, status, list, get, summary, job, logs, timeline,
// memory), as Ray's `ray` CLI has them. main.cc parses the command line; each verb here returns the
// process's exit status: 0, 1 for a failure (after one line on stderr
// saying why), 2 for a bad value (the same, as CLI11 does for a bad flag).
//
// Threading: the main thread only; `status` and `start --address` run an
// rpc event loop of their own while they talk to the cluster.
#pragma once

#include <string>
#include <vector>

#include "api_runtime/runtime_config.h"
#include "protocol/control.pb.h"
#include "rpc/rpc.h"

namespace lumen::cli {

struct StartFlags {
  bool head = false;
  std::string address;  // --address: the cluster to join
  std::string token;    // --token
  std::string port = "6379";
  std::string num_cpus, num_gpus, resources, object_store_memory;
  std::string node_ip_address;
  std::string temp_dir;
  bool block = false;
  bool include_dashboard = true;             // a head's dashboard (lumen_dashboard)
  std::string dashboard_host = "127.0.0.1";  // loopback unless told otherwise
  int dashboard_port = -1;                   // -1: Ray's 8265, or any free port when it is taken
};

/// `lumen list <resource>` and `lumen get <resource> <id>`: Ray's state CLI
/// over the dashboard's state API (list.cc).
struct ListFlags {
  std::string resource;  // nodes, actors, jobs, placement-groups, tasks, workers, objects
  std::string id;        // get: the one to show
  std::string address;   // the cluster (as for status)
  std::string token;
  std::vector<std::string> filters;  // KEY=VALUE or KEY!=VALUE
  int limit = 100;
  bool detail = false;
  std::string format;  // table (list's default), json, yaml (get's default)
};

/// `lumen job ...`: Ray's Jobs CLI on the dashboard's Job Submission API (job.cc).
struct JobFlags {
  std::string address;  // the cluster (as for status), or the dashboard as http://HOST:PORT
  std::string token;
  std::string id;  // status, logs, stop, delete: the submission id
  // submit:
  std::vector<std::string> entrypoint;  // the command after `--`, run as this argv
  std::string working_dir, runtime_env_json, metadata_json, submission_id;
  std::string runtime_env_file;  // --runtime-env: runtime_env as a YAML file
  bool no_wait = false;          // submit, stop
  bool follow = false;           // logs
  std::string format;            // list: table (default) or json
};

int RunJobSubmit(const JobFlags &flags);
int RunJobStatus(const JobFlags &flags);
int RunJobLogs(const JobFlags &flags);
int RunJobStop(const JobFlags &flags);
int RunJobList(const JobFlags &flags);
int RunJobDelete(const JobFlags &flags);

/// `lumen logs`, `lumen timeline`, `lumen memory` (observe.cc).
struct ObserveFlags {
  std::string address;  // as for JobFlags
  std::string token;
  // logs:
  std::string filename;  // a log file (or part of its name); empty: list them
  std::string node_id;   // hex: that node's files only; empty: every node's
  long tail = 1000;      // lines; -1: all
  bool follow = false;
  // timeline:
  std::string output;  // the trace file (default: a new one in the temp folder)
  std::string job_id;  // hex; empty: every job
  // memory:
  std::string group_by = "NODE_ADDRESS";  // or OWNER
  std::string sort_by = "OBJECT_SIZE";    // or PID, REFERENCE_TYPE
  std::string units = "B";                // B, KB, MB, GB
  bool stats_only = false;
  int num_entries = -1;  // rows per group; -1: all
};

int RunLogs(const ObserveFlags &flags);
int RunTimeline(const ObserveFlags &flags);
int RunMemory(const ObserveFlags &flags);

int RunStart(const StartFlags &flags);
int RunList(const ListFlags &flags);
int RunGet(const ListFlags &flags);
/// `lumen summary tasks`: counts by function and state (Ray's `ray summary tasks`).
int RunSummary(const ListFlags &flags);
int RunStop(const std::string &temp_dir, bool force);
int RunStatus(const std::string &address, const std::string &token);

/// Prints "lumen <verb>: error: <message>" (one line) and returns `code`.
int Fail(const char *verb, const std::string &message, int code = 1);

/// The cluster token for `address` ("host:port"): `token` if given, else
/// LUMEN_TOKEN, else LUMEN_CLUSTER_TOKEN or the token of a head on this
/// machine that listens there.
StatusOr<std::string> TokenFor(const std::string &address, const std::string &token);

/// The cluster's control service address ("host:port"): `address_flag`,
/// else RAY_ADDRESS, else (or for "auto") the head `lumen start` started here.
StatusOr<std::string> ClusterAddress(const std::string &address_flag);

/// A connection to the control service at `address` ("host:port") that
/// proved `token`. The error says which of nothing listening, a server that
/// is not Lumen's, or a wrong token it met.
StatusOr<rpc::ConnectionPtr> ConnectControl(rpc::EventLoop &loop, const std::string &address,
                                            const std::string &token);

/// The node table of the control service at `address` ("host:port"): the
/// proof that a Lumen control service holding `token` answers there. The
/// error says which of nothing listening, a server that is not Lumen's, or
/// a wrong token it met.
StatusOr<proto::GetAllNodesReply> QueryNodes(const std::string &address, const std::string &token);

}  // namespace lumen::cli
